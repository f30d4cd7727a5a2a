package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// moveStats adds to a repository's figures within a write, creating its row on the first
// change. pushedAt only ever moves the last push forward.
func moveStats(ctx context.Context, tx *tx, repoID, tags, bytes, pushedAt int64) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO repository_stats (repository_id, tag_count, blob_bytes, pushed_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (repository_id) DO UPDATE SET tag_count = repository_stats.tag_count + excluded.tag_count,
			blob_bytes = repository_stats.blob_bytes + excluded.blob_bytes,
			pushed_at = CASE WHEN excluded.pushed_at > repository_stats.pushed_at THEN excluded.pushed_at ELSE repository_stats.pushed_at END`,
		repoID, tags, bytes, pushedAt)
	if err != nil {
		return fmt.Errorf("repository figures: %w", err)
	}
	return nil
}

// likeContains is the LIKE pattern matching names that contain s, with LIKE's own
// characters escaped.
func likeContains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// BrowseRepositories lists repositories with their figures. The name filter is a
// substring match walked along the name index: a page stops as soon as it is full, and
// a term that matches few names costs one pass over the index (100,000 names: see
// docs/benchmarks.md). Repository names are lower case, so the match is too.
func (s *Store) BrowseRepositories(ctx context.Context, contains, after string, limit int) ([]metadata.RepositorySummary, error) {
	q := `SELECT r.name, coalesce(st.tag_count, 0), coalesce(st.blob_bytes, 0), coalesce(st.pushed_at, 0)
		FROM repositories r LEFT JOIN repository_stats st ON st.repository_id = r.id
		WHERE r.name > ?`
	args := []any{after}
	if contains != "" {
		q += ` AND r.name LIKE ? ESCAPE '\'`
		args = append(args, likeContains(strings.ToLower(contains)))
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY r.name LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("browse repositories: %w", err)
	}
	defer rows.Close()
	out := []metadata.RepositorySummary{}
	for rows.Next() {
		var rs metadata.RepositorySummary
		var pushed int64
		if err := rows.Scan(&rs.Name, &rs.Tags, &rs.Size, &pushed); err != nil {
			return nil, err
		}
		rs.PushedAt = timeOrZero(pushed)
		out = append(out, rs)
	}
	return out, rows.Err()
}

// RepositorySummary returns one repository's figures.
func (s *Store) RepositorySummary(ctx context.Context, repo string) (metadata.RepositorySummary, error) {
	rs := metadata.RepositorySummary{Name: repo}
	var pushed int64
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(st.tag_count, 0), coalesce(st.blob_bytes, 0), coalesce(st.pushed_at, 0)
		FROM repositories r LEFT JOIN repository_stats st ON st.repository_id = r.id WHERE r.name = ?`, repo).Scan(&rs.Tags, &rs.Size, &pushed)
	if errors.Is(err, sql.ErrNoRows) {
		return rs, metadata.ErrNotFound
	}
	rs.PushedAt = timeOrZero(pushed)
	return rs, err
}

func timeOrZero(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns)
}

const manifestSummaryColumns = `m.digest, m.media_type, m.artifact_type, m.os, m.architecture, m.variant, m.payload`

func scanManifestSummary(dst []any, ms *metadata.ManifestSummary) []any {
	return append(dst, (*digestScanner)(&ms.Digest), &ms.MediaType, &ms.ArtifactType, &ms.OS, &ms.Architecture, &ms.Variant, &ms.Payload)
}

// BrowseTags lists a page of tags with their manifests: a range scan of the tags key
// (by name) or of tags_updated (newest first), whatever the number of tags.
func (s *Store) BrowseTags(ctx context.Context, repo string, order metadata.TagOrder, from metadata.TagCursor, limit int) ([]metadata.TagSummary, error) {
	var cond, sort string
	var args []any
	switch order {
	case metadata.TagsNewest:
		// Before (updated_at, name), descending; the zero cursor is the end. A row value
		// is a range of tags_updated on both engines.
		t := int64(math.MaxInt64)
		if !from.UpdatedAt.IsZero() {
			t = from.UpdatedAt.UnixNano()
		}
		cond, args, sort = `(t.updated_at, t.name) < (?, ?)`, []any{t, from.Name}, `t.updated_at DESC, t.name DESC`
	default:
		cond, args, sort = `t.name > ?`, []any{from.Name}, `t.name`
	}
	// The repository is a scalar subquery for the reason ListTags gives.
	rows, err := s.r.QueryContext(ctx, `SELECT t.name, t.updated_at, `+manifestSummaryColumns+`
		FROM tags t JOIN manifests m ON m.id = t.manifest_id
		WHERE t.repository_id = (SELECT id FROM repositories WHERE name = ?) AND `+cond+`
		ORDER BY `+sort+` LIMIT ?`, append(append([]any{repo}, args...), limit)...)
	if err != nil {
		return nil, fmt.Errorf("browse tags of %s: %w", repo, err)
	}
	defer rows.Close()
	out := []metadata.TagSummary{}
	for rows.Next() {
		var ts metadata.TagSummary
		var updated int64
		if err := rows.Scan(scanManifestSummary([]any{&ts.Name, &updated}, &ts.Manifest)...); err != nil {
			return nil, err
		}
		ts.UpdatedAt = time.Unix(0, updated)
		out = append(out, ts)
	}
	return out, rows.Err()
}

// ListChildren returns the stored children of the lists, by list.
func (s *Store) ListChildren(ctx context.Context, repo string, lists []digest.Digest) (map[digest.Digest][]metadata.ManifestSummary, error) {
	out := map[digest.Digest][]metadata.ManifestSummary{}
	const batch = 200
	for start := 0; start < len(lists); start += batch {
		chunk := lists[start:min(start+batch, len(lists))]
		args := []any{repo}
		for _, d := range chunk {
			args = append(args, d.String())
		}
		rows, err := s.r.QueryContext(ctx, `SELECT l.digest, `+manifestSummaryColumns+`
			FROM manifests l
			JOIN manifest_children mc ON mc.manifest_id = l.id
			JOIN manifests m ON m.repository_id = l.repository_id AND m.digest = mc.child_digest
			WHERE l.repository_id = (SELECT id FROM repositories WHERE name = ?) AND l.digest IN (`+placeholders(len(chunk))+`)
			ORDER BY l.digest, m.digest`, args...)
		if err != nil {
			return nil, fmt.Errorf("list children: %w", err)
		}
		for rows.Next() {
			var list digest.Digest
			var ms metadata.ManifestSummary
			if err := rows.Scan(scanManifestSummary([]any{(*digestScanner)(&list)}, &ms)...); err != nil {
				rows.Close()
				return nil, err
			}
			out[list] = append(out[list], ms)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
