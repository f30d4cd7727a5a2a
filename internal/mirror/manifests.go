package mirror

import (
	"context"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
)

// store is what the cache reads and writes of the metadata store directly; content
// itself is stored through the registry service.
type store interface {
	metadata.Mirror
	Manifest(ctx context.Context, repo string, d digest.Digest) (*metadata.Manifest, error)
	Blob(ctx context.Context, d digest.Digest) (metadata.Blob, error)
	RepositoryBlob(ctx context.Context, repo string, d digest.Digest) (metadata.Blob, error)
}

// Refresh makes the store hold the manifest ref names in a cached repository: by
// digest, fetched once when missing; by tag, fetched when missing and asked again of the
// upstream (HEAD first) once the tag's time to live is over. It returns the cache
// status. When the upstream fails and a copy is stored, the copy stays and the status is
// StatusStale; with no copy the error is registry.ErrUnavailable or
// ErrUpstreamLimited, quickly (every upstream call is bounded by the timeout).
func (c *Cache) Refresh(ctx context.Context, repo string, ref registry.Reference) (string, error) {
	u := c.route(repo)
	if u == nil {
		return "", fmt.Errorf("%w: %s is not a cached repository", registry.ErrNameUnknown, repo)
	}
	status, err := c.refresh(ctx, u, repo, ref)
	if err != nil {
		c.count(u, "manifest", "error")
		return "", err
	}
	c.count(u, "manifest", status)
	return status, nil
}

func (c *Cache) refresh(ctx context.Context, u *upstream, repo string, ref registry.Reference) (string, error) {
	if ref.Digest != "" {
		_, err := c.meta.Manifest(ctx, repo, ref.Digest)
		if err == nil {
			return StatusHit, nil // content-addressed: never stale
		}
		if !errors.Is(err, metadata.ErrNotFound) {
			return "", err
		}
		return c.tags.do(ctx, repo+"@"+ref.Digest.String(), func() (string, error) {
			ctx, cancel := context.WithTimeout(c.base, u.cfg.Timeout)
			defer cancel()
			if err := c.fetchManifest(ctx, u, repo, ref.Digest, ""); err != nil {
				if notFound, ferr := failure(u, err); notFound {
					return "", fmt.Errorf("%w: %s@%s is not on the upstream %s", registry.ErrManifestUnknown, repo, ref.Digest, u.cfg.Prefix)
				} else {
					return "", ferr
				}
			}
			return StatusMiss, nil
		})
	}
	cached, err := c.meta.CachedTag(ctx, repo, ref.Tag)
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		return "", err
	}
	have := err == nil
	if have && c.now().Sub(cached.CheckedAt) < u.cfg.TagTTL {
		return StatusHit, nil
	}
	return c.tags.do(ctx, repo+":"+ref.Tag, func() (string, error) {
		ctx, cancel := context.WithTimeout(c.base, u.cfg.Timeout)
		defer cancel()
		return c.revalidate(ctx, u, repo, ref.Tag, cached, have)
	})
}

// revalidate asks the upstream where the tag points (HEAD: free on Docker Hub's pull
// limit) and fetches the manifest only if the store does not have it.
func (c *Cache) revalidate(ctx context.Context, u *upstream, repo, tag string, cached metadata.CachedTag, have bool) (string, error) {
	now := c.now()
	desc, err := u.client.ManifestHead(ctx, u.repository(repo), tag)
	if err != nil {
		return c.upstreamFailed(ctx, u, repo, tag, have, &upstreamError{err})
	}
	d, perr := oci.ParseDigest(desc.Digest)
	if perr != nil {
		// No usable Docker-Content-Digest: the GET by tag tells.
		if err := c.fetchManifest(ctx, u, repo, "", tag); err != nil {
			return c.upstreamFailed(ctx, u, repo, tag, have, err)
		}
		return StatusMiss, nil
	}
	if have && d == cached.Digest {
		if err := c.meta.TagChecked(ctx, repo, tag, now); err != nil && !errors.Is(err, metadata.ErrNotFound) {
			return "", err
		}
		return StatusRevalidated, nil
	}
	// The tag moved, perhaps to a manifest another tag already brought.
	if m, err := c.meta.Manifest(ctx, repo, d); err == nil {
		if err := c.svc.CacheManifest(ctx, repo, registry.CachedManifest{
			Upstream: u.cfg.Prefix, Digest: d, MediaType: m.MediaType, Payload: m.Payload, Tag: tag, Checked: now,
		}); err != nil {
			return "", err
		}
		return StatusRevalidated, nil
	}
	if err := c.fetchManifest(ctx, u, repo, d, tag); err != nil {
		return c.upstreamFailed(ctx, u, repo, tag, have, err)
	}
	return StatusMiss, nil
}

// upstreamFailed decides what a failed upstream call means for a tag: gone upstream (the
// cached tag goes too), or a failure — the stored copy is served stale, or there is none.
func (c *Cache) upstreamFailed(ctx context.Context, u *upstream, repo, tag string, have bool, err error) (string, error) {
	notFound, ferr := failure(u, err)
	if notFound {
		if have {
			if err := c.svc.DropCachedTag(ctx, repo, tag); err != nil && !errors.Is(err, metadata.ErrNotFound) {
				c.log.Warn("tag gone upstream not removed from the cache", "repo", repo, "tag", tag, "err", err)
			}
		}
		return "", fmt.Errorf("%w: %s:%s is not on the upstream %s", registry.ErrManifestUnknown, repo, tag, u.cfg.Prefix)
	}
	if !errors.Is(ferr, registry.ErrUnavailable) && !errors.Is(ferr, registry.ErrUpstreamLimited) {
		return "", ferr // the store failed, not the upstream
	}
	if have {
		c.log.Warn("upstream failed; serving the cached tag", "repo", repo, "tag", tag, "err", ferr)
		return StatusStale, nil
	}
	return "", ferr
}

// fetchManifest fetches a manifest (by digest when d is set, else by tag) and stores it,
// under tag when tag is set, after the image config its description reads.
func (c *Cache) fetchManifest(ctx context.Context, u *upstream, repo string, d digest.Digest, tag string) error {
	ref := tag
	if d != "" {
		ref = d.String()
	}
	desc, payload, err := u.client.ManifestGet(ctx, u.repository(repo), ref)
	if err != nil {
		return &upstreamError{err}
	}
	if d == "" {
		if d, err = oci.ParseDigest(desc.Digest); err != nil {
			return fmt.Errorf("%w: upstream manifest digest %q", registry.ErrManifestInvalid, desc.Digest)
		}
	}
	cfg, err := registry.NeedsConfig(desc.MediaType, payload)
	if err != nil {
		return err
	}
	if cfg != "" {
		if err := c.ensureBlob(ctx, u, repo, cfg); err != nil {
			return err
		}
	}
	return c.svc.CacheManifest(ctx, repo, registry.CachedManifest{
		Upstream: u.cfg.Prefix, Digest: d, MediaType: desc.MediaType, Payload: payload, Tag: tag, Checked: c.now(),
	})
}
