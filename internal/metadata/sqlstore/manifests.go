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

// PutManifest stores the manifest and points the tags at it, in one transaction, once
// the repository has every blob and child the manifest references.
func (s *Store) PutManifest(ctx context.Context, repo string, m *metadata.Manifest, tags []string) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		r, err := s.ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		// The links and children are locked against collection until this commits.
		for _, b := range m.Blobs {
			if err := exists(ctx, tx, `SELECT 1 FROM repository_blobs WHERE repository_id = ? AND digest = ?`+s.d.ForShare, r.id, b); err != nil {
				return missing(err, "blob", b)
			}
		}
		for _, c := range m.Children {
			if err := exists(ctx, tx, `SELECT 1 FROM manifests WHERE repository_id = ? AND digest = ?`+s.d.ForShare, r.id, c); err != nil {
				return missing(err, "manifest", c)
			}
		}
		return s.storeManifest(ctx, tx, r, repo, m, tags, time.Now().UnixNano())
	})
}

// storeManifest stores m in repository r (named repo) and points the tags at it, moved
// at now; it checks the repository's tag limit and counts a new manifest in its
// namespace's usage (last, so that the namespace's row is locked for the shortest
// time). Manifests count once per repository, as they are stored: each repository has
// its own row. A push checks the manifest's references before; the pull-through cache
// stores a manifest before its blobs.
func (s *Store) storeManifest(ctx context.Context, tx *tx, r repo, name string, m *metadata.Manifest, tags []string, now int64) error {
	if limit := s.policy().TagLimit(name); limit > 0 && len(tags) > 0 {
		if err := s.checkTags(ctx, tx, r.id, name, tags, limit); err != nil {
			return err
		}
	}
	mid, created, err := insertManifest(ctx, tx, r.id, m)
	if err != nil {
		return err
	}
	var added int64
	for _, t := range tags {
		isNew, err := s.moveTag(ctx, tx, r.id, name, t, mid, m.Digest, now)
		if err != nil {
			return fmt.Errorf("tag %s: %w", t, err)
		}
		if isNew {
			added++
		}
	}
	if err := moveStats(ctx, tx, r.id, added, 0, now); err != nil {
		return err
	}
	if created {
		if err := s.addUsage(ctx, tx, r.ns, int64(len(m.Payload))); err != nil {
			return err
		}
	}
	return bump(ctx, tx)
}

func exists(ctx context.Context, tx *tx, query string, args ...any) error {
	var one int
	return tx.QueryRowContext(ctx, query, args...).Scan(&one)
}

func missing(err error, kind string, d digest.Digest) error {
	if errors.Is(err, sql.ErrNoRows) {
		return &metadata.MissingError{Kind: kind, Digest: d}
	}
	return err
}

// insertManifest stores the manifest row and its extracted facts, unless the repository
// already has this digest, and returns its id and whether it created it.
func insertManifest(ctx context.Context, tx *tx, rid int64, m *metadata.Manifest) (int64, bool, error) {
	var mid int64
	err := tx.QueryRowContext(ctx, `INSERT INTO manifests (repository_id, digest, media_type, artifact_type, config_digest,
			config_media_type, subject_digest, os, architecture, variant, payload, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (repository_id, digest) DO NOTHING RETURNING id`,
		rid, m.Digest.String(), m.MediaType, m.ArtifactType, m.ConfigDigest.String(), m.ConfigMediaType,
		m.Subject.String(), m.OS, m.Architecture, m.Variant, m.Payload, m.CreatedAt.UnixNano()).Scan(&mid)
	if errors.Is(err, sql.ErrNoRows) {
		// Already stored: same digest, same bytes, same facts.
		err = tx.QueryRowContext(ctx, `SELECT id FROM manifests WHERE repository_id = ? AND digest = ?`, rid, m.Digest.String()).Scan(&mid)
		return mid, false, err
	}
	if err != nil {
		return 0, false, fmt.Errorf("insert manifest: %w", err)
	}
	inserts := []struct {
		query string
		rows  [][]any
	}{
		{`INSERT INTO manifest_blobs (manifest_id, digest) VALUES (?, ?) ON CONFLICT DO NOTHING`, digestRows(m.Blobs)},
		{`INSERT INTO manifest_children (manifest_id, child_digest) VALUES (?, ?) ON CONFLICT DO NOTHING`, digestRows(m.Children)},
		{`INSERT INTO manifest_labels (manifest_id, key, value) VALUES (?, ?, ?)`, mapRows(m.Labels)},
		{`INSERT INTO manifest_annotations (manifest_id, key, value) VALUES (?, ?, ?)`, mapRows(m.Annotations)},
	}
	for _, ins := range inserts {
		for _, r := range ins.rows {
			// Prepared once per transaction (and group of transactions) by tx.
			if _, err := tx.ExecContext(ctx, ins.query, append([]any{mid}, r...)...); err != nil {
				return 0, false, fmt.Errorf("insert manifest facts: %w", err)
			}
		}
	}
	if m.App != nil {
		if err := insertApp(ctx, tx, mid, m.App); err != nil {
			return 0, false, err
		}
	}
	return mid, true, nil
}

