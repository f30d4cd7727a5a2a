package server

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// The measured methods of the web UI's listings (Browser); see meteredMeta.

func (s meteredMeta) BrowseRepositories(ctx context.Context, contains, after string, limit int) (r []metadata.RepositorySummary, err error) {
	defer func(t time.Time) { s.obs("browse_repositories", t, err) }(time.Now())
	return s.next.BrowseRepositories(ctx, contains, after, limit)
}

func (s meteredMeta) RepositorySummary(ctx context.Context, repo string) (r metadata.RepositorySummary, err error) {
	defer func(t time.Time) { s.obs("repository_summary", t, err) }(time.Now())
	return s.next.RepositorySummary(ctx, repo)
}

func (s meteredMeta) BrowseTags(ctx context.Context, repo string, order metadata.TagOrder, from metadata.TagCursor, limit int) (r []metadata.TagSummary, err error) {
	defer func(t time.Time) { s.obs("browse_tags", t, err) }(time.Now())
	return s.next.BrowseTags(ctx, repo, order, from, limit)
}

func (s meteredMeta) ListChildren(ctx context.Context, repo string, lists []digest.Digest) (r map[digest.Digest][]metadata.ManifestSummary, err error) {
	defer func(t time.Time) { s.obs("list_children", t, err) }(time.Now())
	return s.next.ListChildren(ctx, repo, lists)
}
