// Package metadata defines Berth's metadata store: every fact about repositories, blobs,
// manifests, tags and upload sessions lives behind Store, in an indexed SQL database.
// Implementations live in sub-packages (sqlite, later postgres) and must all pass the
// contract suite in storetest. This package holds only types; it does no I/O itself.
package metadata

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// ErrNotFound reports that the repository, blob, manifest, tag or upload asked for does
// not exist (in that repository).
var ErrNotFound = errors.New("not found")

// ErrUploadConflict reports that an upload session was not at the offset the caller
// expected, because another request moved it first.
var ErrUploadConflict = errors.New("upload offset conflict")

// MissingError reports that a manifest refers to content that is not in the repository.
// Kind is "blob" for a config or layer, "manifest" for a child of an index.
type MissingError struct {
	Kind   string
	Digest digest.Digest
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s %s not in repository", e.Kind, e.Digest)
}

// Blob is a blob known to the registry.
type Blob struct {
	Digest digest.Digest
	Size   int64
}

// Manifest is a stored manifest with the facts extracted from it (and from its image
// config) at push time. Payload is the exact byte sequence that was pushed.
type Manifest struct {
	Digest          digest.Digest
	MediaType       string
	ArtifactType    string        // the manifest's artifactType field, "" if none
	ConfigDigest    digest.Digest // "" for indexes
	ConfigMediaType string
	Subject         digest.Digest // "" when the manifest has no subject
	OS              string        // from the image config; "" when not an image
	Architecture    string
	Variant         string
	Labels          map[string]string // the image config's config.Labels
	Annotations     map[string]string // the manifest's annotations
	Payload         []byte
	CreatedAt       time.Time

	// Blobs are the digests of the config and layers that must already be linked to the
	// repository; non-distributable layers and the subject are not listed.
	Blobs []digest.Digest
	// Children are the digests of the manifests an index refers to; each must already be
	// stored in the repository.
	Children []digest.Digest
}

// Referrer is one manifest whose subject is a given digest.
type Referrer struct {
	Digest       digest.Digest
	MediaType    string
	Size         int64
	ArtifactType string // artifactType, or the config media type when that is empty
	Annotations  map[string]string
}

// Upload is an upload session. Offset is the number of bytes received so far and
// HashState the serialised state of the digester after those bytes, so that any
// replica can continue the session.
type Upload struct {
	ID         string
	Repository string
	Algorithm  digest.Algorithm
	Offset     int64
	HashState  []byte
	StartedAt  time.Time
	UpdatedAt  time.Time
}

// Store is the metadata store. Every method is one transaction. Listing methods return
// at most limit items strictly after `after` in byte order (keyset pagination: the cost
// of a page is O(limit), never a scan of the whole set).
type Store interface {
	// RepositoryExists reports whether the repository has ever received content.
	RepositoryExists(ctx context.Context, repo string) (bool, error)
	// ListRepositories lists repository names after `after`.
	ListRepositories(ctx context.Context, after string, limit int) ([]string, error)

	// LinkBlob records the blob (if new) and links it into the repository, creating the
	// repository if needed.
	LinkBlob(ctx context.Context, repo string, b Blob) error
	// RepositoryBlob returns the blob if it is linked into the repository, else ErrNotFound.
	RepositoryBlob(ctx context.Context, repo string, d digest.Digest) (Blob, error)
	// Blob returns the blob if any repository holds it, else ErrNotFound.
	Blob(ctx context.Context, d digest.Digest) (Blob, error)
	// BlobRepositories returns up to limit repositories that hold the blob, in byte
	// order of their names, after the name `after` ("" from the first).
	BlobRepositories(ctx context.Context, d digest.Digest, after string, limit int) ([]string, error)
	// UnlinkBlob removes the blob from the repository; ErrNotFound if it was not linked.
	UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error

	// PutManifest stores the manifest in the repository (a no-op for the row if the same
	// digest is already there) and points each tag at it, atomically. It fails with a
	// *MissingError if a blob or child manifest is absent from the repository.
	PutManifest(ctx context.Context, repo string, m *Manifest, tags []string) error
	// Manifest returns the manifest with that digest in the repository, or ErrNotFound.
	Manifest(ctx context.Context, repo string, d digest.Digest) (*Manifest, error)
	// ResolveTag returns the digest the tag points to, or ErrNotFound.
	ResolveTag(ctx context.Context, repo, tag string) (digest.Digest, error)
	// DeleteManifest removes the manifest and every tag pointing to it; ErrNotFound if absent.
	DeleteManifest(ctx context.Context, repo string, d digest.Digest) error
	// DeleteTag removes the tag; ErrNotFound if absent.
	DeleteTag(ctx context.Context, repo, tag string) error
	// ListTags lists tags after `after`; ErrNotFound if the repository does not exist.
	ListTags(ctx context.Context, repo, after string, limit int) ([]string, error)
	// Referrers lists the manifests in the repository whose subject is `subject`, ordered by
	// digest, after `after`; artifactType "" means all.
	Referrers(ctx context.Context, repo string, subject digest.Digest, artifactType string, after digest.Digest, limit int) ([]Referrer, error)

	// CreateUpload records a new upload session (Offset 0).
	CreateUpload(ctx context.Context, u Upload) error
	// Upload returns the session, or ErrNotFound.
	Upload(ctx context.Context, id string) (Upload, error)
	// AdvanceUpload moves the session from offset `from` to u.Offset with u.HashState;
	// ErrUploadConflict if it was not at `from`, ErrNotFound if it does not exist.
	AdvanceUpload(ctx context.Context, u Upload, from int64) error
	// DeleteUpload ends the session; ErrNotFound if it does not exist.
	DeleteUpload(ctx context.Context, id string) error

	// FindImages returns the tagged images and the tagged lists (with their images that
	// match) selected by f, ordered by repository then digest: the query behind registry
	// indexes such as Flatpak's.
	FindImages(ctx context.Context, f ImageFilter) ([]IndexedImage, []IndexedList, error)
	// Generation is a counter that moves whenever repositories, tags or manifests change,
	// in this process or any other sharing the store; caches compare it to stay fresh.
	Generation(ctx context.Context) (int64, error)

	Collector
	TagHistory

	// Close releases the store.
	Close() error
}

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
	// LinkExistingBlob links a blob the store already holds into repo and restarts its
	// grace period, atomically with the check that it exists; ErrNotFound when it does
	// not (perhaps collected a moment ago).
	LinkExistingBlob(ctx context.Context, repo string, d digest.Digest) (Blob, error)

	// UntaggedManifests lists manifests created before `before` that no tag and no
	// index of their repository refers to, and that are not a referrer of a manifest
	// still in the repository.
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
