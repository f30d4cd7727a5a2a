// Package gc is Berth's online garbage collection. It runs beside pushes and pulls, in
// every replica, and never needs the registry to stop: the metadata store proposes
// candidates, and re-checks each one in the transaction that deletes it, so whatever a
// concurrent push links or references first is kept. What it collects, in order:
// expired upload sessions, untagged manifests (when enabled), links of blobs that no
// manifest of their repository uses, and blobs linked nowhere — each only once it has
// been left alone for the grace period.
package gc

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/blobstore"
	"github.com/berth-registry/berth/internal/metadata"
)

// Options configure collection.
type Options struct {
	// Interval is the pause between passes of Run.
	Interval time.Duration
	// BlobGracePeriod protects links, blobs and manifests younger than this.
	BlobGracePeriod time.Duration
	// UntaggedManifests collects manifests no tag or index refers to.
	UntaggedManifests bool
	// UploadExpiry abandons upload sessions idle for this long.
	UploadExpiry time.Duration
	// Batch is how many candidates one query proposes (default 500).
	Batch int
	// Audit receives an event for every manifest, link and blob deleted (nil: none).
	Audit *audit.Emitter
}

// Report counts what a pass collected (or, dry, would collect).
type Report struct {
	Uploads, Manifests, Links, Blobs int
	BlobBytes                        int64
}

// Totals are the running counts since start, for metrics.
type Totals struct {
	Passes, Uploads, Manifests, Links, Blobs, BlobBytes, Errors atomic.Int64
}

// Metadata is what collection needs of the metadata store: the candidates and their
// checked deletes, and ending an expired upload session.
type Metadata interface {
	metadata.Collector
	// DeleteUpload is metadata.Uploads' DeleteUpload.
	DeleteUpload(ctx context.Context, id string) error
}

// Blobs is what collection needs of the blob store (with the contract of
// blobstore.Store): removing the bytes of collected blobs and abandoned uploads.
type Blobs interface {
	Delete(ctx context.Context, d digest.Digest) error
	Abort(ctx context.Context, upload string) error
}

// Collector collects garbage from a metadata store and a blob store.
type Collector struct {
	meta   Metadata
	blobs  Blobs
	log    *slog.Logger
	opts   Options
	now    func() time.Time
	Totals Totals
}

// New returns a collector.
func New(meta Metadata, blobs Blobs, log *slog.Logger, opts Options) *Collector {
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	return &Collector{meta: meta, blobs: blobs, log: log, opts: opts, now: time.Now}
}

