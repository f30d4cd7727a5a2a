// Package ui is Berth's web UI: repositories, tags, manifests and Flatpak apps, rendered
// on the server with html/template from assets embedded in the binary. Every page works
// without JavaScript (a few lines of it add copy buttons) and shows exactly what the
// caller may pull, decided by the same rules as the API; a hidden repository answers as
// a missing one. Listings are keyset pages over indexed data, whatever the registry's
// size. Nothing from an image is ever rendered as HTML.
package ui

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Store is what the UI reads of the metadata store.
type Store interface {
	metadata.Browser
	// Manifest returns a manifest with its facts, or metadata.ErrNotFound.
	Manifest(ctx context.Context, repo string, d digest.Digest) (*metadata.Manifest, error)
	// Referrers lists the manifests whose subject is d.
	Referrers(ctx context.Context, repo string, subject digest.Digest, artifactType string, after digest.Digest, limit int) ([]metadata.Referrer, error)
	// Apps and AppImages answer the gallery and the app pages.
	Apps(ctx context.Context, after string, limit int) ([]string, []metadata.AppImage, error)
	AppImages(ctx context.Context, id string) ([]metadata.AppImage, error)
}

// Access is access control as the UI applies it: the API's users and rules. A nil
// Access means none is configured and everything is open.
type Access interface {
	// Login checks a user's password for the request's client (failures count against
	// it as for the API) and returns a session token for the cookie.
	Login(r *http.Request, name, password string) (string, error)
	// Session returns the user of a session token, if it is still valid.
	Session(token string) (user string, ok bool)
	// CanPull reports whether user ("" for anonymous) may pull repo.
	CanPull(user, repo string) bool
}

// Options configure the UI.
type Options struct {
	// Title names the registry in page titles.
	Title string
	// BaseURL is the registry's public URL; empty: taken from each request.
	BaseURL string
	// Flatpak says whether the Flatpak index and install files are served, so that the
	// gallery offers installs.
	Flatpak bool
	// FlatpakRemote is the remote name the install commands suggest.
	FlatpakRemote string
	// SessionExpiry is the lifetime of a login.
	SessionExpiry time.Duration
}

// Handler serves the UI at /, /ui/ and /ui/static/.
type Handler struct {
	store  Store
	access Access
	log    *slog.Logger
	opts   Options
	pages  map[string]*template.Template
	static http.Handler
	// assetVersion is a hash of the embedded assets, in their URLs, so browsers may
	// keep them for a year and still never use a stale one.
	assetVersion string
}

// New returns the UI handler.
func New(store Store, access Access, log *slog.Logger, opts Options) (*Handler, error) {
	if opts.Title == "" {
		opts.Title = "Berth"
	}
	if opts.FlatpakRemote == "" {
		opts.FlatpakRemote = "berth"
	}
	if opts.SessionExpiry <= 0 {
		opts.SessionExpiry = 12 * time.Hour
	}
	h := &Handler{store: store, access: access, log: log, opts: opts}
	version, err := hashFS(staticFS)
	if err != nil {
		return nil, err
	}
	h.assetVersion = version
	if h.pages, err = parsePages(h.funcs()); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	h.static = http.StripPrefix("/ui/static/", http.FileServerFS(sub))
	return h, nil
}

// hashFS is a short hash of every file of fsys.
func hashFS(fsys fs.FS) (string, error) {
	sum := sha256.New()
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		fmt.Fprintf(sum, "%s\x00%d\x00", p, len(b))
		sum.Write(b)
		return err
	})
	return hex.EncodeToString(sum.Sum(nil)[:6]), err
}

// parsePages parses each page with the layout.
func parsePages(funcs template.FuncMap) (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	hd := w.Header()
	// Nothing but Berth's own assets runs, loads or frames here.
	hd.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'self'; script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Referrer-Policy", "same-origin")
	p := r.URL.Path
	if strings.HasPrefix(p, "/ui/static/") {
		if r.URL.Query().Get("v") == h.assetVersion {
			hd.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			hd.Set("Cache-Control", "no-cache")
		}
		h.static.ServeHTTP(w, r)
		return
	}
	rq := h.request(w, r, start)
	switch {
	case p == "/" || p == "/ui" || p == "/ui/":
		rq.only(http.MethodGet, h.repositories)
	case p == "/ui/login":
		h.login(rq)
	case p == "/ui/logout":
		rq.only(http.MethodPost, h.logout)
	case p == "/ui/apps":
		rq.only(http.MethodGet, h.gallery)
	case strings.HasPrefix(p, "/ui/apps/"):
		rq.only(http.MethodGet, func(rq *request) { h.app(rq, strings.TrimPrefix(p, "/ui/apps/")) })
	case strings.HasPrefix(p, "/ui/r/"):
		repo, rest, _ := strings.Cut(strings.TrimPrefix(p, "/ui/r/"), "/-/")
		rq.only(http.MethodGet, func(rq *request) { h.repository(rq, repo, rest) })
	default:
		rq.notFound()
	}
}

// repository routes /ui/r/<name> (its tags) and /ui/r/<name>/-/manifest/<digest>.
func (h *Handler) repository(rq *request, repo, rest string) {
	switch {
	case rest == "":
		h.tags(rq, repo)
	case strings.HasPrefix(rest, "manifest/"):
		h.manifest(rq, repo, strings.TrimPrefix(rest, "manifest/"))
	default:
		rq.notFound()
	}
}
