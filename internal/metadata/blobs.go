package metadata

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// Blob is a blob known to the registry.
type Blob struct {
	Digest digest.Digest
	Size   int64
}

// Blobs records which blobs exist and which repository may serve which of them: the
// repository link is the unit of access and of mounts.
type Blobs interface {
	// LinkBlob records the blob (if new) and links it into the repository, creating the
	// repository if needed.
	LinkBlob(ctx context.Context, repo string, b Blob) error
	// LinkExistingBlob links a blob the store already holds into repo and restarts its
	// garbage-collection grace period, atomically with the check that it exists;
	// ErrNotFound when it does not (perhaps collected a moment ago).
	LinkExistingBlob(ctx context.Context, repo string, d digest.Digest) (Blob, error)
	// RepositoryBlob returns the blob if it is linked into the repository, else ErrNotFound.
	RepositoryBlob(ctx context.Context, repo string, d digest.Digest) (Blob, error)
	// Blob returns the blob if any repository holds it, else ErrNotFound.
	Blob(ctx context.Context, d digest.Digest) (Blob, error)
	// BlobRepositories returns up to limit repositories that hold the blob, in byte
	// order of their names, after the name `after` ("" from the first).
	BlobRepositories(ctx context.Context, d digest.Digest, after string, limit int) ([]string, error)
	// UnlinkBlob removes the blob from the repository; ErrNotFound if it was not linked.
	UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error
}
