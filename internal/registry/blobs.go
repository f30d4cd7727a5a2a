package registry

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/blobstore"
	"github.com/berth-registry/berth/internal/metadata"
)

// Blob returns the blob if it is in the repository.
func (s *Service) Blob(ctx context.Context, repo string, d digest.Digest) (metadata.Blob, error) {
	if err := checkName(repo); err != nil {
		return metadata.Blob{}, err
	}
	b, err := s.meta.RepositoryBlob(ctx, repo, d)
	if errors.Is(err, metadata.ErrNotFound) {
		return metadata.Blob{}, fmt.Errorf("%w: %s", ErrBlobUnknown, d)
	}
	if err != nil {
		return metadata.Blob{}, fmt.Errorf("look up blob %s in %s: %w", d, repo, err)
	}
	return b, nil
}

// BlobURL returns a URL the blob's bytes can be fetched from directly, or "" when the
// registry serves them itself.
func (s *Service) BlobURL(ctx context.Context, d digest.Digest) (string, error) {
	if s.opts.BlobURL == nil {
		return "", nil
	}
	u, err := s.opts.BlobURL(ctx, d)
	if err != nil {
		return "", fmt.Errorf("blob URL for %s: %w", d, err)
	}
	return u, nil
}

// OpenBlob streams length bytes of a blob of the repository from offset (length < 0: to
// the end). The caller has checked the range against the size from Blob.
func (s *Service) OpenBlob(ctx context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, error) {
	rc, err := s.blobs.Open(ctx, d, offset, length)
	if errors.Is(err, blobstore.ErrNotFound) {
		// Metadata says the blob exists but its bytes are gone: report it as unknown
		// rather than failing, and leave a trace for the operator.
		s.log.Error("blob in metadata but not in blob store", "digest", d)
		return nil, fmt.Errorf("%w: %s", ErrBlobUnknown, d)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d, err)
	}
	return rc, nil
}

// DeleteBlob removes the blob from the repository. Its bytes stay until garbage
// collection finds no repository holding them.
func (s *Service) DeleteBlob(ctx context.Context, repo string, d digest.Digest) error {
	if err := checkName(repo); err != nil {
		return err
	}
	if !s.opts.DeleteEnabled {
		return fmt.Errorf("%w: deletes are disabled", ErrUnsupported)
	}
	err := s.meta.UnlinkBlob(ctx, repo, d)
	if errors.Is(err, metadata.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrBlobUnknown, d)
	}
	if err != nil {
		return fmt.Errorf("delete blob %s from %s: %w", d, repo, err)
	}
	s.emit(ctx, audit.BlobDeleted, repo+"@"+d.String(), audit.Data{Repository: repo, Digest: d.String()})
	return nil
}

// mountScan bounds how many repositories holding a blob a mount without `from` looks
// through for one the caller may read, before it gives up and asks for an upload.
const mountScan = 1000

// Mount links a blob into repo without transferring it. With from, the blob must be in
// that repository; without, any repository holding it will do. visible is the caller's
// right to pull (nil: everything): a mount looks only in repositories it admits, so it
// never tells whether a blob exists where the caller could not read. It reports false
// (and no error) when the blob cannot be mounted, so the caller starts a normal upload
// instead.
func (s *Service) Mount(ctx context.Context, repo string, d digest.Digest, from string, visible func(string) bool) (bool, error) {
	if err := checkName(repo); err != nil {
		return false, err
	}
	var (
		b   metadata.Blob
		err error
	)
	switch {
	case from != "":
		if checkName(from) != nil || (visible != nil && !visible(from)) {
			return false, nil
		}
		b, err = s.meta.RepositoryBlob(ctx, from, d)
	case visible == nil:
		b, err = s.meta.Blob(ctx, d)
	default:
		b, err = s.visibleBlob(ctx, d, visible)
	}
	if errors.Is(err, metadata.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mount %s: %w", d, err)
	}
	// Linked only if the blob still exists at the moment of linking: it may have been
	// collected since the lookup above, and then the client must upload it.
	// A mount the namespace's quota refuses is refused, not turned into an upload that
	// would be refused at its end.
	if _, err := s.meta.LinkExistingBlob(ctx, repo, b.Digest); err != nil {
		if errors.Is(err, metadata.ErrNotFound) {
			return false, nil
		}
		if q := denied(err); q != nil {
			return false, q
		}
		return false, fmt.Errorf("mount %s into %s: %w", d, repo, err)
	}
	return true, nil
}

// visibleBlob finds d in a repository that visible admits, among the first mountScan
// repositories holding it; ErrNotFound if none. They are read in one query: in pages, each
// hundred hidden holders cost a query more, which a caller could time.
func (s *Service) visibleBlob(ctx context.Context, d digest.Digest, visible func(string) bool) (metadata.Blob, error) {
	repos, err := s.meta.BlobRepositories(ctx, d, "", mountScan)
	if err != nil {
		return metadata.Blob{}, err
	}
	for _, r := range repos {
		if visible(r) {
			return s.meta.RepositoryBlob(ctx, r, d)
		}
	}
	return metadata.Blob{}, metadata.ErrNotFound
}
