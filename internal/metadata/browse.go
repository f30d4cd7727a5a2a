package metadata

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// RepositorySummary is a repository as a listing for people shows it. The figures are
// kept up to date by every write, so a page of summaries costs what a page of names does.
type RepositorySummary struct {
	Name     string
	Tags     int64
	Size     int64     // bytes of the blobs linked into the repository, each counted once
	PushedAt time.Time // the last manifest push; zero when none
}

// TagOrder is the order of a tag listing for people.
type TagOrder int

const (
	// TagsByName lists tags in byte order of their names (tags/list's order).
	TagsByName TagOrder = iota
	// TagsNewest lists the most recently pushed tags first (ties by name, descending).
	TagsNewest
)

// TagCursor is where a page of tags starts: after Name in TagsByName order; before
// (UpdatedAt, Name) in TagsNewest order. The zero cursor starts at the beginning.
type TagCursor struct {
	Name      string
	UpdatedAt time.Time
}

// TagSummary is a tag with the manifest it points to.
type TagSummary struct {
	Name      string
	UpdatedAt time.Time
	Manifest  ManifestSummary
}

// ManifestSummary is what a listing shows of a manifest: enough to compute its size
// (from Payload) and to name its platform.
type ManifestSummary struct {
	Digest       digest.Digest
	MediaType    string
	ArtifactType string
	OS           string
	Architecture string
	Variant      string
	Payload      []byte
}

// Browser answers the listings of the web UI: repositories with their figures, tags
// with their manifests, and the images inside image lists, each in O(page).
type Browser interface {
	// BrowseRepositories lists up to limit repositories after `after` in byte order
	// whose names contain `contains` ("" for all).
	BrowseRepositories(ctx context.Context, contains, after string, limit int) ([]RepositorySummary, error)
	// RepositorySummary returns one repository's summary, or ErrNotFound.
	RepositorySummary(ctx context.Context, repo string) (RepositorySummary, error)
	// BrowseTags lists up to limit tags of repo from the cursor on, in the order asked.
	BrowseTags(ctx context.Context, repo string, order TagOrder, from TagCursor, limit int) ([]TagSummary, error)
	// ListChildren returns the manifests, in repo, of the images the lists refer to,
	// by list digest, each list's children ordered by digest.
	ListChildren(ctx context.Context, repo string, lists []digest.Digest) (map[digest.Digest][]ManifestSummary, error)
}
