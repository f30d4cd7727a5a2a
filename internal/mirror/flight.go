package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/registry"
)

// A flight is one blob on its way from the upstream into the store. The bytes go
// through the registry service's upload path (hashed, verified, committed only when
// complete) and, as they pass, into a spool file that every client of the flight reads
// at its own pace: the first client never waits for the whole blob, a late one starts
// from the beginning, and a slow one slows nobody down. The spool is an unlinked
// temporary file, closed when the flight and its last reader are done.
type flight struct {
	c     *Cache
	u     *upstream
	repo  string // the repository the blob is stored into
	d     digest.Digest
	spool *os.File
	bytes prometheus.Counter
	ready chan struct{} // closed once the size is known, or the flight has ended
	once  sync.Once

	mu        sync.Mutex
	size      int64 // -1 until the upstream said
	written   int64 // bytes in the spool
	done      bool
	err       error // why the flight failed (when done)
	fromStore bool  // another replica stored the blob: readers read the store
	notify    chan struct{}
	refs      int // the flight itself and its readers (under c.mu)
}

// join returns the flight of d, starting one if none is in the air, with a reference
// for the caller to release.
func (c *Cache) join(ctx context.Context, u *upstream, repo string, d digest.Digest) (*flight, error) {
	c.mu.Lock()
	f := c.flights[d]
	if f == nil {
		spool, err := os.CreateTemp(c.spool, "fetch-*")
		if err != nil {
			c.mu.Unlock()
			return nil, fmt.Errorf("mirror spool: %w", err)
		}
		// Unlinked at once: nothing to clean up after a crash.
		_ = os.Remove(spool.Name())
		f = &flight{c: c, u: u, repo: repo, d: d, spool: spool, size: -1, ready: make(chan struct{}),
			notify: make(chan struct{}), refs: 1, bytes: c.m.fetchedBytes.WithLabelValues(u.cfg.Prefix)}
		c.flights[d] = f
		c.work.Add(1)
		go c.fly(f)
	}
	f.refs++
	c.mu.Unlock()
	if f.repo != repo {
		// Joined a fetch into another repository: this one must have the blob upstream
		// too, and is linked when the reader reaches the end.
		if _, err := c.headBlob(ctx, u, repo, d); err != nil {
			f.release()
			return nil, err
		}
	}
	return f, nil
}

func (f *flight) release() {
	f.c.mu.Lock()
	f.refs--
	last := f.refs == 0
	f.c.mu.Unlock()
	if last {
		f.spool.Close()
	}
}

// fly takes the fetch lease (waiting while another replica holds it), then fetches.
func (c *Cache) fly(f *flight) {
	c.m.inFlight.Inc()
	defer func() {
		c.m.inFlight.Dec()
		f.release()
		c.work.Done()
	}()
	ctx, cancel := context.WithCancel(c.base)
	defer cancel()
	for {
		ok, err := c.meta.AcquireFetch(ctx, f.d, c.owner, c.lease)
		if err != nil {
			f.finish(fmt.Errorf("fetch lease on %s: %w", f.d, err))
			return
		}
		if ok {
			break
		}
		// Another replica is fetching: its blob will appear in the store, or its lease
		// will lapse if it dies.
		if c.storedElsewhere(ctx, f) {
			return
		}
		if f.readers() == 0 {
			f.finish(context.Canceled)
			return
		}
		select {
		case <-ctx.Done():
			f.finish(ctx.Err())
			return
		case <-time.After(c.poll):
		}
	}
	defer func() {
		if err := c.meta.ReleaseFetch(context.Background(), f.d, c.owner); err != nil {
			c.log.Warn("fetch lease not released", "digest", f.d, "err", err)
		}
	}()
	stop := make(chan struct{})
	defer close(stop)
	go c.renew(f.d, stop)
	if c.storedElsewhere(ctx, f) {
		return // finished by another replica just before its lease ended
	}
	f.finish(c.download(ctx, cancel, f))
}

