package auth

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// RateLimitError is returned instead of a password check while a client has too many
// recent failures; the HTTP layer answers 429 with Retry-After.
type RateLimitError struct {
	RetryAfter time.Duration
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("too many failed logins; retry in %s", e.RetryAfter.Round(time.Second))
}

// RetryAfterSeconds is the Retry-After header value: whole seconds, rounded up.
func (e *RateLimitError) RetryAfterSeconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

// Authenticator checks passwords against Users and limits failed attempts per client.
// The token service uses it, and the HTTP layer can call Basic to accept
// `Authorization: Basic` directly. Safe for concurrent use.
type Authenticator struct {
	users      *Users
	limit      *limiter
	clientAddr func(*http.Request) string
	obs        Observer
}

// Observer learns of the logins and tokens that the Authenticator and the token service
// decide, for the audit log. client is the client's address; method is how the
// credentials came: "basic" (an Authorization header), "password" (the OAuth2 form) or
// "refresh_token". Its methods must return quickly.
type Observer interface {
	// LoginSucceeded: the token service accepted user's credentials.
	LoginSucceeded(ctx context.Context, client, user, method string)
	// LoginFailed: credentials were refused (user as the client gave it, maybe "").
	// Clients refused while rate limited are not reported: they were not checked.
	LoginFailed(ctx context.Context, client, user, method, reason string)
	// TokenIssued: the token service issued user ("" anonymous) a token granting access.
	TokenIssued(ctx context.Context, client, user string, access []Access, expires time.Time)
}

// noObserver observes nothing.
type noObserver struct{}

func (noObserver) LoginSucceeded(context.Context, string, string, string)           {}
func (noObserver) LoginFailed(context.Context, string, string, string, string)      {}
func (noObserver) TokenIssued(context.Context, string, string, []Access, time.Time) {}

// Limit configures the failed-login limiter of an Authenticator; the zero Limit is 10
// failures a minute per client, the client being the peer address.
type Limit struct {
	// MaxFailures is how many failed logins a client may have in Window before it is
	// refused (429) until the window ends.
	MaxFailures int
	Window      time.Duration
	// ClientAddr returns the IP address of a request's client; behind a trusted proxy
	// the server passes its own, which reads X-Forwarded-For. nil: the peer address.
	ClientAddr func(*http.Request) string
}

// NewAuthenticator returns an Authenticator for users with the given limit; obs (nil:
// none) learns of failed logins here and of logins and tokens at the token service.
func NewAuthenticator(users *Users, limit Limit, obs Observer) *Authenticator {
	a := &Authenticator{users: users, limit: newLimiter(limit.MaxFailures, limit.Window), clientAddr: limit.ClientAddr, obs: obs}
	if a.clientAddr == nil {
		a.clientAddr = peerAddr
	}
	if a.obs == nil {
		a.obs = noObserver{}
	}
	return a
}

// client is the key failures of r are counted under.
func (a *Authenticator) client(r *http.Request) string { return clientKey(a.clientAddr(r)) }

// Users returns the users the Authenticator checks against.
func (a *Authenticator) Users() *Users { return a.users }

// Basic authenticates a request's `Authorization: Basic` credentials. A request with no
// Authorization header is the anonymous Subject and no error; any other scheme, or
// malformed credentials, is ErrBadCredentials (so check for Bearer first). While the
// client is limited the error is a *RateLimitError.
func (a *Authenticator) Basic(r *http.Request) (Subject, error) {
	if r.Header.Get("Authorization") == "" {
		return Subject{}, nil
	}
	name, password, ok := r.BasicAuth()
	if !ok {
		client := a.client(r)
		if err := a.check(client); err != nil {
			return Subject{}, err
		}
		a.limit.fail(client)
		a.obs.LoginFailed(r.Context(), a.clientAddr(r), "", "basic", "malformed credentials")
		return Subject{}, ErrBadCredentials
	}
	return a.password(r, "basic", name, password)
}

// Password authenticates name and password sent by r's client (the OAuth2 form, or any
// other place credentials come from), counting a failure against that client.
func (a *Authenticator) Password(r *http.Request, name, password string) (Subject, error) {
	return a.password(r, "password", name, password)
}

func (a *Authenticator) password(r *http.Request, method, name, password string) (Subject, error) {
	client := a.client(r)
	if err := a.check(client); err != nil {
		return Subject{}, err
	}
	s, err := a.users.Authenticate(name, password)
	if err != nil {
		a.limit.fail(client)
		a.obs.LoginFailed(r.Context(), a.clientAddr(r), name, method, "incorrect username or password")
	}
	return s, err
}

// check returns a *RateLimitError while client is limited.
func (a *Authenticator) check(client string) error {
	if wait, blocked := a.limit.blocked(client); blocked {
		return &RateLimitError{RetryAfter: wait}
	}
	return nil
}

// peerAddr is the IP address of the peer of r.
func peerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clientKey is the key failures of the client at addr are counted under: the address,
// or its /64 for IPv6 since one host usually owns a whole /64 and could otherwise
// rotate addresses to escape the limit.
func clientKey(addr string) string {
	ip, err := netip.ParseAddr(strings.Trim(addr, "[]"))
	if err != nil {
		return addr
	}
	ip = ip.WithZone("").Unmap()
	if ip.Is6() {
		return netip.PrefixFrom(ip, 64).Masked().String()
	}
	return ip.String()
}
