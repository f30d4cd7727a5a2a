package registry

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// PageRequest asks for a page of a listing: the items after Last in byte order, at most
// N of them when Limited (no n in the request means everything).
type PageRequest struct {
	Last    string
	N       int
	Limited bool
}

// Page is one page of a listing. More reports that items remain after the last one, and N
// is the page size in force (the requested n clamped to the maximum), for the next link.
type Page[T any] struct {
	Items []T
	More  bool
	N     int
}

// pageSize is the page size in force: the requested n clamped to the maximum, or no bound
// without n. Callers ask the store for one item more, to learn whether another page
// follows without a second query.
func (s *Service) pageSize(p PageRequest) (n int, err error) {
	if !p.Limited {
		return math.MaxInt32 - 1, nil
	}
	if p.N < 0 {
		return 0, fmt.Errorf("%w: n must not be negative", ErrPaginationInvalid)
	}
	return min(p.N, s.opts.MaxPageSize), nil
}

func page[T any](items []T, n int) Page[T] {
	if items == nil {
		items = []T{}
	}
	if len(items) > n {
		return Page[T]{Items: items[:n], More: true, N: n}
	}
	return Page[T]{Items: items, N: n}
}

// Tags lists the tags of repo in byte order.
func (s *Service) Tags(ctx context.Context, repo string, p PageRequest) (Page[string], error) {
	if err := checkName(repo); err != nil {
		return Page[string]{}, err
	}
	n, err := s.pageSize(p)
	if err != nil {
		return Page[string]{}, err
	}
	if n == 0 {
		// n=0 is an empty page, but the repository must still exist.
		ok, err := s.meta.RepositoryExists(ctx, repo)
		if err != nil {
			return Page[string]{}, fmt.Errorf("look up %s: %w", repo, err)
		}
		if !ok {
			return Page[string]{}, fmt.Errorf("%w: %s", ErrNameUnknown, repo)
		}
		return page[string](nil, 0), nil
	}
	tags, err := s.meta.ListTags(ctx, repo, p.Last, n+1)
	if errors.Is(err, metadata.ErrNotFound) {
		return Page[string]{}, fmt.Errorf("%w: %s", ErrNameUnknown, repo)
	}
	if err != nil {
		return Page[string]{}, fmt.Errorf("list tags of %s: %w", repo, err)
	}
	return page(tags, n), nil
}

// Catalog lists the repositories in byte order that visible admits (nil: all). Hidden
// repositories are skipped while the page fills, so a page still holds n names when
// that many visible ones remain, and its Link never names a hidden one.
func (s *Service) Catalog(ctx context.Context, p PageRequest, visible func(string) bool) (Page[string], error) {
	n, err := s.pageSize(p)
	if err != nil {
		return Page[string]{}, err
	}
	if n == 0 {
		return page[string](nil, 0), nil
	}
	if visible == nil {
		repos, err := s.meta.ListRepositories(ctx, p.Last, n+1)
		if err != nil {
			return Page[string]{}, fmt.Errorf("list repositories: %w", err)
		}
		return page(repos, n), nil
	}
	repos, err := visiblePage(s.opts.MaxPageSize+1, n, p.Last,
		func(after string, limit int) ([]string, error) { return s.meta.ListRepositories(ctx, after, limit) },
		func(r string) string { return r },
		func(r string) (bool, error) { return visible(r), nil })
	if err != nil {
		return Page[string]{}, fmt.Errorf("list repositories: %w", err)
	}
	return page(repos, n), nil
}

// visiblePage fills a page of n items, and one more to tell that there are more, from a
// listing in byte order after last, keeping those keep admits. It reads the listing in
// batches of batch (the largest page and one) whatever n is: with batches of n+1, a
// small n cost one more query for every few hidden items in the way, and the answer's
// time told how many there were; now a hidden item costs a row, and a query only per
// thousand of them.
func visiblePage[T any](batch, n int, last string, list func(after string, limit int) ([]T, error), key func(T) string, keep func(T) (bool, error)) ([]T, error) {
	var out []T
	for {
		items, err := list(last, batch)
		if err != nil {
			return nil, err
		}
		for _, it := range items {
			ok, err := keep(it)
			if err != nil {
				return nil, err
			}
			if ok {
				if out = append(out, it); len(out) > n {
					return out, nil
				}
			}
		}
		if len(items) < batch {
			return out, nil
		}
		last = key(items[len(items)-1])
	}
}

// Referrers lists the manifests of repo whose subject is subject, optionally only those of
// one artifact type. An unknown subject has no referrers, which is not an error.
func (s *Service) Referrers(ctx context.Context, repo string, subject digest.Digest, artifactType string, p PageRequest) (Page[metadata.Referrer], error) {
	if err := checkName(repo); err != nil {
		return Page[metadata.Referrer]{}, err
	}
	// Referrers are paged at the maximum by default: an index of thousands of
	// descriptors is a response no client wants in one piece.
	if !p.Limited {
		p.Limited, p.N = true, s.opts.MaxPageSize
	}
	n, err := s.pageSize(p)
	if err != nil {
		return Page[metadata.Referrer]{}, err
	}
	if n == 0 {
		return page[metadata.Referrer](nil, 0), nil
	}
	refs, err := s.meta.Referrers(ctx, repo, subject, artifactType, digest.Digest(p.Last), n+1)
	if err != nil {
		return Page[metadata.Referrer]{}, fmt.Errorf("list referrers of %s in %s: %w", subject, repo, err)
	}
	return page(refs, n), nil
}
