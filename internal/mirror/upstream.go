package mirror

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/registry"
)

// upstream is one configured upstream registry and the client that talks to it.
type upstream struct {
	cfg    Config
	host   string // host[:port] as the client addresses it
	client *client.Client
}

func newUpstream(cfg Config, getenv func(string) string, m *metrics) (*upstream, error) {
	cfg = cfg.withDefaults()
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("mirror %s: url: %w", cfg.Prefix, err)
	}
	pass, err := cfg.password(getenv)
	if err != nil {
		return nil, err
	}
	tc, err := cfg.TLS.tlsConfig()
	if err != nil {
		return nil, fmt.Errorf("mirror %s: %w", cfg.Prefix, err)
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		ExpectContinueTimeout: time.Second,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	host := u.Host
	creds := func(h string) (string, string, bool) {
		if h != host || cfg.Username == "" {
			return "", "", false
		}
		return cfg.Username, pass, true
	}
	c := client.New(
		client.WithHTTPClient(&http.Client{Transport: counting{next: tr, upstream: cfg.Prefix, m: m}}),
		client.WithCredentials(creds),
		client.WithPlainHTTP(u.Scheme == "http"),
		// A 429 is not waited out: the cache serves what it has, or says so at once.
		client.WithRetries(0, 0),
		client.WithUserAgent("berth-mirror"),
	)
	return &upstream{cfg: cfg, host: host, client: c}, nil
}

// repository is the upstream's name for the cached repository name (under the prefix).
func (u *upstream) repository(name string) client.Repository {
	rest := strings.TrimPrefix(name, u.cfg.Prefix+"/")
	if u.cfg.Library && !strings.Contains(rest, "/") {
		rest = "library/" + rest
	}
	return client.Repository{Host: u.host, Name: rest}
}

// counting counts the requests sent to an upstream, by method and status, so an
// operator (and the benchmarks) see what the cache costs the upstream.
type counting struct {
	next     http.RoundTripper
	upstream string
	m        *metrics
}

func (c counting) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	code := "error"
	if err == nil {
		code = strconv.Itoa(resp.StatusCode)
	}
	c.m.upstreamRequests.WithLabelValues(c.upstream, r.Method, code).Inc()
	return resp, err
}

// upstreamError is an error of a call to an upstream, as opposed to one of the store.
type upstreamError struct{ err error }

func (e *upstreamError) Error() string { return e.err.Error() }
func (e *upstreamError) Unwrap() error { return e.err }

// failure says what an error means for the cache: notFound when the upstream answered
// that the content does not exist (the cache must not serve a copy); else, for an
// upstream's failure, registry.ErrUpstreamLimited (429) or ErrUnavailable (anything
// else: unreachable, timeout, 5xx, refused credentials) with the cause in the message.
// Other errors (of the store) come back as they are.
func failure(u *upstream, err error) (notFound bool, _ error) {
	var ue *upstreamError
	if !errors.As(err, &ue) {
		return false, err
	}
	err = ue.err
	status := client.StatusCode(err)
	var ne net.Error
	var ae *client.AuthError
	switch {
	case errors.As(err, &ae):
		// Refused or missing credentials; Docker Hub also answers so for a repository
		// that does not exist. Either way nothing to serve but what is stored.
		return false, fmt.Errorf("%w: %s (%s): %s", registry.ErrUnavailable, u.cfg.Prefix, u.host, ae)
	case status == http.StatusNotFound:
		return true, err
	case status == http.StatusTooManyRequests:
		return false, fmt.Errorf("%w: %s (%s) answered 429 Too Many Requests", registry.ErrUpstreamLimited, u.cfg.Prefix, u.host)
	case status != 0:
		return false, fmt.Errorf("%w: %s (%s) answered %d %s", registry.ErrUnavailable, u.cfg.Prefix, u.host, status, http.StatusText(status))
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return false, fmt.Errorf("%w: %s (%s) did not answer within %s", registry.ErrUnavailable, u.cfg.Prefix, u.host, u.cfg.Timeout)
	}
	return false, fmt.Errorf("%w: %s (%s): %s", registry.ErrUnavailable, u.cfg.Prefix, u.host, reason(err))
}

// reason is the innermost message of a network error: "connection refused" rather than
// the whole chain with URLs, which could carry a token in a query.
func reason(err error) string {
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return oe.Op + ": " + oe.Err.Error()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
