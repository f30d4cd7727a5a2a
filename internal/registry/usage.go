package registry

import (
	"context"
	"fmt"

	"github.com/berth-registry/berth/internal/metadata"
)

// namespaceScan bounds how many repositories of a namespace a usage listing looks
// through for one the caller may see, before it leaves the namespace out.
const namespaceScan = 100

// RepositoryUsage is the usage of repo's namespace (the one it would be created in, if
// it does not exist) and repo's tags.
func (s *Service) RepositoryUsage(ctx context.Context, repo string) (metadata.RepositoryUsage, error) {
	if err := checkName(repo); err != nil {
		return metadata.RepositoryUsage{}, err
	}
	u, err := s.meta.RepositoryUsage(ctx, repo)
	if err != nil {
		return u, fmt.Errorf("usage of %s: %w", repo, err)
	}
	return u, nil
}

// Usage lists the namespaces that store anything, in byte order, as the catalog lists
// repositories: only those of which visible (nil: all) admits a repository, so that a
// caller learns nothing of namespaces it cannot see into. under (nil: all) tells from
// the caller's rules alone whether visible might admit a repository of a namespace:
// one it rules out is passed over without looking up its repositories, so that it costs
// a row of the listing, not a query. Without n it pages at the maximum page size.
func (s *Service) Usage(ctx context.Context, p PageRequest, visible, under func(string) bool) (Page[metadata.Usage], error) {
	if !p.Limited {
		p.Limited, p.N = true, s.opts.MaxPageSize
	}
	n, err := s.pageSize(p)
	if err != nil || n == 0 {
		return page[metadata.Usage](nil, 0), err
	}
	if visible == nil {
		us, err := s.meta.ListUsage(ctx, p.Last, n+1)
		if err != nil {
			return Page[metadata.Usage]{}, fmt.Errorf("list usage: %w", err)
		}
		return page(us, n), nil
	}
	us, err := visiblePage(s.opts.MaxPageSize+1, n, p.Last,
		func(after string, limit int) ([]metadata.Usage, error) { return s.meta.ListUsage(ctx, after, limit) },
		func(u metadata.Usage) string { return u.Namespace },
		func(u metadata.Usage) (bool, error) {
			if under != nil && !under(u.Namespace) {
				return false, nil
			}
			return s.namespaceVisible(ctx, u.Namespace, visible)
		})
	if err != nil {
		return Page[metadata.Usage]{}, fmt.Errorf("list usage: %w", err)
	}
	return page(us, n), nil
}

// namespaceVisible reports whether visible admits one of the first namespaceScan
// repositories of ns. A namespace the caller's rules might show but whose repositories
// are all hidden costs this query (see docs/auth.md, "What a caller can learn").
func (s *Service) namespaceVisible(ctx context.Context, ns string, visible func(string) bool) (bool, error) {
	repos, err := s.meta.NamespaceRepositories(ctx, ns, "", namespaceScan)
	if err != nil {
		return false, fmt.Errorf("repositories of %s: %w", ns, err)
	}
	for _, r := range repos {
		if visible(r) {
			return true, nil
		}
	}
	return false, nil
}
