package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/client/internal/httphdr"
)

// Error is an unexpected answer from a registry.
type Error struct {
	Method, URL string
	Status      int
	Codes       []string // OCI error codes of the body, if any
	Message     string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// StatusCode returns the HTTP status of err if it is an *Error (401 for an *AuthError),
// else 0.
func StatusCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	var ae *AuthError
	if errors.As(err, &ae) {
		return http.StatusUnauthorized
	}
	return 0
}

// do sends req, answering authentication challenges for scope (e.g.
// "repository:a/b:pull") and 429s. A request whose body cannot be replayed (no GetBody)
// is sent once after authentication was established.
func (c *Client) do(ctx context.Context, req *http.Request, scope string) (*http.Response, error) {
	req = req.WithContext(ctx)
	req.Header.Set("User-Agent", c.userAgent)
	host := req.URL.Host
	if req.URL.Scheme == "https" && isLoopback(host) && c.loopbackScheme(ctx, host) == "http" {
		req.URL.Scheme = "http"
	}
	triedToken, triedScope, retries := false, false, 0
	for {
		c.auth.apply(req, host, scope)
		resp, err := c.http.Do(req)
		if err != nil {
			return nil, err
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized:
			ch, ok := bestChallenge(resp)
			drain(resp)
			if !ok {
				return nil, &Error{Method: req.Method, URL: req.URL.String(), Status: resp.StatusCode, Message: "no usable WWW-Authenticate challenge"}
			}
			retryScope := scope
			switch {
			case ch.Params["error"] == "insufficient_scope" && !triedScope:
				// One retry with the scope the registry says it needs, then give up.
				triedScope = true
				if s := ch.Params["scope"]; s != "" {
					retryScope = s
				}
			case ch.Params["error"] == "insufficient_scope":
				user, _, _ := c.creds(host)
				return nil, &AuthError{Host: host, User: user, Scope: scope}
			case triedToken:
				// Credentials were sent and the same challenge came back: Basic refused
				// them, or the token they bought does not open this door.
				user, _, haveCreds := c.creds(host)
				return nil, &AuthError{Host: host, User: user, Scope: scope, Refused: haveCreds && ch.Scheme == "basic"}
			}
			triedToken = true
			if err := c.authenticate(ctx, host, scope, retryScope, ch); err != nil {
				return nil, err
			}
		case http.StatusTooManyRequests:
			wait, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now())
			drain(resp)
			if !ok || retries >= c.retries || wait > c.maxWait {
				return nil, &Error{Method: req.Method, URL: req.URL.String(), Status: resp.StatusCode, Message: "rate limited"}
			}
			retries++
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(wait):
			}
		default:
			return resp, nil
		}
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, fmt.Errorf("%s %s: cannot resend the body after authenticating", req.Method, req.URL)
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req.Body = body
		}
	}
}

// bestChallenge prefers Bearer over Basic.
func bestChallenge(resp *http.Response) (httphdr.Challenge, bool) {
	var basic *httphdr.Challenge
	chs := httphdr.ParseChallenges(resp.Header.Values("WWW-Authenticate"))
	for i, ch := range chs {
		switch ch.Scheme {
		case "bearer":
			return ch, true
		case "basic":
			basic = &chs[i]
		}
	}
	if basic != nil {
		return *basic, true
	}
	return httphdr.Challenge{}, false
}

// retryAfter reads Retry-After as seconds or an HTTP date; a missing header means one
// second.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	if h == "" {
		return time.Second, true
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

// expect turns an answer other than one of the wanted statuses into an *Error, reading
// the OCI error body; the caller must close resp on success.
func expect(resp *http.Response, want ...int) error {
	for _, w := range want {
		if resp.StatusCode == w {
			return nil
		}
	}
	defer resp.Body.Close()
	e := &Error{Method: resp.Request.Method, URL: resp.Request.URL.String(), Status: resp.StatusCode}
	var body struct {
		Errors []struct{ Code, Message string } `json:"errors"`
	}
	if err := decodeJSON(io.LimitReader(resp.Body, 64<<10), &body); err == nil {
		for _, x := range body.Errors {
			e.Codes = append(e.Codes, x.Code)
			if e.Message == "" {
				e.Message = x.Code + ": " + x.Message
			}
		}
	}
	return e
}
