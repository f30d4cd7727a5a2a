package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// refreshExpiry is the lifetime of a refresh token. docker login keeps it instead of the
// password, so it is long; it still dies early when the user's password changes, the
// user is removed, or the signing key is replaced.
const refreshExpiry = 30 * 24 * time.Hour

// refreshAudiencePrefix makes a refresh token's aud differ from every access token's, so
// one can never be used as the other.
const refreshAudiencePrefix = "berth-refresh:"

// Access is one entry of a token's access claim: the actions granted on one resource.
type Access struct {
	Type    string   `json:"type"`
	Class   string   `json:"class,omitempty"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// Claims are the claims of a verified access token.
type Claims struct {
	jwt.RegisteredClaims
	Access []Access `json:"access"`
}

// Allows reports whether the token grants action on the resource typ/name, e.g.
// ("repository", "team/app", "push") or ("registry", "catalog", "*"). A resource class
// (repository(plugin)) does not narrow the grant, as in Distribution; "*" among the
// granted actions grants every action.
func (c Claims) Allows(typ, name, action string) bool {
	for _, a := range c.Access {
		if a.Type == typ && a.Name == name && (slices.Contains(a.Actions, action) || slices.Contains(a.Actions, "*")) {
			return true
		}
	}
	return false
}

// Issuer signs Berth's tokens with an ECDSA P-256 key (ES256). Safe for concurrent use.
type Issuer struct {
	key     *ecdsa.PrivateKey
	kid     string
	name    string // iss
	service string // aud
	expiry  time.Duration
	now     func() time.Time
}

// NewIssuer returns an Issuer for the key and cfg (with defaults applied, see
// TokenConfig.WithDefaults). Tokens live cfg.Expiry, at least a minute: Docker clients
// treat anything shorter as a minute anyway.
func NewIssuer(key *ecdsa.PrivateKey, cfg TokenConfig) (*Issuer, error) {
	if key == nil {
		return nil, errors.New("token issuer: no key")
	}
	if cfg.Issuer == "" || cfg.Service == "" {
		return nil, errors.New("auth.token: issuer and service must be set")
	}
	if cfg.Expiry < time.Minute {
		return nil, fmt.Errorf("auth.token.expiry must be at least 1m, got %s", cfg.Expiry)
	}
	kid, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	return &Issuer{key: key, kid: kid, name: cfg.Issuer, service: cfg.Service, expiry: cfg.Expiry, now: time.Now}, nil
}

// Service is the service name, the aud of the tokens.
func (i *Issuer) Service() string { return i.service }

// KeyID is the kid of the tokens: the RFC 7638 thumbprint of the public key.
func (i *Issuer) KeyID() string { return i.kid }

// JWKS returns the public key as a JSON Web Key Set, for a registry elsewhere that is
// to trust Berth's tokens.
func (i *Issuer) JWKS() ([]byte, error) { return marshalJWKS(&i.key.PublicKey) }

// Trust is what a Verifier needs to accept this issuer's tokens.
func (i *Issuer) Trust() Trust {
	return Trust{Issuer: i.name, Audience: i.service, PublicKeys: []crypto.PublicKey{&i.key.PublicKey}}
}

// Issue signs an access token for subject (empty for anonymous) with the given access.
func (i *Issuer) Issue(subject string, access []Access) (string, error) {
	tok, _, err := i.issue(subject, access)
	return tok, err
}

// issue returns the token and the time it was issued at.
func (i *Issuer) issue(subject string, access []Access) (string, time.Time, error) {
	if access == nil {
		access = []Access{} // "access": [] rather than null, as Distribution writes it
	}
	now := i.now().Truncate(time.Second)
	// MapClaims rather than RegisteredClaims so aud is written as a single string, which
	// every consumer of Docker tokens understands (some older ones accept nothing else).
	claims := jwt.MapClaims{
		"iss":    i.name,
		"sub":    subject,
		"aud":    i.service,
		"exp":    now.Add(i.expiry).Unix(),
		"nbf":    now.Unix(),
		"iat":    now.Unix(),
		"jti":    rand.Text(),
		"access": access,
	}
	tok, err := i.sign(claims)
	return tok, now, err
}

func (i *Issuer) sign(claims jwt.MapClaims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = i.kid
	s, err := t.SignedString(i.key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// passwordTag ties a refresh token to the user's current password hash without
// revealing anything about it.
func passwordTag(hash []byte) string {
	sum := sha256.Sum256(append([]byte("berth refresh token\x00"), hash...))
	return b64().EncodeToString(sum[:16])
}

// issueRefresh signs a refresh token for a user with the tag of their password hash.
func (i *Issuer) issueRefresh(subject string, pwHash []byte) (string, error) {
	return i.issueBound(subject, refreshAudiencePrefix, pwHash, refreshExpiry)
}

// issueBound signs a token that names a user and is bound to their password: its aud
// (prefix + service) keeps it from ever being taken for an access token, and it is
// void once the password changes.
func (i *Issuer) issueBound(subject, audPrefix string, pwHash []byte, expiry time.Duration) (string, error) {
	now := i.now().Truncate(time.Second)
	return i.sign(jwt.MapClaims{
		"iss": i.name,
		"sub": subject,
		"aud": audPrefix + i.service,
		"exp": now.Add(expiry).Unix(),
		"nbf": now.Unix(),
		"iat": now.Unix(),
		"jti": rand.Text(),
		"pwd": passwordTag(pwHash),
	})
}

type refreshClaims struct {
	jwt.RegisteredClaims
	PasswordTag string `json:"pwd"`
}

// verifyRefresh checks a refresh token signed by this issuer and returns its subject,
// provided the user still exists with the same password.
func (i *Issuer) verifyRefresh(token string, users *Users) (Subject, error) {
	return i.verifyBound(token, refreshAudiencePrefix, users)
}

// verifyBound checks a token of issueBound with the audience prefix.
func (i *Issuer) verifyBound(token, audPrefix string, users *Users) (Subject, error) {
	if len(token) > maxTokenLen {
		return Subject{}, ErrInvalidToken
	}
	p := jwt.NewParser(jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(i.name),
		jwt.WithAudience(audPrefix+i.service), jwt.WithExpirationRequired(),
		jwt.WithLeeway(clockSkew), jwt.WithTimeFunc(i.now))
	var c refreshClaims
	_, err := p.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return &i.key.PublicKey, nil })
	if err != nil {
		return Subject{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if c.Subject == "" || !users.Exists(c.Subject) ||
		subtle.ConstantTimeCompare([]byte(c.PasswordTag), []byte(passwordTag(users.hash(c.Subject)))) != 1 {
		return Subject{}, fmt.Errorf("%w: user or password changed", ErrInvalidToken)
	}
	return Subject{Name: c.Subject}, nil
}
