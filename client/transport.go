package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
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
// "repository:a/b:pull") and 429s, and retrying transient failures (a connection lost
// or refused, 502, 503, 504) with exponential backoff. A request whose body cannot be
// replayed (no GetBody) is sent once after authentication was established and never
// retried: the caller resumes it if it can (BlobPut does, from the session's offset).
func (c *Client) do(ctx context.Context, req *http.Request, scope string) (*http.Response, error) {
	req = req.WithContext(ctx)
	req.Header.Set("User-Agent", c.userAgent)
	host := req.URL.Host
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	triedToken, triedScope, retries, failures := false, false, 0, 0
	for {
		if req.URL.Scheme == "https" && isLoopback(host) && c.loopbackScheme(ctx, host) == "http" {
			req.URL.Scheme = "http"
		}
		c.auth.apply(req, host, scope)
		resp, err := c.http.Do(req)
		if err != nil {
			if !replayable || !transient(err) || failures >= c.retries {
				return nil, err
			}
			failures++
			if err := c.backoff(ctx, failures); err != nil {
				return nil, err
			}
			if err := rewind(req); err != nil {
				return nil, err
			}
			continue
		}
		switch resp.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if !replayable || failures >= c.retries {
				return resp, nil
			}
			drain(resp)
			failures++
			if err := c.backoff(ctx, failures); err != nil {
				return nil, err
			}
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
		if err := rewind(req); err != nil {
			return nil, err
		}
	}
}

// rewind makes req's body new for another attempt.
func rewind(req *http.Request) error {
	if req.Body == nil || req.Body == http.NoBody {
		return nil
	}
	if req.GetBody == nil {
		return fmt.Errorf("%s %s: cannot resend the body after authenticating", req.Method, req.URL)
	}
	body, err := req.GetBody()
	if err != nil {
		return err
	}
	req.Body = body
	return nil
}

// backoff waits before the n-th retry of a transient failure: base, 2×base, 4×base...
func (c *Client) backoff(ctx context.Context, n int) error {
	wait := c.backoffBase << (n - 1)
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(wait):
		return nil
	}
}

// transient reports whether a request failed in a way that may pass if tried again:
// the connection was refused (a registry restarting), reset or cut, or timed out. A
// cancelled context, a TLS or certificate problem, or a scheme mismatch will not pass.
func transient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, http.ErrSchemeMismatch) {
		return false
	}
	var ne net.Error
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || (errors.As(err, &ne) && ne.Timeout())
}

// transientStatus reports whether err is an answer a registry gives while it restarts
// or is overloaded behind a proxy.
func transientStatus(err error) bool {
	switch StatusCode(err) {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
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
