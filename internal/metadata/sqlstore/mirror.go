package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// PutCachedManifest stores a manifest of the pull-through cache as a push stores one
// (tag history, tag limit, usage), without the checks PutManifest makes for blobs and
// children, and marks the repository as a cache. A cached tag follows its upstream even
// where an immutable rule matches it: nobody can push to a cache, so the rule has no
// push to guard against, and refusing the upstream's move would leave the cache serving
// a digest the upstream no longer has under that tag.
func (s *Store) PutCachedManifest(ctx context.Context, repo, upstream string, m *metadata.Manifest, tag string, checked time.Time) error {
	ctx = context.WithValue(ctx, followsUpstreamKey{}, true)
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		r, err := s.ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO mirror_repositories (repository_id, upstream, created_at) VALUES (?, ?, ?)
			ON CONFLICT (repository_id) DO NOTHING`, r.id, upstream, time.Now().UnixNano()); err != nil {
			return err
		}
		var tags []string
		if tag != "" {
			tags = []string{tag}
		}
		now := checked.UnixNano()
		if err := s.storeManifest(ctx, tx, r, repo, m, tags, now); err != nil {
			return err
		}
		if tag == "" {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO mirror_tags (repository_id, name, checked_at) VALUES (?, ?, ?)
			ON CONFLICT (repository_id, name) DO UPDATE SET checked_at = excluded.checked_at`, r.id, tag, now)
		return err
	})
}

// followsUpstreamKey marks the context of a cached manifest's write: its tag moves are
// the upstream's, not checked against the immutable rules.
type followsUpstreamKey struct{}

func followsUpstream(ctx context.Context) bool {
	v, _ := ctx.Value(followsUpstreamKey{}).(bool)
	return v
}

// CachedTag returns the tag's digest and when it was last checked against upstream.
func (s *Store) CachedTag(ctx context.Context, repo, tag string) (metadata.CachedTag, error) {
	var d string
	var checked sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT m.digest, mt.checked_at FROM tags t
		JOIN manifests m ON m.id = t.manifest_id
		LEFT JOIN mirror_tags mt ON mt.repository_id = t.repository_id AND mt.name = t.name
		WHERE t.repository_id = (SELECT id FROM repositories WHERE name = ?) AND t.name = ?`, repo, tag).Scan(&d, &checked)
	if errors.Is(err, sql.ErrNoRows) {
		return metadata.CachedTag{}, metadata.ErrNotFound
	}
	if err != nil {
		return metadata.CachedTag{}, err
	}
	ct := metadata.CachedTag{Digest: digest.Digest(d)}
	if checked.Valid {
		ct.CheckedAt = unixNano(checked.Int64)
	}
	return ct, nil
}

// TagChecked restarts the tag's time to live.
func (s *Store) TagChecked(ctx context.Context, repo, tag string, checked time.Time) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		var rid int64
		err := tx.QueryRowContext(ctx, `SELECT t.repository_id FROM tags t
			WHERE t.repository_id = (SELECT id FROM repositories WHERE name = ?) AND t.name = ?`, repo, tag).Scan(&rid)
		if errors.Is(err, sql.ErrNoRows) {
			return metadata.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO mirror_tags (repository_id, name, checked_at) VALUES (?, ?, ?)
			ON CONFLICT (repository_id, name) DO UPDATE SET checked_at = excluded.checked_at`, rid, tag, checked.UnixNano())
		return err
	})
}

// CachedRepositories lists cached repositories by name.
func (s *Store) CachedRepositories(ctx context.Context, after string, limit int) ([]metadata.CachedRepository, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT r.name, mr.upstream FROM mirror_repositories mr
		JOIN repositories r ON r.id = mr.repository_id
		WHERE r.name > ? ORDER BY r.name LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []metadata.CachedRepository{}
	for rows.Next() {
		var c metadata.CachedRepository
		if err := rows.Scan(&c.Name, &c.Upstream); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// AcquireFetch takes the lease on fetching d unless another owner holds a live one:
// the upsert changes the row only when it is the caller's or has expired, so of two
// replicas racing, the one whose statement runs second sees the other's lease.
func (s *Store) AcquireFetch(ctx context.Context, d digest.Digest, owner string, ttl time.Duration) (bool, error) {
	var ok bool
	err := s.write(ctx, func(ctx context.Context, tx *tx) error {
		now := time.Now()
		res, err := tx.ExecContext(ctx, `INSERT INTO mirror_fetches (digest, owner, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE mirror_fetches.owner = excluded.owner OR mirror_fetches.expires_at < ?`,
			d.String(), owner, now.Add(ttl).UnixNano(), now.UnixNano())
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		ok = n > 0
		return err
	})
	return ok, err
}

// ReleaseFetch drops owner's lease on d.
func (s *Store) ReleaseFetch(ctx context.Context, d digest.Digest, owner string) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM mirror_fetches WHERE digest = ? AND owner = ?`, d.String(), owner)
		return err
	})
}
