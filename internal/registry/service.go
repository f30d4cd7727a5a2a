// Package registry is Berth's domain service: push, pull, mount, delete, uploads, listings
// and referrers, with their rules and transaction boundaries. It speaks in repository names,
// references and streams, never in HTTP; it reaches storage only through the metadata and
// blob store contracts.
package registry

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/lru"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// Options are the rules of a registry that its operator may change.
type Options struct {
	// MaxManifestSize is the largest manifest accepted, in bytes.
	MaxManifestSize int64
	// MaxPageSize is the largest page a listing returns; larger requests are clamped.
	MaxPageSize int
	// DeleteEnabled allows deleting tags, manifests and blobs.
	DeleteEnabled bool
	// BlobURL, when set, gives a URL from which a client may fetch a blob directly
	// (a presigned object-store URL), so that blob bytes do not pass through Berth.
	BlobURL func(ctx context.Context, d digest.Digest) (string, error)
	// Audit receives an event for every push, tag move, delete and untag (nil: none).
	Audit *audit.Emitter
	// Pulls, when set, is told of every manifest served (by tag and by digest), for
	// retention's last-pulled times; it must not block.
	Pulls PullRecorder
}

// PullRecorder notes pulls: reference is a tag, or a manifest or blob digest.
type PullRecorder interface {
	Pulled(repo, reference string)
}

// Metadata is what the service needs of the metadata store: every role but the index
// queries, garbage collection, the quota administration and retention.
type Metadata interface {
	metadata.Repositories
	metadata.Blobs
	metadata.Manifests
	metadata.Tags
	metadata.Referrers
	metadata.Uploads
	metadata.Quotas
	metadata.Mirror // CacheManifest stores through it
	metadata.TagHistory
}

// Blobs is what the service needs of the blob store: reading blobs and writing uploads,
// with the contract of blobstore.Store. Deleting committed blobs is garbage collection's
// alone.
type Blobs interface {
	Open(ctx context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, error)
	Append(ctx context.Context, upload string, offset int64, r io.Reader) (int64, error)
	Commit(ctx context.Context, upload string, size int64, d digest.Digest) error
	OpenUpload(ctx context.Context, upload string) (io.ReadCloser, error)
	Abort(ctx context.Context, upload string) error
}

// Service implements the registry's operations over a metadata store and a blob store.
type Service struct {
	meta  Metadata
	blobs Blobs
	log   *slog.Logger
	opts  Options

	// uploadLocks serialises requests on one upload session within this process, so two
	// concurrent PATCHes of a misbehaving client cannot interleave their bytes; the offset
	// check in the metadata store rejects the loser.
	uploadLocks keyedMutex

	// configs caches parsed image configs by repository and digest (they never change).
	configs *lru.Cache[configKey, oci.ImageConfig]
}

// configKey names a parsed image config as one repository pushed it.
type configKey struct {
	repo   string
	digest digest.Digest
}

// New returns a Service.
func New(meta Metadata, blobs Blobs, log *slog.Logger, opts Options) *Service {
	if opts.MaxManifestSize <= 0 {
		opts.MaxManifestSize = 4 << 20
	}
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = 1000
	}
	return &Service{meta: meta, blobs: blobs, log: log, opts: opts, configs: lru.New[configKey, oci.ImageConfig](4096)}
}

// Options returns the service's effective options.
func (s *Service) Options() Options { return s.opts }

func checkName(repo string) error {
	if !oci.ValidRepository(repo) {
		return fmt.Errorf("%w: %q", ErrNameInvalid, repo)
	}
	return nil
}

// keyedMutex is a set of mutexes created on demand and dropped when unused.
type keyedMutex struct {
	mu    sync.Mutex
	locks map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.locks == nil {
		k.locks = make(map[string]*keyedEntry)
	}
	e := k.locks[key]
	if e == nil {
		e = &keyedEntry{}
		k.locks[key] = e
	}
	e.refs++
	k.mu.Unlock()

	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.locks, key)
		}
		k.mu.Unlock()
	}
}
