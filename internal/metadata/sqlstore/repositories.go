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

// ensureRepo returns the id and namespace of the repository, creating it if needed in
// the namespace the quota policy assigns it. It reads first so that concurrent pushes to
// one repository do not all write (and lock) its row.
func (s *Store) ensureRepo(ctx context.Context, tx *tx, name string) (repo, error) {
	r, err := lookupRepo(ctx, tx, name)
	if !errors.Is(err, metadata.ErrNotFound) {
		return r, err
	}
	r.ns = s.policy().Namespace(name)
	err = tx.QueryRowContext(ctx, `INSERT INTO repositories (name, namespace, created_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING RETURNING id`, name, r.ns, time.Now().UnixNano()).Scan(&r.id)
	if errors.Is(err, sql.ErrNoRows) {
		return lookupRepo(ctx, tx, name) // created by a concurrent push
	}
	if err != nil {
		return r, fmt.Errorf("ensure repository %s: %w", name, err)
	}
	return r, nil
}

// repo is a repository row: its id and the namespace its storage counts in.
type repo struct {
	id int64
	ns string
}

func lookupRepo(ctx context.Context, tx *tx, name string) (repo, error) {
	var r repo
	err := tx.QueryRowContext(ctx, `SELECT id, namespace FROM repositories WHERE name = ?`, name).Scan(&r.id, &r.ns)
	if errors.Is(err, sql.ErrNoRows) {
		return r, metadata.ErrNotFound
	}
	return r, err
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

// LinkBlob records the blob and links it into the repository. A link the namespace's
// quota refuses is undone alone (in a savepoint, taken only when the policy limits the
// repository's namespace): the blob's record stays, unlinked, so that garbage
// collection reclaims the bytes the caller already stored.
func (s *Store) LinkBlob(ctx context.Context, repo string, b metadata.Blob) error {
	var refused error
	p := s.policy()
	limited := p.StorageLimit(p.Namespace(repo)) > 0
	err := s.write(ctx, func(ctx context.Context, tx *tx) error {
		refused = nil
		now := time.Now().UnixNano()
		if _, err := tx.ExecContext(ctx, `INSERT INTO blobs (digest, size, created_at, linked_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET linked_at = excluded.linked_at`, b.Digest.String(), b.Size, now, now); err != nil {
			return fmt.Errorf("insert blob: %w", err)
		}
		if !limited {
			return s.ensureAndLink(ctx, tx, repo, b, now)
		}
		if _, err := tx.Tx.ExecContext(ctx, "SAVEPOINT link"); err != nil {
			return err
		}
		err := s.ensureAndLink(ctx, tx, repo, b, now)
		var qe *metadata.QuotaError
		if errors.As(err, &qe) {
			refused = err
			if _, err := tx.Tx.ExecContext(ctx, "ROLLBACK TO link"); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		_, err = tx.Tx.ExecContext(ctx, "RELEASE link")
		return err
	})
	if err != nil {
		return err
	}
	return refused
}

func (s *Store) ensureAndLink(ctx context.Context, tx *tx, name string, b metadata.Blob, now int64) error {
	r, err := s.ensureRepo(ctx, tx, name)
	if err != nil {
		return err
	}
	return s.link(ctx, tx, r, b, now)
}

// link links a blob into a repository, restarting the link's grace period, and counts
// a new link in the namespace's usage (*metadata.QuotaError when it would pass the
// limit). A link that a concurrent collection deletes between the two statements is
// made again.
func (s *Store) link(ctx context.Context, tx *tx, r repo, b metadata.Blob, now int64) error {
	for attempt := 0; ; attempt++ {
		res, err := tx.ExecContext(ctx, `INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, ?)
			ON CONFLICT (repository_id, digest) DO NOTHING`, r.id, b.Digest.String(), now)
		if err != nil {
			return fmt.Errorf("link blob: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			// A new link adds the blob to the repository's figures and its namespace's usage.
			if err := moveStats(ctx, tx, r.id, 0, b.Size, 0); err != nil {
				return err
			}
			return s.countBlob(ctx, tx, r.ns, b)
		}
		res, err = tx.ExecContext(ctx, `UPDATE repository_blobs SET created_at = ? WHERE repository_id = ? AND digest = ?`, now, r.id, b.Digest.String())
		if err != nil {
			return fmt.Errorf("link blob: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			return nil
		}
		if attempt == 3 {
			return fmt.Errorf("link blob %s: its link keeps being collected", b.Digest)
		}
	}
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
		return s.ensureAndLink(ctx, tx, repo, b, now)
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

// UnlinkBlob removes the blob from the repository (and its figures) and, if it was the
// namespace's last link to it, from the namespace's usage.
func (s *Store) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		var rid int64
		err := tx.QueryRowContext(ctx, `DELETE FROM repository_blobs
			WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?
			RETURNING repository_id`, repo, d.String()).Scan(&rid)
		if errors.Is(err, sql.ErrNoRows) {
			return metadata.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := uncountBlob(ctx, tx, rid, d); err != nil {
			return err
		}
		return unlinked(ctx, tx, rid, d)
	})
}

// unlinked takes a blob just unlinked from a repository off its figures.
func unlinked(ctx context.Context, tx *tx, repoID int64, d digest.Digest) error {
	var size int64
	if err := tx.QueryRowContext(ctx, `SELECT size FROM blobs WHERE digest = ?`, d.String()).Scan(&size); err != nil {
		return fmt.Errorf("size of %s: %w", d, err)
	}
	return moveStats(ctx, tx, repoID, 0, -size, 0)
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
