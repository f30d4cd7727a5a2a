package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// insertApp records the App facts of the manifest mid and stores its icons (once each,
// by digest). An icon's row is locked by the upsert before the App refers to it, so a
// delete that drops the icon as unused either runs first (and the upsert stores it
// again) or waits and then sees the new reference (dropIcons).
func insertApp(ctx context.Context, tx *tx, mid int64, app *metadata.App) error {
	icons := map[string]any{metadata.LabelIcon64: nil, metadata.LabelIcon128: nil}
	for _, icon := range app.Icons {
		if _, ok := icons[icon.Label]; !ok {
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO icons (digest, data, created_at) VALUES (?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET created_at = icons.created_at`,
			icon.Digest.String(), icon.Data, time.Now().UnixNano()); err != nil {
			return fmt.Errorf("store icon: %w", err)
		}
		icons[icon.Label] = icon.Digest.String()
	}
	releases, err := json.Marshal(nonNilReleases(app.Releases))
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO manifest_apps (manifest_id, kind, app_id, arch, branch, runtime, name, summary,
			description, license, homepage, version, releases, icon64, icon128)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (manifest_id) DO NOTHING`,
		mid, app.Kind, app.ID, app.Arch, app.Branch, app.Runtime, app.Name, app.Summary, app.Description,
		app.License, app.Homepage, app.Version, string(releases), icons[metadata.LabelIcon64], icons[metadata.LabelIcon128])
	if err != nil {
		return fmt.Errorf("insert app facts: %w", err)
	}
	return nil
}

func nonNilReleases(r []metadata.Release) []metadata.Release {
	if r == nil {
		return []metadata.Release{}
	}
	return r
}

// iconsOf returns the icons the App facts of manifest mid use, before it is deleted.
func iconsOf(ctx context.Context, tx *tx, mid int64) ([]string, error) {
	var i64, i128 sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT icon64, icon128 FROM manifest_apps WHERE manifest_id = ?`, mid).Scan(&i64, &i128)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("icons of manifest: %w", err)
	}
	var out []string
	for _, v := range []sql.NullString{i64, i128} {
		if v.Valid {
			out = append(out, v.String)
		}
	}
	return out, nil
}

// dropIcons deletes those of the icons that no App uses any more. Each icon's row is
// locked before the check, which a later statement makes: it sees every reference
// committed before the lock was granted (see insertApp).
func (s *Store) dropIcons(ctx context.Context, tx *tx, icons []string) error {
	for _, d := range icons {
		var got string
		err := tx.QueryRowContext(ctx, `SELECT digest FROM icons WHERE digest = ?`+s.d.ForUpdate, d).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("lock icon: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM icons WHERE digest = ? AND NOT EXISTS (
				SELECT 1 FROM manifest_apps WHERE icon64 = ? OR icon128 = ?)`, d, d, d); err != nil {
			return fmt.Errorf("drop icon: %w", err)
		}
	}
	return nil
}

// Icon returns an icon's bytes.
func (s *Store) Icon(ctx context.Context, d digest.Digest) ([]byte, error) {
	var data []byte
	err := s.r.QueryRowContext(ctx, `SELECT data FROM icons WHERE digest = ?`, d.String()).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, metadata.ErrNotFound
	}
	return data, err
}

// IconRepositories lists the repositories with a manifest whose App uses the icon. The
// partial indexes on icon64 and icon128 find those manifests (an icon is in a handful),
// so the cost follows the icon's uses, not the number of repositories; the page is
// sorted by name.
func (s *Store) IconRepositories(ctx context.Context, d digest.Digest, after string, limit int) ([]string, error) {
	return queryStrings(ctx, s.r, `SELECT DISTINCT r.name FROM manifest_apps a
			JOIN manifests m ON m.id = a.manifest_id JOIN repositories r ON r.id = m.repository_id
		WHERE (a.icon64 = ? OR a.icon128 = ?) AND r.name > ?
		ORDER BY r.name LIMIT ?`, d.String(), d.String(), after, limit)
}

// taggedApp: the image manifest m is tagged, or is in a tagged list of its repository.
const taggedApp = `(EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id) OR EXISTS (
	SELECT 1 FROM manifest_children mc JOIN manifests l ON l.id = mc.manifest_id
	WHERE l.repository_id = m.repository_id AND mc.child_digest = m.digest
		AND EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = l.id)))`

// Apps returns a gallery page: the next application ids in byte order, walked along
// manifest_apps_app, and their tagged images.
func (s *Store) Apps(ctx context.Context, after string, limit int) ([]string, []metadata.AppImage, error) {
	ids, err := queryStrings(ctx, s.r, `SELECT DISTINCT a.app_id FROM manifest_apps a JOIN manifests m ON m.id = a.manifest_id
		WHERE a.app_id > ? AND a.kind = 'app' AND `+taggedApp+` ORDER BY a.app_id LIMIT ?`, after, limit)
	if err != nil || len(ids) == 0 {
		return ids, nil, err
	}
	images, err := s.appImages(ctx, false, `a.app_id IN (`+placeholders(len(ids))+`)`, anys(ids)...)
	return ids, images, err
}

// AppImages returns the tagged images of one application or runtime id.
func (s *Store) AppImages(ctx context.Context, id string) ([]metadata.AppImage, error) {
	return s.appImages(ctx, true, `a.app_id = ?`, id)
}

