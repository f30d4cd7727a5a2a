package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/httpapi"
)

// access is the configured access control: users, rules, the token service and the
// verifier of tokens. It adapts package auth to the API's Guard.
type access struct {
	authn    *auth.Authenticator
	policy   *auth.Policy
	admins   *auth.Admins
	verifier *auth.Verifier
	token    *auth.Service
	issuer   *auth.Issuer // also signs web UI sessions
	realm    string       // "" derives it from each request
	service  string
}

// newAccess builds access control from the configuration, or returns nil when none is
// configured (everything open). clientAddr is the edge's idea of the client address;
// obs learns of logins and tokens.
func newAccess(cfg config.Config, log *slog.Logger, clientAddr func(*http.Request) string, obs auth.Observer) (*access, error) {
	if !cfg.Auth.Enabled() {
		return nil, nil
	}
	users, err := auth.LoadUsers(cfg.Auth)
	if err != nil {
		return nil, err
	}
	policy, err := auth.NewPolicy(users, cfg.Auth.Rules)
	if err != nil {
		return nil, err
	}
	admins, err := auth.NewAdmins(users, cfg.Auth.Admins)
	if err != nil {
		return nil, err
	}
	tc := cfg.Auth.Token.WithDefaults(cfg.PublicURL)
	if tc.KeyFile == "" {
		tc.KeyFile = filepath.Join(cfg.Data, "token-key.pem")
	}
	key, err := auth.LoadOrCreateKey(tc.KeyFile)
	if err != nil {
		return nil, err
	}
	issuer, err := auth.NewIssuer(key, tc)
	if err != nil {
		return nil, err
	}
	trusts := []auth.Trust{issuer.Trust()}
	if cfg.Auth.External.Enabled() {
		t, err := cfg.Auth.External.Trust()
		if err != nil {
			return nil, err
		}
		trusts = append(trusts, t)
	}
	verifier, err := auth.NewVerifier(trusts...)
	if err != nil {
		return nil, err
	}
	authn := auth.NewAuthenticator(users, auth.Limit{ClientAddr: clientAddr}, obs)
	return &access{
		authn:    authn,
		policy:   policy,
		admins:   admins,
		verifier: verifier,
		token:    auth.NewService(authn, policy, issuer, log),
		issuer:   issuer,
		realm:    tc.Realm,
		service:  issuer.Service(),
	}, nil
}

// Identify reads a bearer token, else Basic credentials, else the anonymous caller.
func (a *access) Identify(r *http.Request) (httpapi.Caller, error) {
	h := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		claims, err := a.verifier.Verify(r.Context(), strings.TrimSpace(tok))
		if err != nil {
			return nil, err
		}
		return &caller{policy: a.policy, admins: a.admins, subject: auth.Subject{Name: claims.Subject}, claims: &claims}, nil
	}
	s, err := a.authn.Basic(r)
	if err != nil {
		var rl *auth.RateLimitError
		if errors.As(err, &rl) {
			return nil, &httpapi.RetryAfterError{After: rl.RetryAfter}
		}
		return nil, err
	}
	return &caller{policy: a.policy, admins: a.admins, subject: s}, nil
}

// Challenge points clients to the token service.
func (a *access) Challenge(r *http.Request, scope, errCode string) string {
	return auth.Challenge(a.realmFor(r), a.service, scope, errCode)
}

func (a *access) realmFor(r *http.Request) string {
	if a.realm != "" {
		return a.realm
	}
	// The edge has set the scheme (and, behind a trusted proxy, the host) of the request.
	return fmt.Sprintf("%s://%s/token", r.URL.Scheme, r.Host)
}

// public reports whether anonymous callers may pull repo: what the Flatpak index shows.
func (a *access) public(repo string) bool { return a.policy.IsPublic(repo) }

// caller is an identified client: its token's grants decide when it has a token, the
// policy otherwise. The catalog is filtered by the policy in both cases, since a
// catalog token names no repository.
type caller struct {
	policy  *auth.Policy
	admins  *auth.Admins
	subject auth.Subject
	claims  *auth.Claims
}

func (c *caller) Name() string    { return c.subject.Name }
func (c *caller) Anonymous() bool { return c.claims == nil && c.subject.Anonymous() }
func (c *caller) HasToken() bool  { return c.claims != nil }

func (c *caller) Can(repo, action string) bool {
	if c.claims != nil {
		return c.claims.Allows(auth.TypeRepository, repo, action)
	}
	return slices.Contains(c.policy.Allowed(c.subject, repo), action)
}

func (c *caller) CanCatalog() bool {
	if c.claims != nil {
		return c.claims.Allows(auth.TypeRegistry, "catalog", "*")
	}
	// Anonymous callers are challenged, so clients that have credentials use them (as
	// for the Distribution catalog); an anonymous token lists the public repositories.
	return !c.subject.Anonymous() // the listing is filtered by Sees
}

// Admin is decided by the configuration for whoever the caller proved to be, with a
// token or with Basic credentials: no token grants it.
func (c *caller) Admin() bool { return c.admins.Include(c.subject) }

func (c *caller) Sees(repo string) bool {
	return slices.Contains(c.policy.Allowed(c.subject, repo), auth.ActionPull)
}

func (c *caller) SeesUnder(prefix string) bool { return c.policy.MayPullUnder(c.subject, prefix) }
