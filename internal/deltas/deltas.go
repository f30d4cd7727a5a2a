// Package deltas makes Flatpak image deltas in the background. When a tag moves to a
// Flatpak image, the metadata store queues a job in the transaction of the move; a worker
// takes it and makes, for each architecture, tar-diff deltas (internal/tardiff) from the
// images the tag held within the window to the new one. Each delta is applied to the old
// layer and its output checked against the target's DiffID before it is published, and
// only deltas that save enough are: as blobs and one delta manifest per target image in
// the same repository, listed by the OCI index tagged _deltaindex (flatpak-oci-specs,
// image-deltas.md).
//
// It never runs inside a request. Jobs are leased from the metadata store, so on many
// replicas each job runs on one; a worker that dies leaves a lease that runs out, and the
// job runs again. Nothing is visible to clients before it is complete: blobs first, then
// the delta manifest, then the record, then _deltaindex.
package deltas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/tardiff"
)

// Actor names the worker in the records of the changes it makes (tag history, audit).
const Actor = "deltas"

// Options configure the workers.
type Options struct {
	// Window is how far back a tag's history gives sources (default 30 days).
	Window time.Duration
	// Sources bounds the source images of one target (default 5): the newest first.
	Sources int
	// Workers is how many jobs run at once in this process (default 1).
	Workers int
	// MaxLayerSize bounds an uncompressed layer, in bytes (default 4 GiB). A larger one,
	// or a decompression bomb, is refused and logged; disk use of a job is about twice
	// this, memory a small part of it.
	MaxLayerSize int64
	// MinSavings is the fraction of the compressed layer a delta must save to be
	// published (default 0.2).
	MinSavings float64
	// TempDir holds the spilled layers of running jobs ("" for the system's).
	TempDir string
	// Replica names this process in the tag history and, with the worker's number
	// (replica/0, replica/1, …), as the owner of the jobs it leases.
	Replica string
	// Lease is how long a job stays with its worker without renewal (default 5 minutes);
	// it is renewed every third of it.
	Lease time.Duration
	// Poll is the pause between looks for queued jobs when there are none (default 2s).
	Poll time.Duration
	// ExpireEvery is the pause between expiries of stale deltas (default 10 minutes).
	ExpireEvery time.Duration
	// Observe, when set, is told the outcome of every job ("done", "failed", "retry")
	// and how long it ran.
	Observe func(outcome string, d time.Duration)
}

