package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// pullBatch bounds the pulls one transaction records.
const pullBatch = 500

// RecordPulls upserts the pulls, keeping the later time of each. A batch is written in
// key order, so that two replicas flushing overlapping batches take their row locks in
// the same order and never deadlock.
func (s *Store) RecordPulls(ctx context.Context, pulls []metadata.Pull) error {
	pulls = slices.Clone(pulls)
	slices.SortFunc(pulls, func(a, b metadata.Pull) int {
		return cmp.Or(cmp.Compare(a.Repository, b.Repository), cmp.Compare(a.Reference, b.Reference))
	})
	for len(pulls) > 0 {
		batch := pulls[:min(len(pulls), pullBatch)]
		pulls = pulls[len(batch):]
		err := s.write(ctx, func(ctx context.Context, tx *tx) error {
			for _, p := range batch {
				if _, err := tx.ExecContext(ctx, `INSERT INTO pulls (repository_id, reference, pulled_at)
					SELECT id, ?, ? FROM repositories WHERE name = ?
					ON CONFLICT (repository_id, reference) DO UPDATE SET pulled_at = excluded.pulled_at
					WHERE excluded.pulled_at > pulls.pulled_at`, p.Reference, p.At.UnixNano(), p.Repository); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// LastPulled returns the recorded time of the latest pull of reference in repo.
func (s *Store) LastPulled(ctx context.Context, repo, reference string) (time.Time, error) {
	var at int64
	err := s.r.QueryRowContext(ctx, `SELECT pulled_at FROM pulls
		WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND reference = ?`, repo, reference).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return unixNano(at), nil
}
