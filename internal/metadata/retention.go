package metadata

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// TagUse is a tag with the facts retention judges it by.
type TagUse struct {
	Tag    string
	Digest digest.Digest
	// PushedAt is when the tag was last pushed: moved, or pushed again at its digest.
	PushedAt time.Time
	// PulledAt is the latest recorded pull of the tag or of its manifest by digest; the
	// zero time when none was recorded.
	PulledAt time.Time
}

// UntaggedManifest is a manifest that no tag refers to, and since when: the later of its
// push and the last time a tag left it.
type UntaggedManifest struct {
	Digest digest.Digest
	Since  time.Time
}

// Retention is what retention policies need of a store: the tags of a repository with
// their use, checked removal of a tag, and untagged manifests by how long they have been
// untagged. Listing methods only propose; the removing ones check again, in the
// transaction that removes, that the candidate is still what was judged, so a push that
// races a retention pass always wins.
type Retention interface {
	// RetentionTags lists the tags of repo after `after` in byte order.
	RetentionTags(ctx context.Context, repo, after string, limit int) ([]TagUse, error)
	// ExpireTag removes tag t.Tag of repo, recording the removal in the tag history, if
	// it is still as t describes it: at the same digest, pushed at the same time, and
	// pulled no later than t.PulledAt. It never removes an immutable tag (it fails with
	// an *ImmutableError). It reports whether it removed the tag.
	ExpireTag(ctx context.Context, repo string, t TagUse) (bool, error)
	// ExpiredManifests lists, after `after` by digest, the manifests of repo that garbage
	// collection could take (see Collector.UntaggedManifests) and that have been untagged
	// since before `before`: pushed before it, and left by no tag since.
	ExpiredManifests(ctx context.Context, repo string, before time.Time, after digest.Digest, limit int) ([]UntaggedManifest, error)
	// DeleteExpiredManifest deletes the manifest if it is still such a candidate.
	DeleteExpiredManifest(ctx context.Context, m ManifestRef, before time.Time) (bool, error)
}
