package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// Guard is access control as the API needs it. A nil Guard means no auth is configured
// and every request is allowed.
type Guard interface {
	// Identify authenticates the request from its bearer token or Basic credentials;
	// with neither it returns the anonymous caller. An error means the credentials
	// presented are not valid (a *RetryAfterError when too many failed lately).
	Identify(r *http.Request) (Caller, error)
	// Challenge is the WWW-Authenticate value of a 401 for scope ("" for none) with the
	// Bearer error code errCode ("" for none).
	Challenge(r *http.Request, scope, errCode string) string
}

// Caller is an identified client.
type Caller interface {
	// Name is the authenticated user's name ("" when anonymous), recorded as the actor of
	// the changes the request makes.
	Name() string
	// Anonymous reports that no credentials were presented.
	Anonymous() bool
	// HasToken reports that the caller presented a bearer token (so a refusal is
	// insufficient_scope rather than a request to authenticate).
	HasToken() bool
	// Can reports whether the caller may do action (pull, push, delete) on repo.
	Can(repo, action string) bool
	// CanCatalog reports whether the caller may list repositories at all.
	CanCatalog() bool
	// Sees reports whether the catalog shows repo to the caller: only repositories it
	// may pull.
	Sees(repo string) bool
	// SeesUnder reports, from the rules alone, whether the caller might be shown a
	// repository named prefix or below it (prefix/...), so that listings pass over what
	// it may never see without looking it up.
	SeesUnder(prefix string) bool
	// Admin reports whether the caller holds the admin right (auth.admins), which an
	// explicit override of an immutable tag needs.
	Admin() bool
}

// RetryAfterError refuses a client that failed to authenticate too often.
type RetryAfterError struct{ After time.Duration }

func (e *RetryAfterError) Error() string { return "too many failed authentication attempts" }

var errUnauthorized = errors.New("authentication required")

type callerKey struct{}

// callerOf returns the caller the guard identified for this request, or nil without a
// guard.
func callerOf(ctx context.Context) Caller {
	c, _ := ctx.Value(callerKey{}).(Caller)
	return c
}

// authorize identifies the caller and decides, before any lookup, whether it may do what
// the request asks: a private repository answers the same whether it exists or not. It
// returns the request with the caller attached, or nil after answering.
func (a *API) authorize(w http.ResponseWriter, r *http.Request, rt route, need action) *http.Request {
	if a.guard == nil {
		return r
	}
	caller, err := a.guard.Identify(r)
	if err != nil {
		var ra *RetryAfterError
		if errors.As(err, &ra) {
			w.Header().Set("Retry-After", strconv.Itoa(int(max(ra.After, time.Second)/time.Second)))
			a.writeError(w, r, ErrTooManyRequests)
			return nil
		}
		a.deny(w, r, scope(rt, need), "invalid_token")
		return nil
	}
	var ok bool
	switch need {
	case actAuthenticated:
		ok = !caller.Anonymous()
	case actCatalog:
		ok = caller.CanCatalog()
	default:
		ok = caller.Can(rt.name, repositoryAction(need))
	}
	if !ok {
		code := ""
		if caller.HasToken() {
			code = "insufficient_scope"
		}
		a.deny(w, r, scope(rt, need), code)
		return nil
	}
	ctx := metadata.WithActor(context.WithValue(r.Context(), callerKey{}, caller), caller.Name())
	return r.WithContext(ctx)
}

func (a *API) deny(w http.ResponseWriter, r *http.Request, scope, code string) {
	w.Header().Set("WWW-Authenticate", a.guard.Challenge(r, scope, code))
	a.writeError(w, r, errUnauthorized)
}

// seesUnderFor returns the caller's SeesUnder (nil: all).
func seesUnderFor(ctx context.Context) func(string) bool {
	c := callerOf(ctx)
	if c == nil {
		return nil
	}
	return c.SeesUnder
}

// visibleTo returns the catalog filter for the request's caller (nil: all).
func visibleTo(ctx context.Context) func(string) bool {
	c := callerOf(ctx)
	if c == nil {
		return nil
	}
	return c.Sees
}
