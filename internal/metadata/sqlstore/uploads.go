package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// CreateUpload records a new upload session.
func (s *Store) CreateUpload(ctx context.Context, u metadata.Upload) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO uploads (id, repository, algorithm, size, hash_state, started_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, u.ID, u.Repository, string(u.Algorithm), u.Offset, u.HashState, u.StartedAt.UnixNano(), u.UpdatedAt.UnixNano())
		return err
	})
}

// Upload returns the session.
func (s *Store) Upload(ctx context.Context, id string) (metadata.Upload, error) {
	u := metadata.Upload{ID: id}
	var alg string
	var started, updated int64
	err := s.r.QueryRowContext(ctx, `SELECT repository, algorithm, size, hash_state, started_at, updated_at FROM uploads WHERE id = ?`, id).
		Scan(&u.Repository, &alg, &u.Offset, &u.HashState, &started, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return u, metadata.ErrNotFound
	}
	u.Algorithm = digest.Algorithm(alg)
	u.StartedAt, u.UpdatedAt = unixNano(started), unixNano(updated)
	return u, err
}

// AdvanceUpload moves the session from offset `from` to u.Offset.
func (s *Store) AdvanceUpload(ctx context.Context, u metadata.Upload, from int64) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE uploads SET size = ?, hash_state = ?, updated_at = ? WHERE id = ? AND size = ?`,
			u.Offset, u.HashState, u.UpdatedAt.UnixNano(), u.ID, from)
		if err != nil {
			return err
		}
		if err := affected(res); err == nil {
			return nil
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM uploads WHERE id = ?`, u.ID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return metadata.ErrNotFound
		}
		return metadata.ErrUploadConflict
	})
}

// DeleteUpload ends the session.
func (s *Store) DeleteUpload(ctx context.Context, id string) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM uploads WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return affected(res)
	})
}
