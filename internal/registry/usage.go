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
// caller learns nothing of namespaces it cannot see into. Without n it pages at the
// maximum page size.
func (s *Service) Usage(ctx context.Context, p PageRequest, visible func(string) bool) (Page[metadata.Usage], error) {
	if !p.Limited {
		p.Limited, p.N = true, s.opts.MaxPageSize
	}
	n, err := s.pageSize(p)
	if err != nil || n == 0 {
		return page[metadata.Usage](nil, 0), err
	}
	batch := n + 1
	var out []metadata.Usage
	for last := p.Last; len(out) <= n; {
		us, err := s.meta.ListUsage(ctx, last, batch)
		if err != nil {
			return Page[metadata.Usage]{}, fmt.Errorf("list usage: %w", err)
		}
		for _, u := range us {
			ok, err := s.namespaceVisible(ctx, u.Namespace, visible)
			if err != nil {
				return Page[metadata.Usage]{}, err
			}
			if ok {
				out = append(out, u)
			}
		}
		if len(us) < batch || visible == nil {
			break
		}
		last = us[len(us)-1].Namespace
	}
	return page(out, n), nil
}

func (s *Service) namespaceVisible(ctx context.Context, ns string, visible func(string) bool) (bool, error) {
	if visible == nil {
		return true, nil
	}
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
