package sqlstore

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// untaggedSince adds to untaggedManifest that no tag has left the manifest since the
// cut (its parameter): together they say "untagged since before the cut".
const untaggedSince = ` AND NOT EXISTS (SELECT 1 FROM tag_history h
	WHERE h.repository_id = m.repository_id AND h.old_digest = m.digest AND h.moved_at >= ?)`

// RetentionTags lists a page of tags with their digests, push times and last pulls: a
// range scan of the tags key, and two lookups of the pulls key per tag.
func (s *Store) RetentionTags(ctx context.Context, repo, after string, limit int) ([]metadata.TagUse, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT t.name, m.digest, t.updated_at,
			COALESCE((SELECT max(p.pulled_at) FROM pulls p
				WHERE p.repository_id = t.repository_id AND p.reference IN (t.name, m.digest)), 0)
		FROM tags t JOIN manifests m ON m.id = t.manifest_id
		WHERE t.repository_id = (SELECT id FROM repositories WHERE name = ?) AND t.name > ?
		ORDER BY t.name LIMIT ?`, repo, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []metadata.TagUse{}
	for rows.Next() {
		var u metadata.TagUse
		var d string
		var pushed, pulled int64
		if err := rows.Scan(&u.Tag, &d, &pushed, &pulled); err != nil {
			return nil, err
		}
		u.Digest, u.PushedAt = digest.Digest(d), unixNano(pushed)
		if pulled > 0 {
			u.PulledAt = unixNano(pulled)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// ExpireTag removes the tag only if the row is still the one judged. On PostgreSQL a
// push moving the tag meanwhile holds its row; the DELETE waits for it and then checks
// its conditions on the row the push left, so it removes nothing the push set.
func (s *Store) ExpireTag(ctx context.Context, repo string, u metadata.TagUse) (bool, error) {
	pulled := int64(0)
	if !u.PulledAt.IsZero() {
		pulled = u.PulledAt.UnixNano()
	}
	var n int
	err := s.write(ctx, func(ctx context.Context, tx *tx) error {
		var err error
		n, err = s.removeTags(ctx, tx, repo, false, `DELETE FROM tags
			WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND name = ?
				AND manifest_id = (SELECT m.id FROM manifests m WHERE m.repository_id = tags.repository_id AND m.digest = ?)
				AND updated_at = ?
				AND NOT EXISTS (SELECT 1 FROM pulls p WHERE p.repository_id = tags.repository_id
					AND p.reference IN (?, ?) AND p.pulled_at > ?)
			RETURNING repository_id, name, manifest_id`,
			repo, u.Tag, u.Digest.String(), u.PushedAt.UnixNano(), u.Tag, u.Digest.String(), pulled)
		if err != nil || n == 0 {
			return err
		}
		return bump(ctx, tx)
	})
	return n > 0, err
}

// ExpiredManifests lists the manifests of repo untagged since before the cut, by digest.
func (s *Store) ExpiredManifests(ctx context.Context, repo string, before time.Time, after digest.Digest, limit int) ([]metadata.UntaggedManifest, error) {
	cut := before.UnixNano()
	rows, err := s.r.QueryContext(ctx, `SELECT m.digest, m.created_at,
			COALESCE((SELECT max(h.moved_at) FROM tag_history h WHERE h.repository_id = m.repository_id AND h.old_digest = m.digest), 0)
		FROM manifests m
		WHERE m.repository_id = (SELECT id FROM repositories WHERE name = ?) AND m.digest > ?
			AND `+untaggedManifest+untaggedSince+`
		ORDER BY m.digest LIMIT ?`, repo, after.String(), cut, s.keepSince(), cut, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []metadata.UntaggedManifest{}
	for rows.Next() {
		var d string
		var created, left int64
		if err := rows.Scan(&d, &created, &left); err != nil {
			return nil, err
		}
		out = append(out, metadata.UntaggedManifest{Digest: digest.Digest(d), Since: unixNano(max(created, left))})
	}
	return out, rows.Err()
}

// DeleteExpiredManifest deletes the manifest if it is still untagged since before the
// cut, with the locking of DeleteUntaggedManifest.
func (s *Store) DeleteExpiredManifest(ctx context.Context, ref metadata.ManifestRef, before time.Time) (bool, error) {
	return s.deleteManifestIf(ctx, ref, untaggedManifest+untaggedSince, before.UnixNano(), s.keepSince(), before.UnixNano())
}
