package flatpak

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/internal/metadata"
)

// Store is what the index needs from the metadata store.
type Store interface {
	// FindImages returns the tagged images and the tagged lists (with their matching
	// images) that match f, ordered by repository.
	FindImages(ctx context.Context, f metadata.ImageFilter) ([]metadata.IndexedImage, []metadata.IndexedList, error)
	// Generation changes whenever tags, manifests or repositories change.
	Generation(ctx context.Context) (int64, error)
}

// Options configure the index.
type Options struct {
	// Registry is the registry's base URL as the index reports it: "/" (relative to the
	// index URL) unless the registry knows its public URL.
	Registry string
	// Visible reports whether a repository may appear (anonymous pull allowed).
	Visible func(repo string) bool
	// CacheEntries bounds the number of cached static answers.
	CacheEntries int
}

// Handler serves /index/static and /index/dynamic.
type Handler struct {
	store Store
	opts  Options
	log   *slog.Logger
	cache *cache
}

// NewHandler returns the index handler.
func NewHandler(store Store, log *slog.Logger, opts Options) *Handler {
	if opts.Registry == "" {
		opts.Registry = "/"
	}
	if opts.Visible == nil {
		opts.Visible = func(string) bool { return true }
	}
	if opts.CacheEntries <= 0 {
		opts.CacheEntries = 512
	}
	return &Handler{store: store, opts: opts, log: log, cache: newCache(opts.CacheEntries)}
}

// answer is a rendered index: its JSON, gzipped JSON and entity tag.
type answer struct {
	gen  int64
	body []byte
	gz   []byte
	etag string
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	static := false
	switch r.URL.Path {
	case "/index/static":
		static = true
	case "/index/dynamic":
	default:
		http.NotFound(w, r)
		return
	}
	ctx := r.Context()
	f := ParseQuery(r.URL.Query())
	gen, err := h.store.Generation(ctx)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	key := Key(f)
	var a *answer
	var ok bool
	if static {
		a, ok = h.cache.get(key, gen)
	}
	if !ok || !static {
		if a, err = h.render(ctx, f, gen); err != nil {
			h.fail(w, r, err)
			return
		}
		if static {
			h.cache.put(key, a)
		}
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("ETag", a.etag)
	hd.Set("Vary", "Accept-Encoding")
	if static {
		// Stored by the client and any CDN, but revalidated every time: an unchanged
		// index costs a 304, a changed one is seen at once (flatpak update relies on it).
		hd.Set("Cache-Control", "public, no-cache")
	} else {
		hd.Set("Cache-Control", "no-store")
	}
	if etagMatch(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body = a.gz
		hd.Set("Content-Encoding", "gzip")
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

func (h *Handler) render(ctx context.Context, f metadata.ImageFilter, gen int64) (*answer, error) {
	f.Visible = h.opts.Visible // hidden images are dropped before their facts are read
	images, lists, err := h.store.FindImages(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("query index: %w", err)
	}
	body, err := json.Marshal(BuildIndex(h.opts.Registry, images, lists, h.opts.Visible))
	if err != nil {
		return nil, fmt.Errorf("encode index: %w", err)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	_, _ = zw.Write(body)
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress index: %w", err)
	}
	sum := sha256.Sum256(body)
	return &answer{gen: gen, body: body, gz: gz.Bytes(), etag: `"` + hex.EncodeToString(sum[:16]) + `"`}, nil
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.log.ErrorContext(r.Context(), "flatpak index failed", "query", r.URL.RawQuery, "err", err)
	http.Error(w, "index unavailable", http.StatusInternalServerError)
}

// etagMatch implements the weak comparison of If-None-Match (RFC 9110 §13.1.2).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") {
			return strings.ReplaceAll(strings.TrimSpace(params), " ", "") != "q=0"
		}
	}
	return false
}

// CacheStats reports how many static answers came from the cache and how many were
// rendered, for metrics.
func (h *Handler) CacheStats() (hits, misses uint64) {
	return h.cache.c.Stats()
}
