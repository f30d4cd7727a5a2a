// Package server wires Berth together: configuration → stores → registry service → HTTP
// handlers → http.Server, plus health endpoints, metrics, limits, TLS, access logging and
// graceful shutdown. It is the only package that knows the concrete store implementations.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/blobstore"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/deltas"
	"github.com/berth-registry/berth/internal/flatpak"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/httpapi"
	"github.com/berth-registry/berth/internal/lifecycle"
	"github.com/berth-registry/berth/internal/limits"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/mirror"
	"github.com/berth-registry/berth/internal/pulls"
	"github.com/berth-registry/berth/internal/quota"
	"github.com/berth-registry/berth/internal/registry"
)

// presigner is a blob store that can hand out direct URLs (S3).
type presigner interface {
	PresignGet(ctx context.Context, d digest.Digest, expiry time.Duration) (string, error)
}

// Server is a configured registry, ready to serve.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	meta    metadata.Store
	blobs   blobstore.Store
	handler http.Handler // the registry's address
	ops     http.Handler // the metrics address, when separate
	metrics *prometheus.Registry
	gc      *gc.Collector       // nil when collection is off
	retain  *lifecycle.Retainer // nil when retention is off
	pulls   *pulls.Recorder
	deltas  *deltas.Worker // nil when Flatpak deltas are off
	unlock  func()         // releases the lock on the SQLite database
	audit   *audit.Emitter // nil when audit events go nowhere
	cache   *mirror.Cache  // nil without upstreams
}

