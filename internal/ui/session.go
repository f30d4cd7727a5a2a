package ui

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The session cookie holds a token signed with the registry's token key and bound to
// the user's password (auth.Issuer.IssueSession): any replica accepts it, none stores
// it. The login form's cookie carries the token its form must echo.
const (
	sessionCookie = "berth_session"
	loginCookie   = "berth_login"
)

// SessionUser returns the user whose web UI session the request carries, "" for none
// (or one no longer valid).
func SessionUser(r *http.Request, a Access) string {
	if a == nil {
		return ""
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	user, ok := a.Session(c.Value)
	if !ok {
		return ""
	}
	return user
}

// csrfToken is the token the viewer's forms carry: derived from the session, which
// another site can neither read (HttpOnly) nor send along with a form of its own
// (SameSite), so a request that carries it came from a page of this one.
func (rq *request) csrfToken() string {
	c, err := rq.r.Cookie(sessionCookie)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256([]byte("berth ui csrf\x00" + c.Value))
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

// sameOrigin refuses a form posted from another site, when the browser says where it
// came from (every current one does): the first line against CSRF, before the tokens.
func (rq *request) sameOrigin() bool {
	if site := rq.r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := rq.r.Header.Get("Origin"); o != "" && o != "null" && o != rq.baseURL() && o != "https://"+rq.r.Host && o != "http://"+rq.r.Host {
		return false
	}
	return true
}

func tokensEqual(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func (rq *request) setCookie(name, value string, maxAge int, sameSite http.SameSite) {
	http.SetCookie(rq.w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: rq.secure(), SameSite: sameSite,
	})
}

type loginPage struct {
	Token, Next, Name, Error string
}

// login shows the form (GET) and checks it (POST).
func (h *Handler) login(rq *request) {
	if h.access == nil {
		rq.page(http.StatusNotFound, "error", "No login", errorPage{Message: "This registry has no users: everything is open, there is nothing to log in to."})
		return
	}
	next := localPath(rq.r.FormValue("next"))
	switch rq.r.Method {
	case http.MethodGet, http.MethodHead:
		h.loginForm(rq, http.StatusOK, loginPage{Next: next})
	case http.MethodPost:
		h.checkLogin(rq, next)
	default:
		rq.w.Header().Set("Allow", "GET, HEAD, POST")
		rq.page(http.StatusMethodNotAllowed, "error", "Method not allowed", errorPage{Message: "Use the login form."})
	}
}

func (h *Handler) loginForm(rq *request, status int, lp loginPage) {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	lp.Token = base64.RawURLEncoding.EncodeToString(b)
	rq.setCookie(loginCookie, lp.Token, 3600, http.SameSiteStrictMode)
	rq.page(status, "login", "Log in", lp)
}

func (h *Handler) checkLogin(rq *request, next string) {
	c, err := rq.r.Cookie(loginCookie)
	if !rq.sameOrigin() || err != nil || !tokensEqual(c.Value, rq.r.PostFormValue("token")) {
		h.loginForm(rq, http.StatusForbidden, loginPage{Next: next, Error: "The form expired or came from another site. Please log in again."})
		return
	}
	name := rq.r.PostFormValue("name")
	token, err := h.access.Login(rq.r, name, rq.r.PostFormValue("password"))
	var limited interface{ RetryAfterSeconds() int }
	switch {
	case errors.As(err, &limited):
		rq.w.Header().Set("Retry-After", strconv.Itoa(limited.RetryAfterSeconds()))
		h.loginForm(rq, http.StatusTooManyRequests, loginPage{Next: next, Name: name, Error: "Too many failed logins from here. Please wait a little."})
		return
	case err != nil:
		h.loginForm(rq, http.StatusUnauthorized, loginPage{Next: next, Name: name, Error: "Wrong user name or password."})
		return
	}
	rq.setCookie(loginCookie, "", -1, http.SameSiteStrictMode)
	// Lax: the session comes along when the user follows a link from elsewhere, never
	// with another site's POST.
	rq.setCookie(sessionCookie, token, int(h.opts.SessionExpiry.Seconds()), http.SameSiteLaxMode)
	http.Redirect(rq.w, rq.r, next, http.StatusSeeOther)
}

// logout ends the session: the cookie goes (the token itself stays valid until it
// expires or the password changes; see docs/ui.md).
func (h *Handler) logout(rq *request) {
	if !rq.sameOrigin() || !tokensEqual(rq.csrfToken(), rq.r.PostFormValue("csrf")) {
		rq.page(http.StatusForbidden, "error", "Forbidden", errorPage{Message: "The form expired or came from another site."})
		return
	}
	rq.setCookie(sessionCookie, "", -1, http.SameSiteLaxMode)
	http.Redirect(rq.w, rq.r, "/", http.StatusSeeOther)
}

// localPath keeps a redirect target on this site: an absolute path, not "//host" nor
// "/\host" (which browsers read as another host); else "/".
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.HasPrefix(p, "/\\") || strings.ContainsAny(p, "\r\n") {
		return "/"
	}
	if u, err := url.Parse(p); err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return p
}
