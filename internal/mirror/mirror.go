// Package mirror is Berth's pull-through cache. Repositories under a configured prefix
// are copies of an upstream registry's (Docker Hub, ghcr.io, a company registry): a
// manifest or blob the store lacks is fetched with Berth's own client and stored through
// the registry service — blobs through the same verified upload path as a push, streamed
// to the client while they are stored — and a tag is asked again of the upstream once
// its time to live is over. When the upstream fails (unreachable, slow, 5xx, 429) what
// is stored is served, marked stale. Cached repositories are read-only to clients; the
// HTTP edge consults Covers to refuse writes.
//
// It must not: serve a blob whose digest it has not verified, buffer a blob in memory,
// or let one client's cancelled request fail a fetch other clients share.
package mirror

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/registry"
)

// Cache-status values, sent to clients in the Berth-Cache header (docs/mirror.md).
const (
	StatusHit         = "hit"         // served from the store, within its time to live
	StatusRevalidated = "revalidated" // the upstream confirmed (or moved) the tag; nothing downloaded
	StatusMiss        = "miss"        // fetched from the upstream
	StatusStale       = "stale"       // the upstream failed; the stored copy is served
)

// Actor names the cache in the records of the changes it makes (tag history).
const Actor = "mirror"

// Options configure a Cache.
type Options struct {
	// Upstreams are the configured upstreams.
	Upstreams []Config
	// SpoolDir holds the bytes of blobs being fetched while clients read them
	// (anonymous files, gone when the fetch ends or the process dies).
	SpoolDir string
	// Getenv reads the variables password_env names (os.Getenv when nil).
	Getenv func(string) string
	// Metrics registers the cache's metrics (none when nil).
	Metrics prometheus.Registerer
	// LeaseTTL is how long a replica's claim on fetching a blob lasts without renewal
	// (default 30s): how long the others wait when the fetching replica dies.
	LeaseTTL time.Duration
	// Poll is how often a replica waiting for another's fetch looks (default 200ms).
	Poll time.Duration
	// Replica names this process in the records of the cache's changes (tag history),
	// made as the actor "mirror".
	Replica string
}

// Cache is the pull-through cache.
type Cache struct {
	svc   *registry.Service
	meta  store
	log   *slog.Logger
	ups   []*upstream // longest prefix first
	m     *metrics
	spool string
	owner string // this process, in fetch leases
	lease time.Duration
	poll  time.Duration
	now   func() time.Time

	tags group[string] // revalidations in flight, by repository and tag

	// base is the parent of the work that outlives the request that started it
	// (shared fetches); Close cancels it and waits for that work.
	base   context.Context
	cancel context.CancelFunc
	work   sync.WaitGroup

	mu      sync.Mutex
	flights map[digest.Digest]*flight // blob fetches in flight, by digest
}

// New returns the cache over the registry service and metadata store, or nil when no
// upstream is configured. It reads password files and TLS files now, so that a bad
// one stops Berth at start.
func New(svc *registry.Service, meta metadata.Store, log *slog.Logger, opts Options) (*Cache, error) {
	if len(opts.Upstreams) == 0 {
		return nil, nil
	}
	if err := Validate(opts.Upstreams); err != nil {
		return nil, err
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = 30 * time.Second
	}
	if opts.Poll <= 0 {
		opts.Poll = 200 * time.Millisecond
	}
	if err := os.MkdirAll(opts.SpoolDir, 0o750); err != nil {
		return nil, fmt.Errorf("mirror spool: %w", err)
	}
	c := &Cache{
		svc: svc, meta: meta, log: log, m: newMetrics(opts.Metrics),
		spool: opts.SpoolDir, owner: rand.Text(), lease: opts.LeaseTTL, poll: opts.Poll,
		now: time.Now, flights: map[digest.Digest]*flight{},
	}
	// The cache's own writes (tags it moves, blobs it stores) are the mirror's, not
	// those of the client whose pull caused them.
	c.base, c.cancel = context.WithCancel(metadata.WithReplica(metadata.WithActor(context.Background(), Actor), opts.Replica))
	c.tags.work = &c.work
	for _, uc := range opts.Upstreams {
		u, err := newUpstream(uc, opts.Getenv, c.m)
		if err != nil {
			return nil, err
		}
		c.ups = append(c.ups, u)
		log.Info("pull-through cache", "prefix", u.cfg.Prefix, "upstream", uc.URL, "tag_ttl", u.cfg.TagTTL, "authenticated", u.cfg.Username != "")
	}
	slices.SortFunc(c.ups, func(a, b *upstream) int { return len(b.cfg.Prefix) - len(a.cfg.Prefix) })
	return c, nil
}

// Close stops the fetches in flight and waits for them, before the stores close.
func (c *Cache) Close() {
	c.cancel()
	c.work.Wait()
}

// SpoolDir is where a data directory keeps the cache's spool.
func SpoolDir(data string) string { return filepath.Join(data, "mirror-spool") }

// route returns the upstream of a cached repository, or nil.
func (c *Cache) route(repo string) *upstream {
	for _, u := range c.ups {
		if strings.HasPrefix(repo, u.cfg.Prefix+"/") {
			return u
		}
	}
	return nil
}

// Covers reports whether repo is a cached repository (and so read-only to clients).
func (c *Cache) Covers(repo string) bool { return c.route(repo) != nil }

func (c *Cache) count(u *upstream, kind, status string) {
	c.m.requests.WithLabelValues(u.cfg.Prefix, kind, status).Inc()
}
