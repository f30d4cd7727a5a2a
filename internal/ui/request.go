package ui

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// request is one page being served: who asks, and how to answer.
type request struct {
	h     *Handler
	w     http.ResponseWriter
	r     *http.Request
	start time.Time
	user  string // "" when anonymous
}

func (h *Handler) request(w http.ResponseWriter, r *http.Request, start time.Time) *request {
	return &request{h: h, w: w, r: r, start: start, user: SessionUser(r, h.access)}
}

// canPull applies the API's rule for the viewer.
func (rq *request) canPull(repo string) bool {
	return rq.h.access == nil || rq.h.access.CanPull(rq.user, repo)
}

// only runs fn for the method (and HEAD for GET), else answers 405.
func (rq *request) only(method string, fn func(*request)) {
	m := rq.r.Method
	if m == method || (method == http.MethodGet && m == http.MethodHead) {
		fn(rq)
		return
	}
	rq.w.Header().Set("Allow", map[string]string{http.MethodGet: "GET, HEAD", http.MethodPost: "POST"}[method])
	rq.page(http.StatusMethodNotAllowed, "error", "Method not allowed", errorPage{Message: "This page does not take " + m + " requests."})
}

// page is what every template gets: the layout's data and the page's own.
type page struct {
	Title        string
	Registry     string
	User         string
	LoginEnabled bool
	CSRF         string
	Path         string
	AssetVersion string
	Flatpak      bool
	Data         any
}

type errorPage struct{ Message string }

// render executes a page into a buffer first, so a template error is a clean 500.
func (rq *request) page(status int, name, title string, data any) {
	t := rq.h.pages[name]
	p := page{
		Title: title, Registry: rq.h.opts.Title, User: rq.user, LoginEnabled: rq.h.access != nil,
		Path: rq.r.URL.RequestURI(), AssetVersion: rq.h.assetVersion, Flatpak: rq.h.opts.Flatpak, Data: data,
	}
	if rq.user != "" {
		p.CSRF = rq.csrfToken()
	}
	var b bytes.Buffer
	if err := t.Execute(&b, p); err != nil {
		rq.h.log.ErrorContext(rq.r.Context(), "ui page failed", "page", name, "err", err)
		http.Error(rq.w, "page unavailable", http.StatusInternalServerError)
		return
	}
	hd := rq.w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	// Pages depend on who asks: never kept by shared caches, revalidated by browsers.
	hd.Set("Cache-Control", "private, no-cache")
	hd.Set("Vary", "Cookie")
	hd.Set("Content-Length", strconv.Itoa(b.Len()))
	// The server's time to make the page, for browsers' developer tools and benchmarks.
	hd.Set("Server-Timing", fmt.Sprintf("render;dur=%.3f", float64(time.Since(rq.start).Microseconds())/1000))
	rq.w.WriteHeader(status)
	if rq.r.Method != http.MethodHead {
		_, _ = rq.w.Write(b.Bytes())
	}
}

// notFound is the answer for what does not exist and for what the viewer may not see:
// the same page, so that it tells one from the other to nobody.
func (rq *request) notFound() {
	rq.page(http.StatusNotFound, "error", "Not found", errorPage{Message: "There is nothing here, or nothing you may see. Logging in may show more."})
}

// fail logs err and answers 500.
func (rq *request) fail(err error) {
	if errors.Is(err, rq.r.Context().Err()) {
		return // the client left
	}
	rq.h.log.ErrorContext(rq.r.Context(), "ui page failed", "path", rq.r.URL.Path, "err", err)
	rq.page(http.StatusInternalServerError, "error", "Error", errorPage{Message: "The page could not be made; the error is in the server's log."})
}

// failed answers a failed lookup, if err is one: 404 for metadata.ErrNotFound (as for
// what the caller may not see), else 500.
func (rq *request) failed(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, metadata.ErrNotFound):
		rq.notFound()
	default:
		rq.fail(err)
	}
	return true
}

func (rq *request) badRequest(msg string) {
	rq.page(http.StatusBadRequest, "error", "Bad request", errorPage{Message: msg})
}

// baseHost is the registry's host as pull commands name it.
func (rq *request) baseHost() string {
	if b := rq.h.opts.BaseURL; b != "" {
		if _, host, ok := cutScheme(b); ok {
			return host
		}
	}
	return rq.r.Host
}

// baseURL is the registry's URL (scheme and host).
func (rq *request) baseURL() string {
	if b := rq.h.opts.BaseURL; b != "" {
		return trimSlash(b)
	}
	scheme := rq.r.URL.Scheme
	if scheme == "" {
		scheme = "http"
		if rq.r.TLS != nil {
			scheme = "https"
		}
	}
	return scheme + "://" + rq.r.Host
}

// secure reports whether the request came over TLS (directly, or to a trusted proxy).
func (rq *request) secure() bool {
	return rq.r.TLS != nil || rq.r.URL.Scheme == "https"
}
