package metadata

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// CachedRepository is a repository that the pull-through cache fills from an upstream
// registry: its content is a copy, read-only to clients, and may be expired by pull.
type CachedRepository struct {
	Name     string
	Upstream string // the upstream's name in the configuration (its prefix)
}

// CachedTag is a tag of a cached repository and when it was last checked against the
// upstream (the start of its time to live).
type CachedTag struct {
	Digest    digest.Digest
	CheckedAt time.Time
}

// Mirror is what the pull-through cache needs from a metadata store beyond pushes and
// pulls: manifests stored before their blobs, tags with a time to live, and a lease so
// that one replica fetches a blob while the others wait for it.
type Mirror interface {
	// PutCachedManifest stores a manifest fetched from upstream in repo and marks repo
	// as a cache of upstream, atomically. Unlike PutManifest it does not require the
	// manifest's blobs and children to be present: a cache fetches them when a client
	// asks. With tag not "", the tag points at the manifest and counts as checked at
	// `checked`.
	PutCachedManifest(ctx context.Context, repo, upstream string, m *Manifest, tag string, checked time.Time) error
	// CachedTag returns what a tag of repo points to and when it was last checked;
	// ErrNotFound when the tag does not exist. A tag that exists but was never
	// checked (repo is not a cache) has a zero CheckedAt.
	CachedTag(ctx context.Context, repo, tag string) (CachedTag, error)
	// TagChecked records that upstream still has the tag of repo where the store has
	// it; ErrNotFound when the tag does not exist.
	TagChecked(ctx context.Context, repo, tag string, checked time.Time) error
	// CachedRepositories lists the cached repositories after the name `after`.
	CachedRepositories(ctx context.Context, after string, limit int) ([]CachedRepository, error)

	// AcquireFetch takes (or, for the same owner, extends) the lease on fetching blob d
	// from upstream for ttl; false when another owner holds a lease that has not expired.
	AcquireFetch(ctx context.Context, d digest.Digest, owner string, ttl time.Duration) (bool, error)
	// ReleaseFetch ends owner's lease on d; no error when it holds none.
	ReleaseFetch(ctx context.Context, d digest.Digest, owner string) error
}