// renew extends the lease while the fetch runs.
func (c *Cache) renew(d digest.Digest, stop <-chan struct{}) {
	t := time.NewTicker(c.lease / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if _, err := c.meta.AcquireFetch(context.Background(), d, c.owner, c.lease); err != nil {
				c.log.Warn("fetch lease not renewed", "digest", d, "err", err)
			}
		}
	}
}

// storedElsewhere finishes the flight from the store when the blob is there already.
func (c *Cache) storedElsewhere(ctx context.Context, f *flight) bool {
	b, err := c.meta.RepositoryBlob(ctx, f.repo, f.d)
	if errors.Is(err, metadata.ErrNotFound) {
		if _, err = c.meta.Blob(ctx, f.d); err == nil {
			b, err = c.svc.LinkCachedBlob(ctx, f.repo, f.d)
		}
	}
	if errors.Is(err, registry.ErrDenied) {
		f.finish(err) // stored, but the namespace's quota has no room for this link
		return true
	}
	if err != nil {
		return false
	}
	f.mu.Lock()
	f.fromStore, f.size = true, b.Size
	f.mu.Unlock()
	f.finish(nil)
	return true
}

// download streams the blob from the upstream into the store and the spool.
func (c *Cache) download(ctx context.Context, cancel context.CancelFunc, f *flight) error {
	rc, size, err := f.u.client.BlobGet(ctx, f.u.repository(f.repo), f.d.String())
	if err != nil {
		if notFound, ferr := failure(f.u, &upstreamError{err}); notFound {
			return fmt.Errorf("%w: %s is not in %s on the upstream %s", registry.ErrBlobUnknown, f.d, f.repo, f.u.cfg.Prefix)
		} else {
			return ferr
		}
	}
	defer rc.Close()
	if size >= 0 {
		// Refused before any client is answered 200 for bytes that could not be kept.
		if err := c.svc.CheckRoom(ctx, f.repo, f.d, size); err != nil {
			return err
		}
		f.mu.Lock()
		f.size = size
		f.mu.Unlock()
		f.once.Do(func() { close(f.ready) })
	}
	body := newIdleReader(rc, f.u.cfg.Timeout, cancel)
	defer body.stop()
	start := time.Now()
	if _, err := c.svc.PutBlob(ctx, f.repo, f.d, size, io.TeeReader(body, f)); err != nil {
		if body.fired() {
			err = fmt.Errorf("%w: %s (%s) sent nothing for %s", registry.ErrUnavailable, f.u.cfg.Prefix, f.u.host, f.u.cfg.Timeout)
		}
		c.log.Warn("blob fetch failed; nothing cached", "repo", f.repo, "digest", f.d, "bytes", f.spooled(), "err", err)
		if errors.Is(err, registry.ErrDenied) {
			return err // the namespace's quota, not the upstream
		}
		return fmt.Errorf("%w: fetching %s from %s: %w", registry.ErrUnavailable, f.d, f.u.cfg.Prefix, err)
	}
	c.log.Info("blob cached", "repo", f.repo, "digest", f.d, "size", f.spooled(), "dur", time.Since(start))
	return nil
}

// Write appends fetched bytes to the spool and wakes the readers.
func (f *flight) Write(p []byte) (int, error) {
	n, err := f.spool.WriteAt(p, f.written)
	f.bytes.Add(float64(n))
	f.mu.Lock()
	f.written += int64(n)
	ch := f.notify
	f.notify = make(chan struct{})
	f.mu.Unlock()
	close(ch)
	return n, err
}

// finish ends the flight: from now on a request for the blob finds it in the store, or
// (after a failure) starts a new flight instead of joining this one.
func (f *flight) finish(err error) {
	f.c.mu.Lock()
	if f.c.flights[f.d] == f {
		delete(f.c.flights, f.d)
	}
	f.c.mu.Unlock()
	f.mu.Lock()
	f.done, f.err = true, err
	if err == nil && f.size < 0 {
		f.size = f.written
	}
	ch := f.notify
	f.notify = make(chan struct{})
	f.mu.Unlock()
	close(ch)
	f.once.Do(func() { close(f.ready) })
}

