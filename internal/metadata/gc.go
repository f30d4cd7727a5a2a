package metadata

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// ManifestRef names a manifest in a repository.
type ManifestRef struct {
	Repository string
	Digest     digest.Digest
}

// BlobLink is a blob linked into a repository.
type BlobLink struct {
	Repository string
	Digest     digest.Digest
}

// Collector is what garbage collection needs from a metadata store. Listing methods
// only propose candidates; each Delete method checks again, in the transaction that
// deletes, that the candidate is still garbage, so a push that races a collection
// always wins.
type Collector interface {
	// UntaggedManifests lists manifests created before `before` that no tag and no
	// index of their repository refers to, that are not a referrer of a manifest still
	// in the repository, and that are not the source of Flatpak deltas (a Flatpak a tag
	// left within the DeltaPolicy's window, when deltas are on).
	UntaggedManifests(ctx context.Context, before time.Time, limit int) ([]ManifestRef, error)
	// DeleteUntaggedManifest deletes the manifest if it is still such a candidate.
	DeleteUntaggedManifest(ctx context.Context, m ManifestRef, before time.Time) (bool, error)

	// UnreferencedLinks lists links made before `before` that no manifest of their
	// repository uses.
	UnreferencedLinks(ctx context.Context, before time.Time, limit int) ([]BlobLink, error)
	// DeleteUnreferencedLink deletes the link if it is still such a candidate.
	DeleteUnreferencedLink(ctx context.Context, l BlobLink, before time.Time) (bool, error)

	// UnreferencedBlobs lists blobs linked into no repository, last linked before `before`.
	UnreferencedBlobs(ctx context.Context, before time.Time, limit int) ([]Blob, error)
	// DeleteUnreferencedBlob deletes the blob's record if it is still such a candidate,
	// calling removeBytes first within the same transaction: no link can be made to the
	// blob while its bytes go, and a failure to remove them keeps the record.
	DeleteUnreferencedBlob(ctx context.Context, d digest.Digest, before time.Time, removeBytes func() error) (bool, error)

	// ExpiredUploads lists upload sessions not advanced since before.
	ExpiredUploads(ctx context.Context, before time.Time, limit int) ([]Upload, error)
}
