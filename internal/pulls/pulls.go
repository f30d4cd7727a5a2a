// Package pulls records when content was last pulled without a write per pull: a
// Recorder keeps the latest pull of each repository and reference in memory and writes
// them to the metadata store in batches, every flush interval and when it stops. A pull
// only takes a mutex. What a replica has not flushed when it crashes is lost, which costs
// at most one interval of pull times — never content.
package pulls

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// Store is where the recorder writes (metadata.Pulls' RecordPulls).
type Store interface {
	RecordPulls(ctx context.Context, pulls []metadata.Pull) error
}

// maxPending is how many distinct references wait before a flush is started early.
const maxPending = 1 << 16

type key struct{ repo, ref string }

// Recorder batches pulls. Its zero value is not usable; use New.
type Recorder struct {
	store    Store
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time

	mu      sync.Mutex
	pending map[key]time.Time
	full    chan struct{} // a flush is due before the interval ends
}

// New returns a recorder that writes to store every interval once Run runs.
func New(store Store, log *slog.Logger, interval time.Duration) *Recorder {
	return &Recorder{store: store, log: log, interval: interval, now: time.Now,
		pending: map[key]time.Time{}, full: make(chan struct{}, 1)}
}

// Pulled notes that repo served reference (a tag, or a manifest or blob digest) now.
func (r *Recorder) Pulled(repo, reference string) {
	at := r.now()
	r.mu.Lock()
	k := key{repo, reference}
	if prev, ok := r.pending[k]; !ok || at.After(prev) {
		r.pending[k] = at
	}
	n := len(r.pending)
	r.mu.Unlock()
	if n >= maxPending {
		select {
		case r.full <- struct{}{}:
		default:
		}
	}
}

// Run flushes every interval, and early when many pulls wait, until ctx ends; then it
// flushes what is left.
func (r *Recorder) Run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			r.Flush(context.WithoutCancel(ctx))
			return
		case <-t.C:
		case <-r.full:
		}
		r.Flush(ctx)
	}
}

// Flush writes the pulls noted so far. Pulls a failed write could not record are kept
// for the next flush (unless newer ones replaced them meanwhile).
func (r *Recorder) Flush(ctx context.Context) {
	r.mu.Lock()
	batch := r.pending
	r.pending = map[key]time.Time{}
	r.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	list := make([]metadata.Pull, 0, len(batch))
	for k, at := range batch {
		list = append(list, metadata.Pull{Repository: k.repo, Reference: k.ref, At: at})
	}
	if err := r.store.RecordPulls(ctx, list); err != nil {
		r.log.Warn("pull times not recorded; retrying at the next flush", "pulls", len(list), "err", err)
		r.mu.Lock()
		for k, at := range batch {
			if prev, ok := r.pending[k]; !ok || at.After(prev) {
				r.pending[k] = at
			}
		}
		r.mu.Unlock()
	}
}