func (f *flight) failed() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done {
		return f.err
	}
	return nil
}

func (f *flight) spooled() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.written
}

func (f *flight) sizeNow() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.size
}

func (f *flight) readers() int {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	return f.refs - 1
}

// flightReader is one client's stream of a flight.
type flightReader struct {
	ctx    context.Context
	f      *flight
	repo   string // the client's repository, linked at the end if the flight's is another
	pos    int64
	store  io.ReadCloser
	eof    bool
	closed bool
}

func (r *flightReader) Read(p []byte) (int, error) {
	f := r.f
	for {
		f.mu.Lock()
		done, err, fromStore, written, size, ch := f.done, f.err, f.fromStore, f.written, f.size, f.notify
		f.mu.Unlock()
		switch {
		case done && err != nil:
			return 0, err
		case fromStore:
			return r.readStore(p)
		}
		avail := written
		if !done && size > 0 && avail >= size {
			avail = size - 1 // the last byte waits for the verification
		}
		if r.pos < avail {
			n, err := f.spool.ReadAt(p[:min(int64(len(p)), avail-r.pos)], r.pos)
			r.pos += int64(n)
			if errors.Is(err, io.EOF) && n > 0 {
				err = nil
			}
			return n, err
		}
		if done {
			return 0, r.end()
		}
		select {
		case <-ch:
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		}
	}
}

func (r *flightReader) readStore(p []byte) (int, error) {
	if r.store == nil {
		rc, err := r.f.c.svc.OpenBlob(r.ctx, r.f.d, r.pos, -1)
		if err != nil {
			return 0, err
		}
		r.store = rc
	}
	n, err := r.store.Read(p)
	r.pos += int64(n)
	if errors.Is(err, io.EOF) {
		if lerr := r.end(); lerr != nil {
			return n, lerr
		}
	}
	return n, err
}

// end links the blob into the reader's repository when the flight stored it in another.
func (r *flightReader) end() error {
	if r.eof {
		return io.EOF
	}
	r.eof = true
	if r.repo != "" && r.repo != r.f.repo {
		if _, err := r.f.c.svc.LinkCachedBlob(context.WithoutCancel(r.ctx), r.repo, r.f.d); err != nil {
			return fmt.Errorf("link cached blob %s into %s: %w", r.f.d, r.repo, err)
		}
	}
	return io.EOF
}

func (r *flightReader) Seek(offset int64, whence int) (int64, error) {
	if whence != io.SeekStart || offset < 0 || r.pos != 0 || r.store != nil {
		return r.pos, errors.New("flightReader: only a seek from the start before reading")
	}
	r.pos = offset
	return offset, nil
}

func (r *flightReader) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	if r.store != nil {
		r.store.Close()
	}
	r.f.release()
	return nil
}

// idleReader cancels a transfer whose upstream sends nothing for d. Only the time spent
// waiting in Read counts: the time the store takes to write what was read is not the
// upstream's stall.
type idleReader struct {
	r     io.Reader
	d     time.Duration
	t     *time.Timer
	mu    sync.Mutex
	fire  bool
	ended bool
}

func newIdleReader(r io.Reader, d time.Duration, cancel context.CancelFunc) *idleReader {
	ir := &idleReader{r: r, d: d}
	ir.t = time.AfterFunc(d, func() {
		ir.mu.Lock()
		ir.fire = !ir.ended
		ir.mu.Unlock()
		cancel()
	})
	ir.t.Stop() // armed only while Read waits
	return ir
}

func (ir *idleReader) Read(p []byte) (int, error) {
	ir.t.Reset(ir.d)
	defer ir.t.Stop()
	return ir.r.Read(p)
}

func (ir *idleReader) stop() {
	ir.mu.Lock()
	ir.ended = true
	ir.mu.Unlock()
	ir.t.Stop()
}

func (ir *idleReader) fired() bool {
	ir.mu.Lock()
	defer ir.mu.Unlock()
	return ir.fire
}
