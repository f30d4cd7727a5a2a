package flatpak

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/appstream"
	"github.com/berth-registry/berth/internal/metadata"
)

// IconStore is what the icon handler needs of the metadata store.
type IconStore interface {
	Icon(ctx context.Context, d digest.Digest) ([]byte, error)
	IconRepositories(ctx context.Context, d digest.Digest, after string, limit int) ([]string, error)
}

// IconHandler serves the icons extracted from Flatpak images at /icons/<sha256>.png, for
// index answers and the web UI. An icon is served to a caller who may pull a repository
// holding an image that carries it; to anyone else it does not exist, exactly as an
// icon never pushed (the same 404), so its URL tells nothing about private content.
type IconHandler struct {
	store IconStore
	log   *slog.Logger
	// public reports whether anonymous callers may pull repo; mayPull whether the
	// caller of r may (the same as public when there is no access control).
	public  func(repo string) bool
	mayPull func(r *http.Request, repo string) bool
}

// NewIconHandler returns the icon handler. public and mayPull are the access rules
// (nil: everything is public).
func NewIconHandler(store IconStore, log *slog.Logger, public func(repo string) bool, mayPull func(r *http.Request, repo string) bool) *IconHandler {
	if public == nil {
		public = func(string) bool { return true }
	}
	if mayPull == nil {
		mayPull = func(_ *http.Request, repo string) bool { return public(repo) }
	}
	return &IconHandler{store: store, log: log, public: public, mayPull: mayPull}
}

// maxIconRepositories bounds the repositories looked at for one icon request: an icon
// shared by more (one per app, usually) is looked for in the first ones only.
const maxIconRepositories = 1000

func (h *IconHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/icons/")
	d, valid := appstream.IconDigest(name)
	if !ok || strings.Contains(name, "/") || !valid {
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	public, allowed, err := h.access(ctx, r, d)
	if err != nil {
		h.log.ErrorContext(ctx, "icon lookup failed", "digest", d, "err", err)
		http.Error(w, "icon unavailable", http.StatusInternalServerError)
		return
	}
	if !allowed {
		http.NotFound(w, r)
		return
	}
	etag := `"` + d.Encoded() + `"`
	hd := w.Header()
	hd.Set("Content-Type", "image/png")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("ETag", etag)
	// Content-addressed, so never stale; only an icon anonymous callers may see is
	// left to shared caches.
	if public {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		hd.Set("Cache-Control", "private, max-age=31536000, immutable")
		hd.Set("Vary", "Cookie, Authorization")
	}
	if etagMatch(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	data, err := h.store.Icon(ctx, d)
	if errors.Is(err, metadata.ErrNotFound) {
		// Deleted since the lookup: as if never pushed.
		hd.Del("ETag")
		hd.Del("Cache-Control")
		http.NotFound(w, r)
		return
	}
	if err != nil {
		h.log.ErrorContext(ctx, "icon read failed", "digest", d, "err", err)
		http.Error(w, "icon unavailable", http.StatusInternalServerError)
		return
	}
	hd.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
}

// access reports whether the icon is in a public repository, and whether the caller
// may see it (in a public repository, or one it may pull).
func (h *IconHandler) access(ctx context.Context, r *http.Request, d digest.Digest) (public, allowed bool, err error) {
	after := ""
	for seen := 0; seen < maxIconRepositories; {
		repos, err := h.store.IconRepositories(ctx, d, after, 100)
		if err != nil {
			return false, false, err
		}
		for _, repo := range repos {
			if h.public(repo) {
				return true, true, nil
			}
			if !allowed && h.mayPull(r, repo) {
				allowed = true
			}
		}
		if len(repos) < 100 {
			break
		}
		seen += len(repos)
		after = repos[len(repos)-1]
	}
	return false, allowed, nil
}
