package auth

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"
)

// maxTokenForm bounds the body of a POST to the token endpoint.
const maxTokenForm = 64 << 10

// Service is the token endpoint of the Docker token spec, an http.Handler for the
// realm's path (usually /token):
//
//   - GET ?service=S&scope=...&scope=... with Basic credentials or none (anonymous), and
//     offline_token=true for a refresh token as well;
//   - POST form grant_type=password (username, password) or grant_type=refresh_token
//     (refresh_token), with service, scope (space-separated), client_id and
//     access_type=offline for a refresh token.
//
// The token grants the intersection of the requested scopes and the Policy; an empty
// intersection still yields a token, so the registry can answer insufficient_scope.
type Service struct {
	auth   *Authenticator
	policy *Policy
	issuer *Issuer
	log    *slog.Logger
}

// NewService returns the token endpoint; log (nil: discard) gets a line for each
// internal failure, never credentials or tokens.
func NewService(auth *Authenticator, policy *Policy, issuer *Issuer, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{auth: auth, policy: policy, issuer: issuer, log: log}
}

// tokenResponse is the answer of the token endpoint; token and access_token are the
// same, for clients of the Docker and the OAuth2 form respectively.
type tokenResponse struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	ExpiresIn    int    `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token,omitempty"`
}

// requestError is a client error of the token endpoint.
type requestError struct {
	status int
	code   string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(msg string) error {
	return &requestError{http.StatusBadRequest, "UNSUPPORTED", msg}
}

// ServeHTTP implements http.Handler.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var err error
	switch r.Method {
	case http.MethodGet:
		err = s.get(w, r)
	case http.MethodPost:
		err = s.post(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		err = &requestError{http.StatusMethodNotAllowed, "UNSUPPORTED", "the token endpoint takes GET or POST"}
	}
	if err != nil {
		s.writeError(w, r, err)
	}
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	scopes, err := s.checkRequest(q.Get("service"), q["scope"])
	if err != nil {
		return err
	}
	subject, err := s.auth.Basic(r)
	if err != nil {
		return err
	}
	if !subject.Anonymous() {
		s.auth.obs.LoginSucceeded(r.Context(), s.auth.clientAddr(r), subject.Name, "basic")
	}
	offline := q.Get("offline_token") == "true" && !subject.Anonymous()
	return s.respond(w, r, subject, scopes, offline)
}

func (s *Service) post(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxTokenForm)
	if err := r.ParseForm(); err != nil {
		return badRequest("malformed form: " + err.Error())
	}
	f := r.PostForm
	scopes, err := s.checkRequest(f.Get("service"), f["scope"])
	if err != nil {
		return err
	}
	var subject Subject
	switch f.Get("grant_type") {
	case "password":
		if f.Get("username") == "" {
			return badRequest("grant_type=password needs username and password")
		}
		if subject, err = s.auth.Password(r, f.Get("username"), f.Get("password")); err != nil {
			return err
		}
		s.auth.obs.LoginSucceeded(r.Context(), s.auth.clientAddr(r), subject.Name, "password")
		return s.respond(w, r, subject, scopes, f.Get("access_type") == "offline")
	case "refresh_token":
		if f.Get("refresh_token") == "" {
			return badRequest("grant_type=refresh_token needs refresh_token")
		}
		client := s.auth.client(r)
		if err := s.auth.check(client); err != nil {
			return err
		}
		// A forged or stale refresh token is a failed login like a wrong password.
		if subject, err = s.issuer.verifyRefresh(f.Get("refresh_token"), s.auth.users); err != nil {
			s.auth.limit.fail(client)
			s.auth.obs.LoginFailed(r.Context(), s.auth.clientAddr(r), "", "refresh_token", "invalid or expired refresh token")
			return &requestError{http.StatusUnauthorized, "UNAUTHORIZED", "invalid or expired refresh token"}
		}
		s.auth.obs.LoginSucceeded(r.Context(), s.auth.clientAddr(r), subject.Name, "refresh_token")
		return s.respond(w, r, subject, scopes, false)
	default:
		return badRequest("grant_type must be password or refresh_token")
	}
}

// checkRequest refuses a token for another service and parses the scopes.
func (s *Service) checkRequest(service string, scope []string) ([]Scope, error) {
	if service != "" && service != s.issuer.service {
		return nil, badRequest("unknown service " + strconv.Quote(service))
	}
	scopes, err := ParseScopes(scope)
	if err != nil {
		return nil, badRequest(err.Error())
	}
	return scopes, nil
}

func (s *Service) respond(w http.ResponseWriter, r *http.Request, subject Subject, scopes []Scope, offline bool) error {
	access := s.policy.Grant(subject, scopes)
	tok, iat, err := s.issuer.issue(subject.Name, access)
	if err != nil {
		return err
	}
	s.auth.obs.TokenIssued(r.Context(), s.auth.clientAddr(r), subject.Name, access, iat.Add(s.issuer.expiry))
	resp := tokenResponse{
		Token:       tok,
		AccessToken: tok,
		ExpiresIn:   int(s.issuer.expiry / time.Second),
		IssuedAt:    iat.UTC().Format(time.RFC3339),
	}
	if offline {
		if resp.RefreshToken, err = s.issuer.issueRefresh(subject.Name, s.auth.users.hash(subject.Name)); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

// errorBody is the OCI error JSON.
type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var (
		re  *requestError
		rle *RateLimitError
	)
	switch {
	case errors.As(err, &re):
	case errors.As(err, &rle):
		w.Header().Set("Retry-After", strconv.Itoa(rle.RetryAfterSeconds()))
		re = &requestError{http.StatusTooManyRequests, "TOOMANYREQUESTS", err.Error()}
	case errors.Is(err, ErrBadCredentials):
		re = &requestError{http.StatusUnauthorized, "UNAUTHORIZED", err.Error()}
	default:
		// Signing failed: nothing the client did, and nothing to tell it.
		s.log.ErrorContext(r.Context(), "token request failed", "err", err)
		re = &requestError{http.StatusInternalServerError, "UNKNOWN", "internal server error"}
	}
	if re.status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", BasicChallenge(s.issuer.service))
	}
	writeJSON(w, re.status, errorBody{Errors: []errorEntry{{Code: re.code, Message: re.msg}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	// Tokens and errors about credentials must not be cached (RFC 6749 §5.1).
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