// Run collects every Interval until ctx ends. A failed pass is logged and retried at
// the next interval.
func (c *Collector) Run(ctx context.Context) {
	t := time.NewTicker(c.opts.Interval)
	defer t.Stop()
	for {
		r, err := c.Pass(ctx)
		if err != nil && ctx.Err() == nil {
			c.Totals.Errors.Add(1)
			c.log.Error("garbage collection pass failed", "err", err)
		} else if r != (Report{}) {
			c.log.Info("garbage collected", "uploads", r.Uploads, "manifests", r.Manifests, "links", r.Links, "blobs", r.Blobs, "bytes", r.BlobBytes)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass runs one collection.
func (c *Collector) Pass(ctx context.Context) (Report, error) {
	var r Report
	now := c.now()
	graceCut := now.Add(-c.opts.BlobGracePeriod)
	err := errors.Join(
		c.uploads(ctx, now.Add(-c.opts.UploadExpiry), &r),
		c.manifests(ctx, graceCut, &r),
		c.links(ctx, graceCut, &r),
		c.blobsPass(ctx, graceCut, &r),
	)
	c.Totals.Passes.Add(1)
	c.Totals.Uploads.Add(int64(r.Uploads))
	c.Totals.Manifests.Add(int64(r.Manifests))
	c.Totals.Links.Add(int64(r.Links))
	c.Totals.Blobs.Add(int64(r.Blobs))
	c.Totals.BlobBytes.Add(r.BlobBytes)
	return r, err
}

func (c *Collector) uploads(ctx context.Context, before time.Time, r *Report) error {
	for {
		ups, err := c.meta.ExpiredUploads(ctx, before, c.opts.Batch)
		if err != nil || len(ups) == 0 {
			return err
		}
		for _, u := range ups {
			if err := c.blobs.Abort(ctx, u.ID); err != nil {
				return err
			}
			if err := c.meta.DeleteUpload(ctx, u.ID); err != nil && !errors.Is(err, metadata.ErrNotFound) {
				return err
			}
			r.Uploads++
		}
		if len(ups) < c.opts.Batch {
			return nil
		}
	}
}

// manifests repeats until nothing is left, because deleting an index frees its children.
func (c *Collector) manifests(ctx context.Context, before time.Time, r *Report) error {
	if !c.opts.UntaggedManifests {
		return nil
	}
	for {
		ms, err := c.meta.UntaggedManifests(ctx, before, c.opts.Batch)
		if err != nil {
			return err
		}
		deleted := 0
		for _, m := range ms {
			ok, err := c.meta.DeleteUntaggedManifest(ctx, m, before)
			if err != nil {
				return err
			}
			if ok {
				deleted++
				c.deleted(ctx, "manifest", m.Repository+"@"+m.Digest.String(), audit.Data{Repository: m.Repository, Digest: m.Digest.String()})
			}
		}
		r.Manifests += deleted
		if deleted == 0 {
			return nil
		}
	}
}

func (c *Collector) links(ctx context.Context, before time.Time, r *Report) error {
	for {
		ls, err := c.meta.UnreferencedLinks(ctx, before, c.opts.Batch)
		if err != nil {
			return err
		}
		deleted := 0
		for _, l := range ls {
			ok, err := c.meta.DeleteUnreferencedLink(ctx, l, before)
			if err != nil {
				return err
			}
			if ok {
				deleted++
				c.deleted(ctx, "link", l.Repository+"@"+l.Digest.String(), audit.Data{Repository: l.Repository, Digest: l.Digest.String()})
			}
		}
		r.Links += deleted
		if deleted == 0 || len(ls) < c.opts.Batch {
			return nil
		}
	}
}

func (c *Collector) blobsPass(ctx context.Context, before time.Time, r *Report) error {
	for {
		bs, err := c.meta.UnreferencedBlobs(ctx, before, c.opts.Batch)
		if err != nil {
			return err
		}
		deleted := 0
		for _, b := range bs {
			ok, err := c.meta.DeleteUnreferencedBlob(ctx, b.Digest, before, func() error {
				if err := c.blobs.Delete(ctx, b.Digest); err != nil && !errors.Is(err, blobstore.ErrNotFound) {
					return err
				}
				return nil
			})
			if err != nil {
				return err
			}
			if ok {
				deleted++
				r.BlobBytes += b.Size
				c.deleted(ctx, "blob", b.Digest.String(), audit.Data{Digest: b.Digest.String(), Size: b.Size})
			}
		}
		r.Blobs += deleted
		if deleted == 0 || len(bs) < c.opts.Batch {
			return nil
		}
	}
}

// deleted records what a pass deleted as an audit event of the actor "gc".
func (c *Collector) deleted(ctx context.Context, kind, subject string, d audit.Data) {
	d.Kind = kind
	c.opts.Audit.Emit(ctx, audit.Event{Type: audit.GCDeleted, Actor: "gc", Subject: subject, Data: d})
}

// DryRun reports what a pass would collect now, changing nothing. Blobs whose last link
// goes in a pass are counted in the next one, as a real pass would find them.
func (c *Collector) DryRun(ctx context.Context, limit int) (Report, error) {
	var r Report
	now := c.now()
	graceCut := now.Add(-c.opts.BlobGracePeriod)
	ups, err := c.meta.ExpiredUploads(ctx, now.Add(-c.opts.UploadExpiry), limit)
	if err != nil {
		return r, err
	}
	r.Uploads = len(ups)
	if c.opts.UntaggedManifests {
		ms, err := c.meta.UntaggedManifests(ctx, graceCut, limit)
		if err != nil {
			return r, err
		}
		r.Manifests = len(ms)
	}
	ls, err := c.meta.UnreferencedLinks(ctx, graceCut, limit)
	if err != nil {
		return r, err
	}
	r.Links = len(ls)
	bs, err := c.meta.UnreferencedBlobs(ctx, graceCut, limit)
	if err != nil {
		return r, err
	}
	r.Blobs = len(bs)
	for _, b := range bs {
		r.BlobBytes += b.Size
	}
	return r, nil
}