// New opens the stores the configuration names and builds the handlers.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := prepareData(cfg.Data); err != nil {
		return nil, err
	}
	unlock := func() {}
	if db := sqlitePath(cfg); db != "" {
		what := "SQLite database " + db
		if cfg.Metadata == "" {
			what = "data directory " + cfg.Data
		}
		var err error
		if unlock, err = lockDatabase(db, what); err != nil {
			return nil, err
		}
	}
	meta, blobs, err := OpenStores(ctx, cfg)
	if err != nil {
		unlock()
		return nil, err
	}
	policy, err := quota.New(cfg.Quotas)
	if err != nil {
		meta.Close()
		unlock()
		return nil, err
	}
	// Before any write: new repositories get the namespace the policy assigns.
	recounted, err := meta.UseQuotaPolicy(ctx, policy)
	if err != nil {
		meta.Close()
		unlock()
		return nil, fmt.Errorf("quota policy: %w", err)
	}
	if recounted {
		log.Info("quota namespace rules changed: namespaces reassigned and usage recounted")
	}
	s := &Server{cfg: cfg, log: log, metrics: prometheus.NewRegistry(), unlock: unlock, audit: NewAudit(cfg, log)}
	s.metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s.audit != nil {
		s.metrics.MustRegister(newAuditMetrics(s.audit))
	}
	ropts := registry.Options{
		MaxManifestSize: cfg.Registry.MaxManifestSize,
		MaxPageSize:     cfg.Registry.MaxPageSize,
		DeleteEnabled:   cfg.Registry.DeleteEnabled,
		Audit:           s.audit,
	}
	if p, ok := blobs.(presigner); ok && cfg.S3.Redirect {
		ropts.BlobURL = func(ctx context.Context, d digest.Digest) (string, error) {
			return p.PresignGet(ctx, d, cfg.S3.RedirectExpiry)
		}
	}
	// Readiness probes ask the store itself: every few seconds from an orchestrator, they
	// would swamp the operation metrics of real traffic.
	probe := meta
	s.metrics.MustRegister(newUsageMetrics(probe, log))
	sm := newStoreMetrics(s.metrics)
	meta, blobs = meteredMeta{meta, sm}, meteredBlobs{blobs, sm}
	s.meta, s.blobs = meta, blobs
	// Before any request: from here on the store enforces the immutable-tag rules.
	retain, err := NewRetainer(cfg, meta, log, s.audit)
	if err != nil {
		meta.Close()
		unlock()
		return nil, err
	}
	s.pulls = pulls.New(meta, log, cfg.Lifecycle.PullFlushInterval)
	ropts.Pulls = s.pulls
	svc := registry.New(meta, blobs, log, ropts)
	if s.deltas, err = newDeltaWorker(cfg, meta, svc, log, s.metrics); err != nil {
		meta.Close()
		unlock()
		return nil, err
	}

	e := &edge{log: log, m: newHTTPMetrics(s.metrics), idle: cfg.Limits.TransferIdleTimeout, trust: cfg.TrustProxyHeaders, replica: replicaName(cfg)}
	acc, err := newAccess(cfg, log, e.clientAddr, auditObserver{s.audit})
	if err != nil {
		meta.Close()
		unlock()
		return nil, fmt.Errorf("access control: %w", err)
	}
	var guard httpapi.Guard
	visible := func(string) bool { return true }
	mux := http.NewServeMux()
	if acc != nil {
		guard, visible = acc, acc.public
		mux.Handle("/token", acc.token)
	}
	api := httpapi.New(svc, log, guard)
	cache, err := mirror.New(svc, meta, log, mirror.Options{
		Upstreams: cfg.Mirrors, SpoolDir: mirror.SpoolDir(cfg.Data), Metrics: s.metrics, Replica: replicaName(cfg),
	})
	if err != nil {
		meta.Close()
		unlock()
		return nil, fmt.Errorf("pull-through cache: %w", err)
	}
	if cache != nil {
		api.UseMirror(cache)
		s.cache = cache
	}
	mux.Handle("/v2/", api)
	mux.HandleFunc(httpapi.UsagePath, api.ServeUsage)
	mux.HandleFunc(httpapi.UsagePath+"/", api.ServeUsage)
	mux.Handle("/berth/v1/", api)
	if cfg.Flatpak.Index {
		registryURL := "/"
		if cfg.PublicURL != "" {
			registryURL = strings.TrimSuffix(cfg.PublicURL, "/") + "/"
		}
		fh := flatpak.NewHandler(meta, log, flatpak.Options{Registry: registryURL, Visible: visible, Icons: flatpak.IconMode(cfg.Flatpak.Icons),
			DeltaURLs: cfg.Flatpak.Deltas.Enabled})
		s.metrics.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "berth_flatpak_index_cache_hits_total", Help: "Static Flatpak index answers served from the cache."},
				func() float64 { h, _ := fh.CacheStats(); return float64(h) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "berth_flatpak_index_cache_misses_total", Help: "Static Flatpak index answers rendered from the metadata store."},
				func() float64 { _, m := fh.CacheStats(); return float64(m) }),
		)
		mux.Handle("/index/", fh)
		mux.Handle("/flatpak/", flatpak.NewFilesHandler(meta, flatpak.FilesOptions{BaseURL: cfg.PublicURL, Title: cfg.Flatpak.Title, Visible: visible}))
	}
	if err := mountUI(mux, cfg, meta, acc, log); err != nil {
		meta.Close()
		unlock()
		return nil, fmt.Errorf("web UI: %w", err)
	}
	ops := mux
	if cfg.Metrics.Addr != "" {
		ops = http.NewServeMux()
	}
	ops.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok\n"))
	})
	ops.HandleFunc("/readyz", ready(probe, log))
	switch {
	case !cfg.Metrics.Enabled:
	case ops == mux && acc != nil:
		// Metrics count and time what every caller does in every repository, and show
		// every namespace's usage: on the registry's own address they would show anyone
		// what private pushes cost and caused (an upload of a blob held nowhere makes one
		// store operation more).
		log.Warn("metrics are not served on the registry address while access control is on; set metrics.addr to scrape them")
	default:
		ops.Handle("/metrics", promhttp.HandlerFor(s.metrics, promhttp.HandlerOpts{}))
	}

	if cfg.GC.Enabled {
		o := GCOptions(cfg)
		o.Audit = s.audit
		s.gc = gc.New(meta, blobs, log, o)
		registerGCMetrics(s.metrics, &s.gc.Totals)
	}
	if cfg.Lifecycle.Retention.Enabled {
		s.retain = retain
		registerRetentionMetrics(s.metrics, &s.retain.Totals)
	}

	if cfg.Limits.RequestsPerSecond > 0 {
		e.rate = limits.NewRateLimiter(cfg.Limits.RequestsPerSecond, cfg.Limits.Burst, time.Now)
	}
	if cfg.Limits.MaxConcurrentUploads > 0 {
		e.uploads = limits.NewSlots(cfg.Limits.MaxConcurrentUploads)
	}
	s.handler = e.wrap(mux)
	if ops != mux {
		s.ops = e.wrap(ops)
	}
	return s, nil
}

