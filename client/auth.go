package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/berth-registry/berth/client/internal/httphdr"
)

// authCache remembers, per host, how it authenticates (Basic) and the bearer tokens
// obtained per (host, scope) until they expire.
type authCache struct {
	mu     sync.Mutex
	basic  map[string]string // host → "Basic ..."
	tokens map[string]token  // host + " " + scope → token
}

type token struct {
	value   string
	expires time.Time
}

func newAuthCache() *authCache {
	return &authCache{basic: map[string]string{}, tokens: map[string]token{}}
}

// apply sets the Authorization a host is known to want for scope, if any.
func (a *authCache) apply(req *http.Request, host, scope string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if t, ok := a.tokens[host+" "+scope]; ok && time.Now().Before(t.expires) {
		req.Header.Set("Authorization", "Bearer "+t.value)
		return
	}
	if b, ok := a.basic[host]; ok {
		req.Header.Set("Authorization", b)
		return
	}
	req.Header.Del("Authorization")
}

// authenticate answers a challenge: Basic credentials are remembered for the host; for
// Bearer a token is fetched from the realm for tokenScope and cached under scope.
func (c *Client) authenticate(ctx context.Context, host, scope, tokenScope string, ch httphdr.Challenge) error {
	user, pass, haveCreds := c.creds(host)
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
	if ch.Scheme == "basic" {
		if !haveCreds {
			return &AuthError{Host: host, Scope: scope}
		}
		c.auth.mu.Lock()
		c.auth.basic[host] = basic
		c.auth.mu.Unlock()
		return nil
	}
	realm := ch.Params["realm"]
	ru, err := url.Parse(realm)
	if err != nil || (ru.Scheme != "https" && ru.Scheme != "http") || ru.Host == "" {
		return fmt.Errorf("%s: token realm %q is not a URL", host, realm)
	}
	q := ru.Query()
	if s := ch.Params["service"]; s != "" {
		q.Set("service", s)
	}
	for _, s := range strings.Fields(tokenScope) {
		q.Add("scope", s)
	}
	ru.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ru.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", c.userAgent)
	if haveCreds {
		// The realm asked for credentials on behalf of host: they go to the realm only
		// because host named it in its challenge.
		req.Header.Set("Authorization", basic)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("token request to %s: %w", ru.Host, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusUnauthorized && haveCreds:
		return &AuthError{Host: host, User: user, Scope: scope, Refused: true}
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return &AuthError{Host: host, User: user, Scope: scope}
	case resp.StatusCode != http.StatusOK:
		return &Error{Method: "GET", URL: ru.Scheme + "://" + ru.Host + ru.Path, Status: resp.StatusCode,
			Message: "the token service of " + host + " failed"}
	}
	var tr struct {
		Token       string `json:"token"`
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	if err := decodeJSON(io.LimitReader(resp.Body, 1<<20), &tr); err != nil {
		return fmt.Errorf("token from %s: %w", ru.Host, err)
	}
	value := tr.Token
	if value == "" {
		value = tr.AccessToken
	}
	if value == "" {
		return fmt.Errorf("token from %s: empty", ru.Host)
	}
	ttl := time.Duration(tr.ExpiresIn) * time.Second
	if ttl < time.Minute {
		ttl = time.Minute // the spec's minimum
	}
	c.auth.mu.Lock()
	// A little early, so a token is never sent in its last seconds.
	c.auth.tokens[host+" "+scope] = token{value: value, expires: time.Now().Add(ttl - 10*time.Second)}
	c.auth.mu.Unlock()
	return nil
}

// AuthError is a registry declining to authenticate a request: it refused the
// credentials themselves (Refused), or it wants credentials the client has none of
// (User empty), or the user it knows may not do what was asked. Every way a registry
// says so (Basic or a token service, 401 or insufficient_scope) comes out as this one
// error, so a caller can say it in one sentence.
type AuthError struct {
	Host    string // the registry
	User    string // the user name sent; empty when the client had no credentials
	Scope   string // what was asked, e.g. "repository:a/b:pull"; empty for a login check
	Refused bool   // the registry or its token service rejected the user name or password
}

func (e *AuthError) Error() string {
	what := describeScope(e.Scope)
	switch {
	case e.Refused:
		return fmt.Sprintf("%s refused the password of user %q", e.Host, e.User)
	case e.User == "" && what == "":
		return fmt.Sprintf("%s requires credentials", e.Host)
	case e.User == "":
		return fmt.Sprintf("%s requires credentials to %s", e.Host, what)
	case what == "":
		return fmt.Sprintf("user %q is not allowed in on %s", e.User, e.Host)
	default:
		return fmt.Sprintf("user %q may not %s on %s", e.User, what, e.Host)
	}
}

// describeScope puts the first scope of a token scope list in words.
func describeScope(scope string) string {
	first, _, _ := strings.Cut(strings.TrimSpace(scope), " ")
	kind, rest, _ := strings.Cut(first, ":")
	i := strings.LastIndex(rest, ":")
	if i < 0 {
		return ""
	}
	name, actions := rest[:i], rest[i+1:]
	switch {
	case kind == "registry" && name == "catalog":
		return "list its repositories"
	case kind != "repository":
		return ""
	case strings.Contains(actions, "push"):
		return "push to " + name
	case strings.Contains(actions, "delete"):
		return "delete from " + name
	}
	return "pull " + name
}

func decodeJSON(r io.Reader, v any) error {
	return json.NewDecoder(r).Decode(v)
}
