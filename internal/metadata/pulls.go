package metadata

import (
	"context"
	"time"
)

// Pull is one read of content a repository served: Reference is a tag (a pull by tag)
// or a digest (a manifest or blob read by digest; digests contain ':', tags never do).
type Pull struct {
	Repository string
	Reference  string
	At         time.Time
}

// Pulls remembers when content was last pulled, for retention (tags pulled within a
// duration) and for caches that evict what nobody reads. Pulls are never written one at a
// time: a recorder batches them in memory and records a batch now and then, so a pull
// never waits for a write.
type Pulls interface {
	// RecordPulls keeps for each repository and reference the latest time it is given,
	// never moving one back (replicas flush in any order). Pulls of repositories that do
	// not exist are ignored.
	RecordPulls(ctx context.Context, pulls []Pull) error
	// LastPulled is the latest recorded pull of reference in repo; the zero time when
	// none was recorded.
	LastPulled(ctx context.Context, repo, reference string) (time.Time, error)
}
