package metadata

import "context"

// Repositories answers which repositories exist.
type Repositories interface {
	// RepositoryExists reports whether the repository has ever received content.
	RepositoryExists(ctx context.Context, repo string) (bool, error)
	// ListRepositories lists repository names after `after`.
	ListRepositories(ctx context.Context, after string, limit int) ([]string, error)
}
