package sqlstore

import (
	"context"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// immutableRules boxes the rules for atomic.Pointer.
type immutableRules struct{ metadata.ImmutableRules }

// UseImmutableRules makes rules the immutable-tag rules of this store.
func (s *Store) UseImmutableRules(rules metadata.ImmutableRules) {
	if rules == nil {
		s.immutable.Store(nil)
		return
	}
	s.immutable.Store(&immutableRules{rules})
}

// mayRemove refuses, with an *ImmutableError, to take repo's tag away from the manifest
// mid (by moving or removing the tag) when a rule protects the tag and no override
// applies. Callers hold the tag's row (locked, or deleted) in their transaction.
func (s *Store) mayRemove(ctx context.Context, tx *tx, repo, tag string, mid int64, override bool) error {
	r := s.immutable.Load()
	if r == nil || override {
		return nil
	}
	rule := r.ImmutableRule(repo, tag)
	if rule == "" {
		return nil
	}
	var holds string
	if err := tx.QueryRowContext(ctx, `SELECT digest FROM manifests WHERE id = ?`, mid).Scan(&holds); err != nil {
		return err
	}
	return &metadata.ImmutableError{Repository: repo, Tag: tag, Rule: rule, Holds: digest.Digest(holds)}
}
