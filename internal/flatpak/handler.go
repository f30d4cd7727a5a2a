package flatpak

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	"golang.org/x/sync/singleflight"

	"github.com/berth-registry/berth/internal/metadata"
)

// Store is what the index and the install files need from the metadata store.
type Store interface {
	metadata.Index
	// AppImages returns the tagged images carrying the App id (install files).
	AppImages(ctx context.Context, id string) ([]metadata.AppImage, error)
	// DeltaManifests returns the delta manifest of each image that has one (Flatpak
	// image deltas, internal/deltas).
	DeltaManifests(ctx context.Context, images []metadata.ManifestRef) (map[metadata.ManifestRef]digest.Digest, error)
}

// IconMode says how index answers carry the icons of images.
type IconMode string

const (
	// IconsURL rewrites the icon labels of images whose icons were extracted at push to
	// the URLs the icons are served at: a small answer, icons fetched once and cached.
	IconsURL IconMode = "url"
	// IconsInline keeps the labels as pushed (data: URIs), for clients that cannot fetch.
	IconsInline IconMode = "inline"
)

// Options configure the index.
type Options struct {
	// Registry is the registry's base URL as the index reports it: "/" (relative to the
	// index URL) unless the registry knows its public URL.
	Registry string
	// Visible reports whether a repository may appear (anonymous pull allowed).
	Visible func(repo string) bool
	// CacheEntries bounds the number of cached static answers, CacheBytes their total
	// compressed size.
	CacheEntries int
	CacheBytes   int64
	// Icons is IconsURL (the default) or IconsInline.
	Icons IconMode
	// DeltaURLs names, in the labels of each image that has image deltas, its delta
	// manifest (io.github.containers.DeltaUrl), which the client then fetches instead of
	// _deltaindex.
	DeltaURLs bool
}

// Handler serves /index/static and /index/dynamic.
type Handler struct {
	store  Store
	opts   Options
	log    *slog.Logger
	cache  *cache
	flight singleflight.Group
	// renders bounds the renderings under way (of different queries; one query's are
	// shared): each holds database connections and its answer while it runs.
	renders chan struct{}
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
	if opts.CacheBytes <= 0 {
		opts.CacheBytes = 64 << 20
	}
	if opts.Icons == "" {
		opts.Icons = IconsURL
	}
	return &Handler{store: store, opts: opts, log: log, cache: newCache(opts.CacheEntries, opts.CacheBytes), renders: make(chan struct{}, maxRenders)}
}

// maxRenders is how many different answers are rendered at once.
const maxRenders = 2

// answer is a rendered index, kept compressed only: the identity body is the gzip
// stream decompressed on the way out, so neither form is ever held twice.
type answer struct {
	gen  int64
	gz   *chunks
	size int64  // of the JSON
	etag string // of the JSON; the gzip form's is derived from it (gzipETag)
}

// gzipETag is the entity tag of the gzip form of an answer: a representation of its own
// (RFC 9110 §8.8.3), so a cache never confuses one for the other.
func (a *answer) gzipETag() string { return strings.TrimSuffix(a.etag, `"`) + `-gzip"` }

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
	f, ignored := ParseQuery(r.URL.Query())
	if len(ignored) > 0 {
		// The protocol ignores unknown parameters; naming them makes a typo visible.
		w.Header().Set("Berth-Ignored-Parameters", strings.Join(ignored, ", "))
	}
	a, err := h.answer(ctx, f, static)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	gz := acceptsGzip(r.Header.Values("Accept-Encoding"))
	etag := a.etag
	if gz {
		etag = a.gzipETag()
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("ETag", etag)
	hd.Set("Vary", "Accept-Encoding")
	if static {
		// Stored by the client and any CDN, but revalidated every time: an unchanged
		// index costs a 304, a changed one is seen at once (flatpak update relies on it).
		hd.Set("Cache-Control", "public, no-cache")
	} else {
		hd.Set("Cache-Control", "no-store")
	}
	// A 304 carries ETag and Cache-Control too: flatpak replaces its cache data with
	// the 304's headers.
	if etagMatch(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if gz {
		hd.Set("Content-Encoding", "gzip")
		hd.Set("Content-Length", strconv.FormatInt(a.gz.Len(), 10))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = a.gz.WriteTo(w)
		}
		return
	}
	hd.Set("Content-Length", strconv.FormatInt(a.size, 10))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodGet {
		return
	}
	zr, err := gzip.NewReader(a.gz.Reader())
	if err == nil {
		_, err = io.Copy(w, zr)
	}
	if err != nil {
		h.log.WarnContext(ctx, "flatpak index not sent", "err", err)
	}
}

// answer returns the answer to f at the store's current generation: a static one from
// the cache when it is still current, else rendered. Requests that need the same
// rendering at once share it, so a burst of clients after a push costs one.
func (h *Handler) answer(ctx context.Context, f metadata.ImageFilter, static bool) (*answer, error) {
	gen, err := h.store.Generation(ctx)
	if err != nil {
		return nil, err
	}
	key := Key(f)
	if static {
		if a, ok := h.cache.get(key, gen); ok {
			return a, nil
		}
	}
	v, err, _ := h.flight.Do(strconv.FormatInt(gen, 10)+" "+key, func() (any, error) {
		select {
		case h.renders <- struct{}{}:
			defer func() { <-h.renders }()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		// Rendered for all who wait, so not cancelled when the first of them leaves.
		a, err := h.renderAnswer(context.WithoutCancel(ctx), f, gen)
		if err == nil {
			h.cache.put(key, a) // a dynamic request's answer serves static ones too
		}
		return a, err
	})
	if err != nil {
		return nil, err
	}
	return v.(*answer), nil
}

// renderAnswer streams the answer through a hash (its entity tag) into gzip.
func (h *Handler) renderAnswer(ctx context.Context, f metadata.ImageFilter, gen int64) (*answer, error) {
	gz := &chunks{}
	zw, _ := gzip.NewWriterLevel(gz, gzip.BestSpeed)
	sum := sha256.New()
	n := &counter{}
	bw := bufio.NewWriterSize(io.MultiWriter(zw, sum, n), 32<<10)
	if err := h.render(ctx, f, bw); err != nil {
		return nil, err
	}
	if err := bw.Flush(); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compress index: %w", err)
	}
	gz.seal()
	return &answer{gen: gen, gz: gz, size: n.n, etag: `"` + hex.EncodeToString(sum.Sum(nil)[:16]) + `"`}, nil
}

type counter struct{ n int64 }

func (c *counter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.log.ErrorContext(r.Context(), "flatpak index failed", "query", r.URL.RawQuery, "err", err)
	http.Error(w, "index unavailable", http.StatusInternalServerError)
}

// CacheStats reports how many static answers came from the cache and how many were
// rendered, for metrics.
func (h *Handler) CacheStats() (hits, misses uint64) {
	return h.cache.c.Stats()
}
