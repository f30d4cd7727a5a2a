// Package client is Berth's client for any OCI registry: it lists every tag of a
// repository however the registry paginates (Link headers as gitlab, ghcr.io and Docker Hub
// send them, n/last, Quay's opaque page tokens), pulls and pushes manifests and blobs, and
// speaks the Docker token protocol. It imports nothing of the Berth server.
package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Client talks to registries. It is safe for concurrent use.
type Client struct {
	http        *http.Client
	creds       CredentialFunc
	plainHTTP   func(host string) bool
	pageSize    int
	maxPages    int
	userAgent   string
	retries     int
	maxWait     time.Duration
	backoffBase time.Duration
	auth        *authCache
	schemes     sync.Map // loopback host → "http" or "https", as probed
}

// CredentialFunc returns the username and password for a registry host, if any.
type CredentialFunc func(host string) (user, pass string, ok bool)

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (its CheckRedirect is replaced so that credentials
// never follow a redirect to another host).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithCredentials sets where credentials come from.
func WithCredentials(f CredentialFunc) Option { return func(c *Client) { c.creds = f } }

// WithPlainHTTP makes the client use http:// for every host (for local registries).
// Without it, hosts on a loopback address (localhost, 127.0.0.0/8, ::1) are asked over
// HTTPS first and over plain HTTP when they answer HTTPS with HTTP, as crane does: a
// registry on the same machine is what people run without TLS.
func WithPlainHTTP(plain bool) Option {
	return func(c *Client) { c.plainHTTP = func(string) bool { return plain } }
}

// WithPlainHTTPHosts makes the client use http:// for the hosts (host[:port]) plain
// reports, and https:// for the others (loopback hosts still fall back to http://).
func WithPlainHTTPHosts(plain func(host string) bool) Option {
	return func(c *Client) { c.plainHTTP = plain }
}

// WithPageSize sets the n asked for when listing (default 1000).
func WithPageSize(n int) Option { return func(c *Client) { c.pageSize = n } }

// WithMaxPages bounds a listing: a registry that keeps linking to new pages beyond it is
// an error, not an endless loop (default 100,000).
func WithMaxPages(n int) Option { return func(c *Client) { c.maxPages = n } }

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// WithRetries sets how often a 429 is retried after its Retry-After and a transient
// failure after a backoff (default 3 each), and the longest Retry-After accepted
// (default 1 minute).
func WithRetries(n int, maxWait time.Duration) Option {
	return func(c *Client) { c.retries, c.maxWait = n, maxWait }
}

// WithBackoff sets the wait before the first retry of a transient failure; each
// further retry waits twice as long (default 500ms: 0.5s, 1s, 2s).
func WithBackoff(base time.Duration) Option { return func(c *Client) { c.backoffBase = base } }

// New returns a client.
func New(opts ...Option) *Client {
	c := &Client{
		http:        &http.Client{},
		creds:       func(string) (string, string, bool) { return "", "", false },
		plainHTTP:   func(string) bool { return false },
		pageSize:    1000,
		maxPages:    100_000,
		userAgent:   "berth-client",
		retries:     3,
		maxWait:     time.Minute,
		backoffBase: 500 * time.Millisecond,
		auth:        newAuthCache(),
	}
	for _, o := range opts {
		o(c)
	}
	h := *c.http
	h.CheckRedirect = stripCredentialsOnRedirect
	c.http = &h
	return c
}

// stripCredentialsOnRedirect drops Authorization when a redirect leaves the host that
// was asked (blob downloads are redirected to object storage, which must never see a
// registry's credentials). Go keeps it for subdomains; Berth does not.
func stripCredentialsOnRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return fmt.Errorf("stopped after 10 redirects")
	}
	if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
		req.Header.Del("Authorization")
	}
	return nil
}

// Repository names a repository on a registry host.
type Repository struct {
	Host string // host[:port]
	Name string // e.g. library/alpine
}

func (r Repository) String() string { return r.Host + "/" + r.Name }

// ParseRepository reads HOST/NAME, e.g. "ghcr.io/owner/repo" or "127.0.0.1:5000/a/b".
func ParseRepository(s string) (Repository, error) {
	host, name, ok := strings.Cut(s, "/")
	if !ok || host == "" || name == "" || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		return Repository{}, fmt.Errorf("%q is not HOST/REPOSITORY", s)
	}
	return Repository{Host: host, Name: name}, nil
}

// isLoopback reports whether host (host[:port]) names this machine.
func isLoopback(host string) bool {
	h := host
	if sh, _, err := net.SplitHostPort(host); err == nil {
		h = sh
	}
	h = strings.Trim(h, "[]")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// loopbackScheme returns the scheme a loopback host speaks: "https" unless an HTTPS
// request to it is answered in plain HTTP. It asks once per host and client.
func (c *Client) loopbackScheme(ctx context.Context, host string) string {
	if v, ok := c.schemes.Load(host); ok {
		return v.(string)
	}
	scheme := "https"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+"/v2/", nil)
	if err == nil {
		req.Header.Set("User-Agent", c.userAgent)
		resp, err := c.http.Do(req)
		switch {
		case err == nil:
			drain(resp)
		case errors.Is(err, http.ErrSchemeMismatch):
			scheme = "http"
		case ctx.Err() != nil:
			return scheme // decide nothing on a cancelled probe
		}
	}
	c.schemes.Store(host, scheme)
	return scheme
}

func (c *Client) baseURL(host string) string {
	if c.plainHTTP(host) {
		return "http://" + host
	}
	return "https://" + host
}
