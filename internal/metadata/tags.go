package metadata

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// Tags resolves, lists and deletes tags; PutManifest is what sets them.
type Tags interface {
	// ResolveTag returns the digest the tag points to, or ErrNotFound.
	ResolveTag(ctx context.Context, repo, tag string) (digest.Digest, error)
	// DeleteTag removes the tag; ErrNotFound if absent.
	DeleteTag(ctx context.Context, repo, tag string) error
	// ListTags lists tags after `after`; ErrNotFound if the repository does not exist.
	ListTags(ctx context.Context, repo, after string, limit int) ([]string, error)
}
