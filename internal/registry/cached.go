package registry

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// CachedManifest is a manifest fetched from an upstream registry for the pull-through
// cache, with the digest the upstream was asked for (or, for a tag, the one it gave).
type CachedManifest struct {
	Upstream  string // the upstream's name (its prefix) in the configuration
	Digest    digest.Digest
	MediaType string // the upstream's Content-Type
	Payload   []byte
	Tag       string // "" when fetched by digest
	Checked   time.Time
}

// CacheManifest stores a manifest of the pull-through cache in repo. It is checked as a
// push is (size, digest, syntax) and described the same way, but its blobs and children
// need not be in the repository yet: the cache fetches them when a client asks. The
// image config, when there is one, must already be a blob of repo, so that the stored
// facts (platform, labels) are those a push would have recorded. Like a push it counts
// in the namespace's quota, and the tag it moves is an audit event (of ctx's actor, the
// cache's own).
func (s *Service) CacheManifest(ctx context.Context, repo string, c CachedManifest) error {
	if err := checkName(repo); err != nil {
		return err
	}
	if int64(len(c.Payload)) > s.opts.MaxManifestSize {
		return fmt.Errorf("%w: upstream manifest over the limit of %d bytes", ErrManifestTooLarge, s.opts.MaxManifestSize)
	}
	if got := c.Digest.Algorithm().FromBytes(c.Payload); got != c.Digest {
		return fmt.Errorf("%w: upstream sent %s for %s", ErrDigestInvalid, got, c.Digest)
	}
	parsed, err := oci.ParseManifest(c.MediaType, c.Payload)
	if err != nil {
		return fmt.Errorf("%w: from upstream: %w", ErrManifestInvalid, err)
	}
	m, err := s.describe(ctx, repo, c.Digest, parsed, c.Payload)
	if err != nil {
		return err
	}
	mctx, moves := metadata.WithTagMoves(ctx)
	if err := s.meta.PutCachedManifest(mctx, repo, c.Upstream, m, c.Tag, c.Checked); err != nil {
		if q := denied(err); q != nil {
			return q
		}
		return fmt.Errorf("cache manifest %s in %s: %w", c.Digest, repo, err)
	}
	s.emitMoves(ctx, moves.List())
	return nil
}

// LinkCachedBlob links a blob the store holds into the cached repository repo, as a
// mount does: metadata.ErrNotFound when the blob is gone, ErrDenied when the
// namespace's quota refuses it.
func (s *Service) LinkCachedBlob(ctx context.Context, repo string, d digest.Digest) (metadata.Blob, error) {
	b, err := s.meta.LinkExistingBlob(ctx, repo, d)
	if q := denied(err); q != nil {
		return b, q
	}
	return b, err
}

// DropCachedTag removes a tag of a cached repository that its upstream no longer has,
// as an audit event of ctx's actor.
func (s *Service) DropCachedTag(ctx context.Context, repo, tag string) error {
	mctx, moves := metadata.WithTagMoves(ctx)
	if err := s.meta.DeleteTag(mctx, repo, tag); err != nil {
		return fmt.Errorf("drop cached tag %s:%s: %w", repo, tag, err)
	}
	s.emitMoves(ctx, moves.List())
	return nil
}

// NeedsConfig returns the image config a manifest's description reads, or "" when it
// reads none: what the cache must fetch before CacheManifest.
func NeedsConfig(mediaType string, payload []byte) (digest.Digest, error) {
	p, err := oci.ParseManifest(mediaType, payload)
	if err != nil {
		return "", fmt.Errorf("%w: from upstream: %w", ErrManifestInvalid, err)
	}
	if !readsConfig(p) {
		return "", nil
	}
	return p.Config.Digest, nil
}