func (o Options) withDefaults() Options {
	if o.Window <= 0 {
		o.Window = 30 * 24 * time.Hour
	}
	if o.Sources <= 0 {
		o.Sources = 5
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if o.MaxLayerSize <= 0 {
		o.MaxLayerSize = 4 << 30
	}
	if o.MinSavings <= 0 || o.MinSavings >= 1 {
		o.MinSavings = 0.2
	}
	if o.Lease <= 0 {
		o.Lease = 5 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = 2 * time.Second
	}
	if o.ExpireEvery <= 0 {
		o.ExpireEvery = 10 * time.Minute
	}
	return o
}

// Metadata is what the workers need of the metadata store: the queue and record of
// deltas, and the tags' history for the sources.
type Metadata interface {
	metadata.Deltas
	metadata.TagHistory
}

// Registry is what the workers need of the registry service: reading images and
// publishing blobs and manifests with the same checks as a push.
type Registry interface {
	Manifest(ctx context.Context, repo string, ref registry.Reference) (*metadata.Manifest, error)
	Blob(ctx context.Context, repo string, d digest.Digest) (metadata.Blob, error)
	OpenBlob(ctx context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, error)
	PutBlob(ctx context.Context, repo string, d digest.Digest, size int64, r io.Reader) (metadata.Blob, error)
	PutManifest(ctx context.Context, repo string, ref registry.Reference, contentType string, body io.Reader, extraTags []string) (registry.PutResult, error)
}

// Totals are the running counts since start, for metrics.
type Totals struct {
	// JobsDone and JobsFailed count finished jobs; JobsRetried attempts to be tried again.
	JobsDone, JobsFailed, JobsRetried atomic.Int64
	// Published counts delta blobs published; NotWorth those made and verified but not
	// saving enough; Refused layers beyond the bound or unreadable; VerifyFailed deltas
	// whose output did not match the target DiffID (never published).
	Published, NotWorth, Refused, VerifyFailed atomic.Int64
	// BytesSaved is the sum over published deltas of the layer's size less the delta's.
	BytesSaved atomic.Int64
}

// Worker runs delta jobs.
type Worker struct {
	meta Metadata
	reg  Registry
	log  *slog.Logger
	opts Options
	// Totals are exported for metrics.
	Totals Totals

	// diff makes a delta (tardiff.Diff); a test swaps it to inject a broken one.
	diff func(ctx context.Context, old *tardiff.TarIndex, newTar io.Reader, w io.Writer, o tardiff.Options) (tardiff.Stats, error)
	// retryIn is how long a job that failed for a passing reason waits (backoff).
	retryIn func(attempts int) time.Duration
	// indexMu serialises this process's writes of _deltaindex (other replicas are
	// handled by writing until what was written is what the store lists).
	indexMu sync.Mutex
}

// New returns a worker; Run runs it.
func New(meta Metadata, reg Registry, log *slog.Logger, opts Options) *Worker {
	return &Worker{meta: meta, reg: reg, log: log, opts: opts.withDefaults(), diff: tardiff.Diff, retryIn: backoff}
}

// Run runs the workers and the expiry until ctx ends.
func (w *Worker) Run(ctx context.Context) {
	ctx = metadata.WithReplica(metadata.WithActor(ctx, Actor), w.opts.Replica)
	var wg sync.WaitGroup
	for i := range w.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The thread is lowered in priority and never given back: it ends with the
			// goroutine, so no request ever runs on it.
			runtime.LockOSThread()
			if err := lowerPriority(); err != nil && i == 0 {
				w.log.Warn("delta workers run at normal priority", "err", err)
			}
			w.work(ctx, fmt.Sprintf("%s/%d", w.opts.Replica, i))
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.expireLoop(ctx)
	}()
	wg.Wait()
}

// work claims and runs jobs as owner until ctx ends. Each worker owns its leases under
// a name of its own: were they the replica's, a worker whose lease ran out while it
// stalled would still renew and finish a job a sibling had claimed again.
func (w *Worker) work(ctx context.Context, owner string) {
	for ctx.Err() == nil {
		ran, err := w.runOne(ctx, owner)
		if err != nil && ctx.Err() == nil {
			w.log.Error("delta job queue", "err", err)
		}
		if ran {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(w.opts.Poll):
		}
	}
}

// RunOne claims one due job and runs it, as the replica; it reports whether there was
// one.
func (w *Worker) RunOne(ctx context.Context) (bool, error) { return w.runOne(ctx, w.opts.Replica) }

func (w *Worker) runOne(ctx context.Context, owner string) (bool, error) {
	ctx = metadata.WithReplica(metadata.WithActor(ctx, Actor), w.opts.Replica)
	j, err := w.meta.ClaimDeltaJob(ctx, owner, w.opts.Lease)
	if errors.Is(err, metadata.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("claim: %w", err)
	}
	w.process(ctx, j)
	return true, nil
}

// maxAttempts is how many times a job failing for a passing reason is tried.
const maxAttempts = 5

