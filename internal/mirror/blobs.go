package mirror

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/registry"
)

// StatBlob returns the size of a blob of a cached repository that the store lacks, as
// the upstream gives it (a HEAD; nothing is fetched).
func (c *Cache) StatBlob(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	u := c.route(repo)
	if u == nil {
		return 0, fmt.Errorf("%w: %s", registry.ErrBlobUnknown, d)
	}
	size, err := c.headBlob(ctx, u, repo, d)
	if err != nil {
		c.count(u, "blob", "error")
		return 0, err
	}
	return size, nil
}

func (c *Cache) headBlob(ctx context.Context, u *upstream, repo string, d digest.Digest) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, u.cfg.Timeout)
	defer cancel()
	size, err := u.client.BlobHead(ctx, u.repository(repo), d.String())
	if err != nil {
		if notFound, ferr := failure(u, &upstreamError{err}); notFound {
			return 0, fmt.Errorf("%w: %s is not in %s on the upstream %s", registry.ErrBlobUnknown, d, repo, u.cfg.Prefix)
		} else {
			return 0, ferr
		}
	}
	return size, nil
}

// FetchBlob streams a blob of a cached repository that the store lacks. Bytes reach the
// client while the blob is stored: one fetch from the upstream (per blob, per process;
// replicas sharing a store take turns through a lease) serves every client asking at
// the same time. The stream holds back its last byte until the whole blob is verified
// and stored, and fails instead of ending if it is not, so no client ever receives a
// complete unverified blob. Seek (from the start, before reading) serves ranges.
func (c *Cache) FetchBlob(ctx context.Context, repo string, d digest.Digest) (io.ReadSeekCloser, int64, error) {
	u := c.route(repo)
	if u == nil {
		return nil, 0, fmt.Errorf("%w: %s", registry.ErrBlobUnknown, d)
	}
	rs, size, err := c.fetchBlob(ctx, u, repo, d)
	if err != nil {
		c.count(u, "blob", "error")
		return nil, 0, err
	}
	c.count(u, "blob", StatusMiss)
	return rs, size, nil
}

func (c *Cache) fetchBlob(ctx context.Context, u *upstream, repo string, d digest.Digest) (io.ReadSeekCloser, int64, error) {
	// Another repository may hold it: linked once the upstream confirms this one has it
	// too (a HEAD costs less than the bytes, and a cache must not serve a blob under a
	// name the upstream does not).
	if b, err := c.meta.Blob(ctx, d); err == nil {
		if _, err := c.headBlob(ctx, u, repo, d); err != nil {
			return nil, 0, err
		}
		if b, err = c.svc.LinkCachedBlob(ctx, repo, d); err == nil {
			return &storedReader{ctx: ctx, svc: c.svc, d: d}, b.Size, nil
		} else if !errors.Is(err, metadata.ErrNotFound) {
			return nil, 0, err
		}
		// Collected a moment ago: fetch it again.
	} else if !errors.Is(err, metadata.ErrNotFound) {
		return nil, 0, err
	}
	f, err := c.join(ctx, u, repo, d)
	if err != nil {
		return nil, 0, err
	}
	select {
	case <-f.ready:
	case <-ctx.Done():
		f.release()
		return nil, 0, ctx.Err()
	}
	if err := f.failed(); err != nil {
		f.release()
		return nil, 0, err
	}
	return &flightReader{ctx: ctx, f: f, repo: repo}, f.sizeNow(), nil
}

// ensureBlob makes d a blob of repo, fetching it whole if needed (an image config
// before its manifest is described).
func (c *Cache) ensureBlob(ctx context.Context, u *upstream, repo string, d digest.Digest) error {
	if _, err := c.meta.RepositoryBlob(ctx, repo, d); err == nil {
		return nil
	}
	rs, _, err := c.fetchBlob(ctx, u, repo, d)
	if err != nil {
		return err
	}
	defer rs.Close()
	if _, err := io.Copy(io.Discard, rs); err != nil {
		return fmt.Errorf("fetch blob %s: %w", d, err)
	}
	return nil
}

// storedReader reads a blob from the store from where Seek put it.
type storedReader struct {
	ctx context.Context
	svc *registry.Service
	d   digest.Digest
	pos int64
	rc  io.ReadCloser
}

func (r *storedReader) Read(p []byte) (int, error) {
	if r.rc == nil {
		rc, err := r.svc.OpenBlob(r.ctx, r.d, r.pos, -1)
		if err != nil {
			return 0, err
		}
		r.rc = rc
	}
	n, err := r.rc.Read(p)
	r.pos += int64(n)
	return n, err
}

func (r *storedReader) Seek(offset int64, whence int) (int64, error) {
	if whence != io.SeekStart || offset < 0 || r.rc != nil {
		return r.pos, errors.New("storedReader: only a seek from the start before reading")
	}
	r.pos = offset
	return offset, nil
}

func (r *storedReader) Close() error {
	if r.rc != nil {
		return r.rc.Close()
	}
	return nil
}
