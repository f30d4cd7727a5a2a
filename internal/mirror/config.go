package mirror

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/oci"
)

// Defaults of an upstream's options left at zero.
const (
	DefaultTagTTL  = 5 * time.Minute
	DefaultTimeout = 10 * time.Second
)

// Config is one upstream of the pull-through cache: the repositories under Prefix in
// Berth are copies of the upstream's. It is the type of each entry of the `mirrors:`
// list of Berth's configuration (docs/mirror.md).
type Config struct {
	// Prefix is the first path component(s) of the cached repositories in Berth, e.g.
	// "hub": hub/library/alpine is library/alpine on the upstream.
	Prefix string `yaml:"prefix"`
	// URL is the upstream registry's base URL, https://HOST[:PORT] or http:// for a
	// registry on a trusted network; no path, no credentials.
	URL string `yaml:"url"`
	// Library maps one-segment names to library/NAME on the upstream, as Docker Hub
	// names its official images (hub/alpine → library/alpine).
	Library bool `yaml:"library"`
	// Username is the user Berth logs in to the upstream as; empty: anonymous.
	Username string `yaml:"username"`
	// PasswordFile is a file holding the password (or token) of Username; surrounding
	// white space is ignored. The password is read at start and never logged.
	PasswordFile string `yaml:"password_file"`
	// PasswordEnv names an environment variable holding the password instead.
	PasswordEnv string `yaml:"password_env"`
	// TagTTL is how long a tag is served from the cache before the upstream is asked
	// again (with a HEAD, which registries do not count against pull limits); 0: 5m.
	TagTTL time.Duration `yaml:"tag_ttl"`
	// Timeout bounds connecting to the upstream, its answer to a request, and each
	// stall of a blob transfer; 0: 10s.
	Timeout time.Duration `yaml:"timeout"`
	// TLS configures the connection to an https upstream.
	TLS TLS `yaml:"tls"`
}

// TLS holds the TLS options of an upstream.
type TLS struct {
	// CAFile is a PEM file of the certificate authorities to trust instead of the
	// system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate and key, for upstreams that ask
	// for one.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify accepts any certificate (testing only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

func (c Config) withDefaults() Config {
	if c.TagTTL == 0 {
		c.TagTTL = DefaultTagTTL
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	c.Prefix = strings.Trim(c.Prefix, "/")
	return c
}

// Validate reports every problem of a list of upstreams, one error each (joined),
// without reading any file: prefixes must be repository names, distinct, and none inside
// another; URLs must be http or https with a host and nothing else.
func Validate(cs []Config) error {
	var errs []error
	bad := func(cond bool, format string, args ...any) {
		if cond {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	for i, c := range cs {
		c = c.withDefaults()
		where := fmt.Sprintf("mirrors[%d]", i)
		bad(!oci.ValidRepository(c.Prefix), "%s.prefix %q is not a repository name prefix", where, c.Prefix)
		u, err := url.Parse(c.URL)
		bad(err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "",
			"%s.url must be an http or https URL with a host and no path, got %q", where, redact(c.URL))
		bad(err == nil && u.User != nil, "%s.url must not carry credentials: use username and password_file or password_env", where)
		bad(c.PasswordFile != "" && c.PasswordEnv != "", "%s: password_file and password_env exclude each other", where)
		bad((c.PasswordFile != "" || c.PasswordEnv != "") && c.Username == "", "%s: a password needs a username", where)
		bad(c.TagTTL < 0, "%s.tag_ttl must not be negative, got %s", where, c.TagTTL)
		bad(c.Timeout < 0, "%s.timeout must not be negative, got %s", where, c.Timeout)
		bad((c.TLS.CertFile == "") != (c.TLS.KeyFile == ""), "%s: tls.cert_file and tls.key_file must be given together", where)
		for j, o := range cs[:i] {
			p, q := c.Prefix, o.withDefaults().Prefix
			bad(p == q || strings.HasPrefix(p, q+"/") || strings.HasPrefix(q, p+"/"), "%s.prefix %q overlaps mirrors[%d].prefix %q", where, p, j, q)
		}
	}
	return errors.Join(errs...)
}

// redact hides the password of a URL in messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// password reads the upstream's password from its file or variable ("" for none).
func (c Config) password(getenv func(string) string) (string, error) {
	switch {
	case c.PasswordFile != "":
		raw, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("mirror %s: read password file: %w", c.Prefix, err)
		}
		return strings.TrimSpace(string(raw)), nil
	case c.PasswordEnv != "":
		v := getenv(c.PasswordEnv)
		if v == "" {
			return "", fmt.Errorf("mirror %s: environment variable %s is empty or not set", c.Prefix, c.PasswordEnv)
		}
		return v, nil
	}
	return "", nil
}

// tlsConfig builds the TLS client configuration, reading the files it names.
func (t TLS) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // an operator's explicit choice
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("tls.ca_file holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