// process runs one job under its lease and records the outcome.
func (w *Worker) process(ctx context.Context, j metadata.DeltaJob) {
	start, cpu := time.Now(), threadCPU()
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		w.renew(jctx, cancel, j)
	}()
	log := w.log.With("repo", j.Repository, "tag", j.Tag, "target", j.Target, "attempt", j.Attempts)
	rep, err := w.runJob(jctx, j)
	cancel()
	<-renewed

	var out metadata.DeltaOutcome
	outcome := "done"
	switch {
	case err == nil && rep.VerifyFailed > 0:
		// Published what verified; the job says what did not.
		out.Error = fmt.Sprintf("%d deltas failed verification and were not published", rep.VerifyFailed)
		outcome = "failed"
	case err == nil:
	case ctx.Err() != nil:
		// Shutting down: due again at once, for whoever runs next.
		out = metadata.DeltaOutcome{Error: "interrupted", RetryAt: time.Now()}
		outcome = "retry"
	case isPermanent(err) || j.Attempts >= maxAttempts:
		out.Error = err.Error()
		outcome = "failed"
	default:
		out = metadata.DeltaOutcome{Error: err.Error(), RetryAt: time.Now().Add(w.retryIn(j.Attempts))}
		outcome = "retry"
	}
	// Under Run the job ran on this goroutine's own thread, so the thread's CPU time is
	// the job's, whatever else the process did; dur includes the waits of a niced thread.
	dur, cpu := time.Since(start), threadCPU()-cpu
	switch outcome {
	case "done":
		w.Totals.JobsDone.Add(1)
		log.Info("deltas made", "targets", rep.Targets, "published", rep.Published, "kept", rep.Kept,
			"not_worth", rep.NotWorth, "refused", rep.Refused, "saved", rep.Saved, "dur", dur, "cpu", cpu)
	case "failed":
		w.Totals.JobsFailed.Add(1)
		log.Error("delta job failed", "err", out.Error, "published", rep.Published, "dur", dur)
	case "retry":
		w.Totals.JobsRetried.Add(1)
		log.Warn("delta job to be retried", "err", out.Error, "retry_at", out.RetryAt, "dur", dur)
	}
	if w.opts.Observe != nil {
		w.opts.Observe(outcome, dur)
	}
	// The job's context may be over (shutdown); the outcome is written all the same.
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer fcancel()
	if err := w.meta.FinishDeltaJob(fctx, j, out); err != nil {
		if errors.Is(err, metadata.ErrNotFound) {
			log.Warn("delta job lease lost before the job ended; it runs again")
			return
		}
		log.Error("record delta job outcome", "err", err)
	}
}

// renew keeps the lease until ctx ends; when it is lost (this process stalled beyond
// it and another took the job), the job is cancelled.
func (w *Worker) renew(ctx context.Context, cancel context.CancelFunc, j metadata.DeltaJob) {
	t := time.NewTicker(w.opts.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := w.meta.RenewDeltaJob(ctx, j, w.opts.Lease)
		if errors.Is(err, metadata.ErrNotFound) {
			w.log.Warn("delta job lease lost; stopping it", "repo", j.Repository, "tag", j.Tag)
			cancel()
			return
		}
		if err != nil && ctx.Err() == nil {
			w.log.Warn("renew delta job lease", "err", err)
		}
	}
}

// backoff is 1, 2, 4, ... minutes after each failed attempt, at most an hour.
func backoff(attempts int) time.Duration {
	d := 30 * time.Second << min(attempts, 7)
	return min(d, time.Hour)
}

// permanentError is a failure that trying again cannot mend (a broken image).
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(format string, args ...any) error {
	return permanentError{fmt.Errorf(format, args...)}
}

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p) || errors.Is(err, registry.ErrDenied)
}

// expireLoop forgets stale deltas every ExpireEvery and rewrites the _deltaindex of the
// repositories that lost some.
func (w *Worker) expireLoop(ctx context.Context) {
	for {
		if err := w.Expire(ctx); err != nil && ctx.Err() == nil {
			w.log.Error("expire deltas", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(w.opts.ExpireEvery):
		}
	}
}

// Expire forgets the deltas whose source left its tag before the window or whose target
// or source is gone, and writes again the _deltaindex of the repositories concerned.
func (w *Worker) Expire(ctx context.Context) error {
	ctx = metadata.WithReplica(metadata.WithActor(ctx, Actor), w.opts.Replica)
	ex, err := w.meta.ExpireDeltas(ctx, time.Now().Add(-w.opts.Window))
	if err != nil {
		return err
	}
	var errs []error
	for _, repo := range ex.Repositories {
		if err := w.writeIndex(ctx, repo); err != nil {
			errs = append(errs, fmt.Errorf("rewrite _deltaindex of %s: %w", repo, err))
		}
	}
	if len(ex.Manifests) > 0 {
		w.log.Info("stale deltas expired", "delta_manifests", len(ex.Manifests), "repositories", len(ex.Repositories))
	}
	return errors.Join(errs...)
}
