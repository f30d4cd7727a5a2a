package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestBasicPassthrough(t *testing.T) {
	a := NewAuthenticator(testUsers(t), Limit{}, nil)
	tests := []struct {
		name, header string
		sub          string
		err          error
	}{
		{"none is anonymous", "", "", nil},
		{"good", basicHeader("bob", "bob-pw"), "bob", nil},
		{"wrong", basicHeader("bob", "x"), "", ErrBadCredentials},
		{"unknown", basicHeader("zed", "bob-pw"), "", ErrBadCredentials},
		{"password with colon", basicHeader("bob", "bob-pw:"), "", ErrBadCredentials},
		{"bearer", "Bearer abc", "", ErrBadCredentials},
		{"malformed", "Basic !!!", "", ErrBadCredentials},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/v2/", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		s, err := a.Basic(r)
		if !errors.Is(err, tt.err) || s.Name != tt.sub {
			t.Errorf("%s: %q, %v; want %q, %v", tt.name, s.Name, err, tt.sub, tt.err)
		}
	}
}

func basicHeader(user, pw string) string {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(user, pw)
	return r.Header.Get("Authorization")
}

func TestTokenRateLimitsFailedLogins(t *testing.T) {
	f := newTokenFixture(t)
	clock := &fixedClock{time.Now()}
	f.auth.limit.now = clock.now
	get := func(addr, user, pw string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/token?scope=repository:library/a:pull", nil)
		r.RemoteAddr = addr
		if user != "" {
			r.SetBasicAuth(user, pw)
		}
		w := httptest.NewRecorder()
		f.svc.ServeHTTP(w, r)
		return w
	}
	const attacker, neighbour = "203.0.113.7:5555", "203.0.113.8:5555"
	for i := range DefaultMaxFailures {
		if w := get(attacker, "alice", fmt.Sprint("guess", i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, w.Code)
		}
	}
	clock.advance(20 * time.Second)
	w := get("203.0.113.7:6666", "alice", "alice-pw") // another port of the same host
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "40" ||
		!strings.Contains(w.Body.String(), `"code":"TOOMANYREQUESTS"`) {
		t.Fatalf("blocked client with the right password: %d %q %s", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	// Refresh tokens and the OAuth2 form are limited alike.
	r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = attacker
	w = httptest.NewRecorder()
	f.svc.ServeHTTP(w, r)
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("POST while blocked: %d", w.Code)
	}
	if w := get(attacker, "", ""); w.Code != http.StatusOK {
		t.Fatalf("anonymous request of a blocked client: %d", w.Code)
	}
	if w := get(neighbour, "alice", "alice-pw"); w.Code != http.StatusOK {
		t.Fatalf("another client: %d", w.Code)
	}
	clock.advance(40 * time.Second)
	if w := get(attacker, "alice", "alice-pw"); w.Code != http.StatusOK {
		t.Fatalf("after the window: %d %s", w.Code, w.Body)
	}
}

func TestRefreshFailuresCount(t *testing.T) {
	f := newTokenFixture(t)
	for range DefaultMaxFailures {
		f.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"forged"}})
	}
	if rep := f.post(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}); rep.status != http.StatusTooManyRequests {
		t.Fatalf("status %d after %d forged refresh tokens", rep.status, DefaultMaxFailures)
	}
}

func TestClientKey(t *testing.T) {
	tests := map[string]string{
		"192.0.2.1:80":                 "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443":   "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1]:1":     "2001:db8:1:2::/64",
		"[::ffff:192.0.2.1]:80":        "192.0.2.1",
		"unix-socket":                  "unix-socket",
		"[fe80::1%eth0]:80":            "fe80::/64",
		"2001:db8::1":                  "2001:db8::/64",
		"203.0.113.9":                  "203.0.113.9",
		"[2001:db8:aaaa:bbbb::9]:5000": "2001:db8:aaaa:bbbb::/64",
	}
	for addr, want := range tests {
		if got := clientKey(peerAddr(&http.Request{RemoteAddr: addr})); got != want {
			t.Errorf("clientKey(peerAddr(%q)) = %q, want %q", addr, got, want)
		}
	}
}

// Behind a trusted proxy the server says who the client is; the limit follows it.
func TestLimitUsesGivenClientAddr(t *testing.T) {
	a := NewAuthenticator(testUsers(t), Limit{MaxFailures: 2, ClientAddr: func(r *http.Request) string {
		return r.Header.Get("X-Test-Client")
	}}, nil)
	try := func(client, pw string) error {
		r := httptest.NewRequest(http.MethodGet, "/v2/", nil) // all from the proxy's address
		r.Header.Set("X-Test-Client", client)
		r.SetBasicAuth("bob", pw)
		_, err := a.Basic(r)
		return err
	}
	_ = try("2001:db8::1", "x")
	_ = try("2001:db8::2", "y") // same /64
	var rle *RateLimitError
	if err := try("2001:db8::3", "bob-pw"); !errors.As(err, &rle) || rle.RetryAfterSeconds() != 60 {
		t.Fatalf("third attempt from the /64: %v", err)
	}
	if err := try("192.0.2.1", "bob-pw"); err != nil {
		t.Fatalf("another client behind the same proxy: %v", err)
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	l := newLimiter(3, time.Minute)
	for i := range maxTrackedClients + 500 {
		l.fail(fmt.Sprint("client-", i))
	}
	if n := len(l.clients); n > maxTrackedClients {
		t.Fatalf("%d clients tracked", n)
	}
	// Windows that ended are forgotten first.
	clock := &fixedClock{time.Now().Add(2 * time.Minute)}
	l.now = clock.now
	l.fail("late")
	if n := len(l.clients); n != 1 {
		t.Fatalf("%d clients after every window ended", n)
	}
}
