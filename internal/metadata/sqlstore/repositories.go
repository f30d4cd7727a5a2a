package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// repoID returns the id of the repository, or metadata.ErrNotFound.
func repoID(ctx context.Context, q querier, name string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM repositories WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, metadata.ErrNotFound
	}
	return id, err
}

// ensureRepo returns the id of the repository, creating it if needed. It reads first so
// that concurrent pushes to one repository do not all write (and lock) its row.
func ensureRepo(ctx context.Context, tx *tx, name string) (int64, error) {
	id, err := repoID(ctx, tx, name)
	if !errors.Is(err, metadata.ErrNotFound) {
		return id, err
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO repositories (name, created_at) VALUES (?, ?)
		ON CONFLICT (name) DO NOTHING RETURNING id`, name, time.Now().UnixNano()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return repoID(ctx, tx, name) // created by a concurrent push
	}
	if err != nil {
		return 0, fmt.Errorf("ensure repository %s: %w", name, err)
	}
	return id, nil
}

// RepositoryExists reports whether the repository has received content.
func (s *Store) RepositoryExists(ctx context.Context, repo string) (bool, error) {
	_, err := repoID(ctx, s.r, repo)
	if errors.Is(err, metadata.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ListRepositories lists repository names after `after`, in byte order.
func (s *Store) ListRepositories(ctx context.Context, after string, limit int) ([]string, error) {
	return queryStrings(ctx, s.r, `SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?`, after, limit)
}

func queryStrings(ctx context.Context, db *db, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// LinkBlob records the blob and links it into the repository.
func (s *Store) LinkBlob(ctx context.Context, repo string, b metadata.Blob) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		id, err := ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		now := time.Now().UnixNano()
		if _, err := tx.ExecContext(ctx, `INSERT INTO blobs (digest, size, created_at, linked_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET linked_at = excluded.linked_at`, b.Digest.String(), b.Size, now, now); err != nil {
			return fmt.Errorf("insert blob: %w", err)
		}
		return link(ctx, tx, id, b.Digest, now)
	})
}

// link links a blob into a repository, restarting the link's grace period.
func link(ctx context.Context, tx *tx, repoID int64, d digest.Digest, now int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, ?)
		ON CONFLICT (repository_id, digest) DO UPDATE SET created_at = excluded.created_at`, repoID, d.String(), now); err != nil {
		return fmt.Errorf("link blob: %w", err)
	}
	return nil
}

// LinkExistingBlob links a blob the store already holds into repo, restarting its grace
// period, in one transaction with the check that it exists.
func (s *Store) LinkExistingBlob(ctx context.Context, repo string, d digest.Digest) (metadata.Blob, error) {
	b := metadata.Blob{Digest: d}
	err := s.write(ctx, func(ctx context.Context, tx *tx) error {
		now := time.Now().UnixNano()
		err := tx.QueryRowContext(ctx, `UPDATE blobs SET linked_at = ? WHERE digest = ? RETURNING size`, now, d.String()).Scan(&b.Size)
		if errors.Is(err, sql.ErrNoRows) {
			return metadata.ErrNotFound
		}
		if err != nil {
			return err
		}
		id, err := ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		return link(ctx, tx, id, d, now)
	})
	return b, err
}

// RepositoryBlob returns the blob if the repository holds it.
func (s *Store) RepositoryBlob(ctx context.Context, repo string, d digest.Digest) (metadata.Blob, error) {
	var size int64
	err := s.r.QueryRowContext(ctx, `SELECT b.size FROM repository_blobs rb
		JOIN repositories r ON r.id = rb.repository_id
		JOIN blobs b ON b.digest = rb.digest
		WHERE r.name = ? AND rb.digest = ?`, repo, d.String()).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return metadata.Blob{}, metadata.ErrNotFound
	}
	if err != nil {
		return metadata.Blob{}, err
	}
	return metadata.Blob{Digest: d, Size: size}, nil
}

// Blob returns the blob if any repository holds it.
func (s *Store) Blob(ctx context.Context, d digest.Digest) (metadata.Blob, error) {
	var size int64
	err := s.r.QueryRowContext(ctx, `SELECT b.size FROM blobs b
		WHERE b.digest = ? AND EXISTS (SELECT 1 FROM repository_blobs rb WHERE rb.digest = b.digest)`, d.String()).Scan(&size)
	if errors.Is(err, sql.ErrNoRows) {
		return metadata.Blob{}, metadata.ErrNotFound
	}
	if err != nil {
		return metadata.Blob{}, err
	}
	return metadata.Blob{Digest: d, Size: size}, nil
}

// BlobRepositories pages through the repositories linking d.
func (s *Store) BlobRepositories(ctx context.Context, d digest.Digest, after string, limit int) ([]string, error) {
	return queryStrings(ctx, s.r, `SELECT r.name FROM repository_blobs rb JOIN repositories r ON r.id = rb.repository_id
		WHERE rb.digest = ? AND r.name > ? ORDER BY r.name LIMIT ?`, d.String(), after, limit)
}

// UnlinkBlob removes the blob from the repository.
func (s *Store) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM repository_blobs
			WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?`, repo, d.String())
		if err != nil {
			return err
		}
		return affected(res)
	})
}

// affected turns "no row changed" into metadata.ErrNotFound.
func affected(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return metadata.ErrNotFound
	}
	return nil
}
