// Package auth is Berth's access control: users (htpasswd and config, bcrypt only), access
// rules, the Docker token service, ES256 token signing and verification of tokens from
// this or an external issuer, and the WWW-Authenticate challenge. It is a library: it
// does not route requests, read Berth's configuration file or keep global state; the
// server wires it. It imports nothing of Berth but the OCI name grammar.
package auth

import (
	"fmt"
	"net/url"
	"os"
	"time"
)

// DefaultTokenExpiry is how long an access token lives when auth.token.expiry is not
// set: the Docker default, long enough for a layer push to start, short enough that a
// revoked grant does not linger.
const DefaultTokenExpiry = 5 * time.Minute

// DefaultIssuer is the iss claim of Berth's tokens when auth.token.issuer is not set.
const DefaultIssuer = "berth"

// Config is the auth: section of Berth's configuration. Auth is on when it declares any
// user (htpasswd or users) or an external issuer; with none of them Berth is open.
type Config struct {
	// Htpasswd is the path of an htpasswd file whose entries are all bcrypt
	// (`htpasswd -B`); other hash types are refused at start.
	Htpasswd string `yaml:"htpasswd"`
	// Users are users declared in the configuration itself, besides the htpasswd file.
	Users []UserConfig `yaml:"users"`
	// Groups maps a group name to the user names in it; rules name groups as group:NAME.
	Groups map[string][]string `yaml:"groups"`
	// Rules grant actions on repositories to subjects. With no rules every authenticated
	// user may pull, push and delete everything and anonymous callers nothing.
	Rules []Rule `yaml:"rules"`
	// Admins are the subjects (user names, group:NAME, authenticated) with the admin
	// right: they may delete an immutable tag with an explicit override
	// (docs/lifecycle.md). Nobody has it by default.
	Admins []string `yaml:"admins"`
	// Token configures the token service and the tokens Berth signs.
	Token TokenConfig `yaml:"token"`
	// External trusts the tokens of another issuer (an identity provider) as well.
	External ExternalConfig `yaml:"external"`
}

// UserConfig is one user declared in the configuration.
type UserConfig struct {
	// Name is the user name given to docker login.
	Name string `yaml:"name"`
	// PasswordHash is a bcrypt hash ($2y$, $2a$ or $2b$), e.g. from `htpasswd -nB NAME`.
	PasswordHash string `yaml:"password_hash"`
	// Groups are groups the user belongs to, in addition to those of auth.groups.
	Groups []string `yaml:"groups"`
}

// TokenConfig configures the token service.
type TokenConfig struct {
	// Issuer is the iss claim of the tokens Berth signs (default "berth").
	Issuer string `yaml:"issuer"`
	// Expiry is the lifetime of an access token (default 5m, at least 1m).
	Expiry time.Duration `yaml:"expiry"`
	// KeyFile is the PEM file of the ECDSA P-256 signing key; it is created (mode 0600)
	// on first start when missing. Empty: the caller's default under the data directory.
	KeyFile string `yaml:"key_file"`
	// Realm is the token endpoint URL sent in challenges (default <public_url>/token;
	// empty with no public_url: derived from each request).
	Realm string `yaml:"realm"`
	// Service is the service name of challenges and the aud claim (default: the host of
	// public_url, or "berth").
	Service string `yaml:"service"`
}

// ExternalConfig trusts tokens signed by another issuer. Issuer and audience are
// required, and exactly one source of keys.
type ExternalConfig struct {
	// Issuer is the iss claim the external tokens carry.
	Issuer string `yaml:"issuer"`
	// Audience is the aud claim they must carry (usually Berth's service name).
	Audience string `yaml:"audience"`
	// PublicKeyFile is a PEM file of the issuer's public key(s) or certificate(s).
	PublicKeyFile string `yaml:"public_key_file"`
	// JWKSFile is a JSON Web Key Set file of the issuer's keys.
	JWKSFile string `yaml:"jwks_file"`
	// JWKSURL is a JSON Web Key Set URL, fetched with a timeout and cached.
	JWKSURL string `yaml:"jwks_url"`
}

// Enabled reports whether the configuration turns authentication on.
func (c Config) Enabled() bool {
	return c.Htpasswd != "" || len(c.Users) > 0 || c.External.Issuer != ""
}

// WithDefaults returns t with its empty options filled in; publicURL is Berth's
// public_url, possibly empty.
func (t TokenConfig) WithDefaults(publicURL string) TokenConfig {
	if t.Issuer == "" {
		t.Issuer = DefaultIssuer
	}
	if t.Expiry == 0 {
		t.Expiry = DefaultTokenExpiry
	}
	u, err := url.Parse(publicURL)
	if publicURL != "" && err == nil && u.Host != "" {
		if t.Realm == "" {
			t.Realm = u.Scheme + "://" + u.Host + "/token"
		}
		if t.Service == "" {
			t.Service = u.Host
		}
	}
	if t.Service == "" {
		t.Service = DefaultIssuer
	}
	return t
}

// Enabled reports whether an external issuer is configured.
func (e ExternalConfig) Enabled() bool { return e.Issuer != "" }

// Validate reports the first option of c that cannot work, without reading any file;
// the constructors check the rest (hashes, rules, keys) when they load them.
func (c Config) Validate() error {
	if c.Token.Expiry != 0 && c.Token.Expiry < time.Minute {
		return fmt.Errorf("auth.token.expiry must be at least 1m, got %s", c.Token.Expiry)
	}
	if c.Token.Realm != "" {
		u, err := url.Parse(c.Token.Realm)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("auth.token.realm must be an absolute http(s) URL, got %q", c.Token.Realm)
		}
	}
	if c.External != (ExternalConfig{}) {
		return c.External.validate()
	}
	return nil
}

func (e ExternalConfig) validate() error {
	sources := 0
	for _, s := range []string{e.PublicKeyFile, e.JWKSFile, e.JWKSURL} {
		if s != "" {
			sources++
		}
	}
	switch {
	case e.Issuer == "" || e.Audience == "":
		return fmt.Errorf("auth.external: issuer and audience are both required")
	case sources != 1:
		return fmt.Errorf("auth.external: give exactly one of public_key_file, jwks_file and jwks_url")
	}
	return nil
}

// Trust reads the configured keys of the external issuer into a Trust for NewVerifier.
func (e ExternalConfig) Trust() (Trust, error) {
	if err := e.validate(); err != nil {
		return Trust{}, err
	}
	t := Trust{Issuer: e.Issuer, Audience: e.Audience, JWKSURL: e.JWKSURL}
	if e.PublicKeyFile != "" {
		data, err := os.ReadFile(e.PublicKeyFile)
		if err == nil {
			t.PublicKeys, err = ParsePublicKeysPEM(data)
		}
		if err != nil {
			return Trust{}, fmt.Errorf("auth.external.public_key_file: %w", err)
		}
	}
	if e.JWKSFile != "" {
		var err error
		if t.JWKS, err = os.ReadFile(e.JWKSFile); err != nil {
			return Trust{}, fmt.Errorf("auth.external.jwks_file: %w", err)
		}
	}
	return t, nil
}
