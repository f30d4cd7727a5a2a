package metadata

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// TagChange is one move of a tag: created (Old empty), moved, or removed (New empty).
// Changes are recorded by the transaction that makes them, so the history never
// disagrees with the tags.
type TagChange struct {
	// ID orders the changes of the store; it is the position to continue a listing from.
	ID         int64
	Repository string
	Tag        string
	Old, New   digest.Digest
	At         time.Time
	Actor      Actor
}

// HistoryPosition is where a listing of every tag change continues: strictly after
// the change ID at time At. The zero position starts at the oldest change; a position
// with only At set starts at that time.
type HistoryPosition struct {
	At time.Time
	ID int64
}

// TagHistory is the record of tag moves. PutManifest, DeleteTag and DeleteManifest
// record every move they make, with the Actor of their context; pushing a tag again at
// the digest it already holds records nothing.
type TagHistory interface {
	// TagHistory lists the changes of repo:tag, newest first, older than the change
	// with ID `before` (0: from the newest). It is empty for a tag that never existed.
	TagHistory(ctx context.Context, repo, tag string, before int64, limit int) ([]TagChange, error)
	// TagChanges lists the changes of every tag in time order (ties by ID) after
	// position `after`: the feed of retention, audits and jobs that look back in time.
	TagChanges(ctx context.Context, after HistoryPosition, limit int) ([]TagChange, error)
}