// replicaName is the configured name of this process, else the host name.
func replicaName(cfg config.Config) string {
	if cfg.Replica != "" {
		return cfg.Replica
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return ""
}

// GCOptions are the collection options of a configuration.
func GCOptions(cfg config.Config) gc.Options {
	return gc.Options{
		Interval:          cfg.GC.Interval,
		BlobGracePeriod:   cfg.GC.BlobGracePeriod,
		UntaggedManifests: cfg.GC.UntaggedManifests,
		UploadExpiry:      cfg.GC.UploadExpiry,
	}
}

// counter exposes a running total kept by a job (collection, retention, deltas) as a
// counter.
func counter(name, help string, v interface{ Load() int64 }) prometheus.Collector {
	return labeledCounter(name, help, nil, v)
}

// labeledCounter is counter for one series of a labelled metric.
func labeledCounter(name, help string, labels prometheus.Labels, v interface{ Load() int64 }) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: labels},
		func() float64 { return float64(v.Load()) })
}

func registerGCMetrics(reg prometheus.Registerer, t *gc.Totals) {
	reg.MustRegister(
		counter("berth_gc_passes_total", "Garbage collection passes run.", &t.Passes),
		counter("berth_gc_errors_total", "Garbage collection passes that failed.", &t.Errors),
		counter("berth_gc_uploads_total", "Expired upload sessions removed.", &t.Uploads),
		counter("berth_gc_manifests_total", "Untagged manifests deleted.", &t.Manifests),
		counter("berth_gc_links_total", "Unreferenced repository blob links removed.", &t.Links),
		counter("berth_gc_blobs_total", "Unreferenced blobs deleted.", &t.Blobs),
		counter("berth_gc_blob_bytes_total", "Bytes of deleted blobs.", &t.BlobBytes),
	)
}

// OpenStores opens the stores a configuration names, for commands that work on a
// registry's data without serving it (gc --dry-run).
func OpenStores(ctx context.Context, cfg config.Config) (metadata.Store, blobstore.Store, error) {
	meta, err := openMetadata(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("open metadata store: %w", err)
	}
	useDeltaPolicy(meta, cfg)
	blobs, err := openBlobs(ctx, cfg)
	if err != nil {
		meta.Close()
		return nil, nil, fmt.Errorf("open blob store: %w", err)
	}
	return meta, blobs, nil
}

// Handler is the whole HTTP handler of the registry's address.
func (s *Server) Handler() http.Handler { return s.handler }

// ready answers 200 when the metadata store answers a query.
func ready(repos metadata.Repositories, log *slog.Logger) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := repos.ListRepositories(ctx, "", 1); err != nil {
			log.Warn("not ready", "err", err)
			http.Error(w, "metadata store unavailable\n", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}
}

// Close stops the cache's fetches, writes the pull times still in memory, delivers what
// audit events it can in a few seconds, and releases the stores and the lock on the data
// directory.
func (s *Server) Close() error {
	if s.cache != nil {
		s.cache.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s.pulls.Flush(ctx)
	_ = s.audit.Close(ctx)
	err := s.meta.Close()
	s.unlock()
	return err
}