// digestRows and mapRows shape the fact rows to insert after the manifest id.
func digestRows(ds []digest.Digest) [][]any {
	out := make([][]any, len(ds))
	for i, d := range ds {
		out[i] = []any{d.String()}
	}
	return out
}

func mapRows(m map[string]string) [][]any {
	out := make([][]any, 0, len(m))
	for k, v := range m {
		out = append(out, []any{k, v})
	}
	return out
}

// Manifest returns the manifest with every extracted fact.
func (s *Store) Manifest(ctx context.Context, repo string, d digest.Digest) (*metadata.Manifest, error) {
	m := &metadata.Manifest{Digest: d}
	var id, created int64
	var config, subject string
	err := s.r.QueryRowContext(ctx, `SELECT m.id, m.media_type, m.artifact_type, m.config_digest, m.config_media_type,
			m.subject_digest, m.os, m.architecture, m.variant, m.payload, m.created_at
		FROM manifests m JOIN repositories r ON r.id = m.repository_id
		WHERE r.name = ? AND m.digest = ?`, repo, d.String()).
		Scan(&id, &m.MediaType, &m.ArtifactType, &config, &m.ConfigMediaType, &subject, &m.OS, &m.Architecture, &m.Variant, &m.Payload, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, metadata.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	m.ConfigDigest, m.Subject, m.CreatedAt = digest.Digest(config), digest.Digest(subject), unixNano(created)
	if m.Labels, err = s.keyValues(ctx, `SELECT key, value FROM manifest_labels WHERE manifest_id = ?`, id); err != nil {
		return nil, err
	}
	if m.Annotations, err = s.keyValues(ctx, `SELECT key, value FROM manifest_annotations WHERE manifest_id = ?`, id); err != nil {
		return nil, err
	}
	if m.Blobs, err = s.digests(ctx, `SELECT digest FROM manifest_blobs WHERE manifest_id = ? ORDER BY digest`, id); err != nil {
		return nil, err
	}
	if m.Children, err = s.digests(ctx, `SELECT child_digest FROM manifest_children WHERE manifest_id = ? ORDER BY child_digest`, id); err != nil {
		return nil, err
	}
	return m, nil
}

func (s *Store) keyValues(ctx context.Context, query string, args ...any) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, err
		}
		out[k] = v
	}
	return out, rows.Err()
}

func (s *Store) digests(ctx context.Context, query string, args ...any) ([]digest.Digest, error) {
	ss, err := queryStrings(ctx, s.r, query, args...)
	if err != nil {
		return nil, err
	}
	out := make([]digest.Digest, len(ss))
	for i, v := range ss {
		out[i] = digest.Digest(v)
	}
	return out, nil
}

// ResolveTag returns the digest the tag points to.
func (s *Store) ResolveTag(ctx context.Context, repo, tag string) (digest.Digest, error) {
	var d string
	err := s.r.QueryRowContext(ctx, `SELECT m.digest FROM tags t
		JOIN repositories r ON r.id = t.repository_id
		JOIN manifests m ON m.id = t.manifest_id
		WHERE r.name = ? AND t.name = ?`, repo, tag).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return "", metadata.ErrNotFound
	}
	return digest.Digest(d), err
}

