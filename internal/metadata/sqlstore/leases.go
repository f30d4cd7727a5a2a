package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// AcquireLease takes or renews the lease with one upsert whose update applies only to
// the holder's own lease or an expired one. On PostgreSQL a concurrent upsert of the same
// name waits for the row and evaluates that condition on the version the winner wrote,
// so two replicas can never both be told yes.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	var got bool
	err := s.write(ctx, func(ctx context.Context, tx *tx) error {
		var h string
		err := tx.QueryRowContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE leases.holder = excluded.holder OR leases.expires_at <= ?
			RETURNING holder`, name, holder, now.Add(ttl).UnixNano(), now.UnixNano()).Scan(&h)
		if errors.Is(err, sql.ErrNoRows) {
			got = false
			return nil
		}
		got = err == nil
		return err
	})
	return got, err
}

// ReleaseLease deletes the lease if holder has it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
}
