package registry

import (
	"context"
	"fmt"
	"strconv"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// TagHistory lists the moves of repo:tag, newest first. p.Last is the ID of the last
// change of the previous page ("" to start); without p.N a page is the maximum size. A
// tag that never existed has an empty history; a repository that does not exist is
// ErrNameUnknown.
func (s *Service) TagHistory(ctx context.Context, repo, tag string, p PageRequest) (Page[metadata.TagChange], error) {
	if err := checkName(repo); err != nil {
		return Page[metadata.TagChange]{}, err
	}
	if !oci.ValidTag(tag) {
		return Page[metadata.TagChange]{}, fmt.Errorf("%w: %q", ErrReferenceInvalid, tag)
	}
	var before int64
	if p.Last != "" {
		var err error
		if before, err = strconv.ParseInt(p.Last, 10, 64); err != nil || before <= 0 {
			return Page[metadata.TagChange]{}, fmt.Errorf("%w: last=%q is not a change id", ErrPaginationInvalid, p.Last)
		}
	}
	if !p.Limited {
		p.N, p.Limited = s.opts.MaxPageSize, true
	}
	n, err := s.pageSize(p)
	if err != nil {
		return Page[metadata.TagChange]{}, err
	}
	var changes []metadata.TagChange
	if n > 0 {
		if changes, err = s.meta.TagHistory(ctx, repo, tag, before, n+1); err != nil {
			return Page[metadata.TagChange]{}, fmt.Errorf("history of %s:%s: %w", repo, tag, err)
		}
	}
	if len(changes) == 0 {
		// Only an empty page asks whether the repository exists at all.
		ok, err := s.meta.RepositoryExists(ctx, repo)
		if err != nil {
			return Page[metadata.TagChange]{}, fmt.Errorf("look up %s: %w", repo, err)
		}
		if !ok {
			return Page[metadata.TagChange]{}, fmt.Errorf("%w: %s", ErrNameUnknown, repo)
		}
	}
	return page(changes, n), nil
}