// appImages reads the tagged images whose App matches cond: each tagged image once,
// and each image of a tagged list once per list, ordered by id, repository and digest.
func (s *Store) appImages(ctx context.Context, releases bool, cond string, args ...any) ([]metadata.AppImage, error) {
	rel := `'[]'`
	if releases {
		rel = `a.releases`
	}
	cols := `r.name AS repo, m.digest AS digest, m.created_at, a.kind, a.app_id, a.arch, a.branch, a.runtime, a.name AS app_name,
		a.summary, a.description,
		a.license, a.homepage, a.version, ` + rel + ` AS releases, coalesce(a.icon64, '') AS icon64, coalesce(a.icon128, '') AS icon128`
	q := `SELECT * FROM (
		SELECT '' AS list, ` + cols + `
		FROM manifest_apps a JOIN manifests m ON m.id = a.manifest_id JOIN repositories r ON r.id = m.repository_id
		WHERE ` + cond + ` AND EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
		UNION ALL
		SELECT l.digest AS list, ` + cols + `
		FROM manifest_apps a JOIN manifests m ON m.id = a.manifest_id JOIN repositories r ON r.id = m.repository_id
		JOIN manifest_children mc ON mc.child_digest = m.digest
		JOIN manifests l ON l.id = mc.manifest_id AND l.repository_id = m.repository_id
		WHERE ` + cond + ` AND EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = l.id)
	) AS found ORDER BY app_id, repo, digest, list`
	rows, err := s.r.QueryContext(ctx, q, append(append([]any{}, args...), args...)...)
	if err != nil {
		return nil, fmt.Errorf("app images: %w", err)
	}
	defer rows.Close()
	out := []metadata.AppImage{}
	for rows.Next() {
		var (
			im                    metadata.AppImage
			created               int64
			rels, icon64, icon128 string
		)
		a := &im.App
		if err := rows.Scan((*digestScanner)(&im.List), &im.Repository, (*digestScanner)(&im.Digest), &created, &a.Kind, &a.ID,
			&a.Arch, &a.Branch, &a.Runtime, &a.Name, &a.Summary, &a.Description, &a.License, &a.Homepage, &a.Version,
			&rels, &icon64, &icon128); err != nil {
			return nil, err
		}
		im.CreatedAt = unixNano(created)
		if err := json.Unmarshal([]byte(rels), &a.Releases); err != nil {
			return nil, fmt.Errorf("releases of %s: %w", im.Digest, err)
		}
		for _, ic := range []struct {
			label, digest string
		}{{metadata.LabelIcon64, icon64}, {metadata.LabelIcon128, icon128}} {
			if ic.digest != "" {
				size := metadata.IconLabels()[ic.label]
				a.Icons = append(a.Icons, metadata.Icon{Label: ic.label, Digest: digest.Digest(ic.digest), Width: size, Height: size})
			}
		}
		out = append(out, im)
	}
	return out, rows.Err()
}

// BackfillPending reports whether the named backfill has not finished.
func (s *Store) BackfillPending(ctx context.Context, name string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM backfills WHERE name = ?`, name).Scan(&n)
	return n > 0, err
}

// AppSources lists image manifests with an org.flatpak.ref label and no App facts, with
// their labels, in (repository, digest) order after `after`.
func (s *Store) AppSources(ctx context.Context, after metadata.ManifestRef, limit int) ([]metadata.AppSource, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT m.id, r.name, m.digest FROM manifests m JOIN repositories r ON r.id = m.repository_id
		WHERE (r.name, m.digest) > (?, ?) AND m.media_type IN (`+imageTypes+`)
			AND EXISTS (SELECT 1 FROM manifest_labels k WHERE k.manifest_id = m.id AND k.key = ?)
			AND NOT EXISTS (SELECT 1 FROM manifest_apps a WHERE a.manifest_id = m.id)
		ORDER BY r.name, m.digest LIMIT ?`, after.Repository, after.Digest.String(), metadata.LabelFlatpakRef, limit)
	if err != nil {
		return nil, fmt.Errorf("app sources: %w", err)
	}
	var (
		out []metadata.AppSource
		ids []int64
	)
	for rows.Next() {
		var src metadata.AppSource
		var id int64
		if err := rows.Scan(&id, &src.Ref.Repository, (*digestScanner)(&src.Ref.Digest)); err != nil {
			rows.Close()
			return nil, err
		}
		out, ids = append(out, src), append(ids, id)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, err
	}
	for i, id := range ids {
		if out[i].Labels, err = s.keyValues(ctx, `SELECT key, value FROM manifest_labels WHERE manifest_id = ?`, id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PutApp records the App facts of a stored manifest unless it has them.
func (s *Store) PutApp(ctx context.Context, ref metadata.ManifestRef, app *metadata.App) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		var mid int64
		err := tx.QueryRowContext(ctx, `SELECT m.id FROM manifests m
			WHERE m.repository_id = (SELECT id FROM repositories WHERE name = ?) AND m.digest = ?`+s.d.ForShare,
			ref.Repository, ref.Digest.String()).Scan(&mid)
		if errors.Is(err, sql.ErrNoRows) {
			return metadata.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := insertApp(ctx, tx, mid, app); err != nil {
			return err
		}
		// The index answers change: their icons move from labels to URLs.
		return bump(ctx, tx)
	})
}

// FinishBackfill records the named backfill done.
func (s *Store) FinishBackfill(ctx context.Context, name string) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM backfills WHERE name = ?`, name)
		return err
	})
}