// DeleteManifest removes the manifest and its tags, recording their removal, takes it
// out of its namespace's usage, and drops the icons no other manifest uses.
func (s *Store) DeleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		var mid, rid, size int64
		err := tx.QueryRowContext(ctx, `SELECT id, repository_id, length(payload) FROM manifests
			WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND digest = ?`, repo, d.String()).Scan(&mid, &rid, &size)
		if errors.Is(err, sql.ErrNoRows) {
			return metadata.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := s.removeTags(ctx, tx, repo, metadata.ImmutableOverride(ctx), `DELETE FROM tags WHERE manifest_id = ? RETURNING repository_id, name, manifest_id`, mid); err != nil {
			return err
		}
		icons, err := iconsOf(ctx, tx, mid)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM manifests WHERE id = ?`, mid)
		if err != nil {
			return err
		}
		if err := affected(res); err != nil {
			return err
		}
		if err := subtractUsage(ctx, tx, rid, size); err != nil {
			return err
		}
		if err := s.dropIcons(ctx, tx, icons); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// DeleteTag removes the tag, recording its removal.
func (s *Store) DeleteTag(ctx context.Context, repo, tag string) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		n, err := s.removeTags(ctx, tx, repo, metadata.ImmutableOverride(ctx), `DELETE FROM tags
			WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND name = ?
			RETURNING repository_id, name, manifest_id`, repo, tag)
		if err != nil {
			return err
		}
		if n == 0 {
			return metadata.ErrNotFound
		}
		return bump(ctx, tx)
	})
}

// ListTags lists tags after `after` in byte order: a range scan of the tags key.
func (s *Store) ListTags(ctx context.Context, repo, after string, limit int) ([]string, error) {
	// One query per page: a walk is a thousand of them. Only an empty page asks whether
	// the repository exists at all. The repository is a scalar subquery, not a join:
	// PostgreSQL's generic plan for the join walked the tag index from its start on
	// every page (20 s for 100,000 tags).
	tags, err := queryStrings(ctx, s.r, `SELECT name FROM tags
		WHERE repository_id = (SELECT id FROM repositories WHERE name = ?) AND name > ? ORDER BY name LIMIT ?`, repo, after, limit)
	if err != nil || len(tags) > 0 {
		return tags, err
	}
	if _, err := repoID(ctx, s.r, repo); err != nil { // the read pool: no namespace needed
		return nil, err
	}
	return tags, nil
}

// Referrers lists the manifests whose subject is subject, by digest.
func (s *Store) Referrers(ctx context.Context, repo string, subject digest.Digest, artifactType string, after digest.Digest, limit int) ([]metadata.Referrer, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, digest, media_type, size, artifact_type FROM (
			SELECT m.id, m.digest, m.media_type, length(m.payload) AS size,
				CASE WHEN m.artifact_type <> '' THEN m.artifact_type ELSE m.config_media_type END AS artifact_type
			FROM manifests m
			WHERE m.repository_id = (SELECT id FROM repositories WHERE name = ?)
				AND m.subject_digest <> '' AND m.subject_digest = ? AND m.digest > ?) AS refs
		WHERE ? = '' OR artifact_type = ?
		ORDER BY digest LIMIT ?`, repo, subject.String(), after.String(), artifactType, artifactType, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []metadata.Referrer{}
	var ids []int64
	for rows.Next() {
		var r metadata.Referrer
		var id int64
		var d string
		if err := rows.Scan(&id, &d, &r.MediaType, &r.Size, &r.ArtifactType); err != nil {
			return nil, err
		}
		r.Digest = digest.Digest(d)
		out = append(out, r)
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for i, id := range ids {
		if out[i].Annotations, err = s.keyValues(ctx, `SELECT key, value FROM manifest_annotations WHERE manifest_id = ?`, id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func unixNano(n int64) time.Time { return time.Unix(0, n) }
