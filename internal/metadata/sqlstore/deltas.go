package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// SetDeltaPolicy sets how the store takes part in Flatpak deltas (see metadata.DeltaPolicy).
func (s *Store) SetDeltaPolicy(p metadata.DeltaPolicy) { s.deltas.Store(&p) }

func (s *Store) deltaPolicy() metadata.DeltaPolicy {
	if p := s.deltas.Load(); p != nil {
		return *p
	}
	return metadata.DeltaPolicy{}
}

// keepSince is the time from which garbage collection keeps the Flatpak images a tag
// left: never (the largest time) when deltas are off.
func (s *Store) keepSince() int64 {
	p := s.deltaPolicy()
	if !p.Enabled || p.Window <= 0 {
		return math.MaxInt64
	}
	return time.Now().Add(-p.Window).UnixNano()
}

// isFlatpak is true of the manifest m (an alias in the enclosing statement) when it, or
// an image of the list it is, carries the Flatpak ref label.
const isFlatpak = `(EXISTS (SELECT 1 FROM manifest_labels l WHERE l.manifest_id = m.id AND l.key = '` + metadata.FlatpakRefLabel + `')
	OR EXISTS (SELECT 1 FROM manifest_children c
		JOIN manifests ch ON ch.repository_id = m.repository_id AND ch.digest = c.child_digest
		JOIN manifest_labels l ON l.manifest_id = ch.id AND l.key = '` + metadata.FlatpakRefLabel + `'
		WHERE c.manifest_id = m.id))`

// keptSource is true of a manifest m that a tag left at or after the time given: a
// source of deltas, which garbage collection keeps for the window.
const keptSource = `(EXISTS (SELECT 1 FROM tag_history h
	WHERE h.repository_id = m.repository_id AND h.old_digest = m.digest AND h.moved_at >= ?) AND ` + isFlatpak + `)`

// queueDelta queues (or re-queues, coalescing) the delta job of a tag that has just
// moved to manifest mid, if that is a Flatpak and deltas are on. It runs in the move's
// transaction, so a move is never without its job. A tag of the pull-through cache gets
// none: the cache serves its upstream's images and the upstream's own _deltaindex, and
// a delta index of Berth's making in a cached repository would clash with that.
func (s *Store) queueDelta(ctx context.Context, tx *tx, rid int64, tag string, mid int64, d digest.Digest, now int64) error {
	if !s.deltaPolicy().Enabled || followsUpstream(ctx) {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO delta_jobs (repository_id, tag, target_digest, state, version, queued_at)
		SELECT ?, ?, ?, 'queued', 1, ? FROM manifests m WHERE m.id = ? AND `+isFlatpak+`
		ON CONFLICT (repository_id, tag) DO UPDATE SET target_digest = excluded.target_digest, state = 'queued',
			version = delta_jobs.version + 1, queued_at = excluded.queued_at, attempts = 0, not_before = 0, last_error = ''`,
		rid, tag, d.String(), now, mid)
	if err != nil {
		return fmt.Errorf("queue delta job: %w", err)
	}
	return nil
}

// skipLocked makes a locking SELECT pass over rows other transactions hold.
func (s *Store) skipLocked() string {
	if s.d.ForUpdate == "" {
		return ""
	}
	return s.d.ForUpdate + " SKIP LOCKED"
}

const jobColumns = `j.id, r.name, j.tag, j.target_digest, j.state, j.version, j.attempts, j.queued_at, j.not_before,
	j.lease_until, j.owner, j.finished_at, j.last_error FROM delta_jobs j JOIN repositories r ON r.id = j.repository_id`

func scanJob(sc interface{ Scan(...any) error }) (metadata.DeltaJob, error) {
	var j metadata.DeltaJob
	var target string
	var queued, notBefore, lease, finished int64
	err := sc.Scan(&j.ID, &j.Repository, &j.Tag, &target, &j.State, &j.Version, &j.Attempts, &queued, &notBefore,
		&lease, &j.Owner, &finished, &j.LastError)
	j.Target = digest.Digest(target)
	j.QueuedAt, j.NotBefore, j.LeaseUntil, j.FinishedAt = unixNano(queued), unixNano(notBefore), unixNano(lease), unixNano(finished)
	return j, err
}

// ClaimDeltaJob leases the oldest due job. The candidate row is locked (and skipped by
// concurrent claims on PostgreSQL) until the lease is written and committed.
func (s *Store) ClaimDeltaJob(ctx context.Context, owner string, lease time.Duration) (metadata.DeltaJob, error) {
	var j metadata.DeltaJob
	err := s.write(ctx, func(ctx context.Context, tx *tx) error {
		now := time.Now()
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT j.id FROM delta_jobs j
			WHERE j.state = 'queued' AND j.not_before <= ? AND j.lease_until < ?
			ORDER BY j.not_before, j.id LIMIT 1`+s.skipLocked(), now.UnixNano(), now.UnixNano()).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return metadata.ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE delta_jobs SET lease_until = ?, owner = ?, attempts = attempts + 1 WHERE id = ?`,
			now.Add(lease).UnixNano(), owner, id); err != nil {
			return err
		}
		j, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` WHERE j.id = ?`, id))
		return err
	})
	return j, err
}

// RenewDeltaJob extends a lease its owner still holds.
func (s *Store) RenewDeltaJob(ctx context.Context, j metadata.DeltaJob, lease time.Duration) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE delta_jobs SET lease_until = ? WHERE id = ? AND owner = ? AND lease_until > 0`,
			time.Now().Add(lease).UnixNano(), j.ID, j.Owner)
		if err != nil {
			return err
		}
		return affected(res)
	})
}

// FinishDeltaJob records the outcome of an attempt. A job queued again meanwhile (its
// version moved) is only released: it runs again, for the new target.
func (s *Store) FinishDeltaJob(ctx context.Context, j metadata.DeltaJob, o metadata.DeltaOutcome) error {
	state, notBefore := metadata.DeltaDone, int64(0)
	switch {
	case o.Error != "" && !o.RetryAt.IsZero():
		state, notBefore = metadata.DeltaQueued, o.RetryAt.UnixNano()
	case o.Error != "":
		state = metadata.DeltaFailed
	}
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE delta_jobs SET lease_until = 0, owner = '',
				state = CASE WHEN version = ? THEN ? ELSE state END,
				not_before = CASE WHEN version = ? THEN ? ELSE not_before END,
				last_error = CASE WHEN version = ? THEN ? ELSE last_error END,
				finished_at = ?
			WHERE id = ? AND owner = ?`,
			j.Version, state, j.Version, notBefore, j.Version, o.Error, time.Now().UnixNano(), j.ID, j.Owner)
		if err != nil {
			return err
		}
		return affected(res)
	})
}

// DeltaJobs lists jobs by id.
func (s *Store) DeltaJobs(ctx context.Context, repo string, after int64, limit int) ([]metadata.DeltaJob, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+jobColumns+` WHERE (? = '' OR r.name = ?) AND j.id > ? ORDER BY j.id LIMIT ?`,
		repo, repo, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []metadata.DeltaJob{}
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// RecordDeltas replaces the record of one target image.
func (s *Store) RecordDeltas(ctx context.Context, repo string, target digest.Digest, layers []metadata.LayerDelta, manifest *metadata.DeltaManifest) error {
	return s.write(ctx, func(ctx context.Context, tx *tx) error {
		rid, err := repoID(ctx, tx, repo)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM deltas WHERE repository_id = ? AND target_digest = ?`, rid, target.String()); err != nil {
			return err
		}
		now := time.Now().UnixNano()
		for _, l := range layers {
			if _, err := tx.ExecContext(ctx, `INSERT INTO deltas (repository_id, target_digest, source_digest, to_diff_id,
					source_left_at, layer, from_diff_id, blob_digest, size, layer_size, make_ns, verify_ns, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				rid, target.String(), l.Source.String(), l.To.String(), l.SourceLeft.UnixNano(), l.Layer, l.From.String(),
				l.Blob.String(), l.Size, l.LayerSize, int64(l.MakeTime), int64(l.VerifyTime), now); err != nil {
				return fmt.Errorf("record delta: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM delta_manifests WHERE repository_id = ? AND target_digest = ?`, rid, target.String()); err != nil {
			return err
		}
		if manifest != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO delta_manifests (repository_id, target_digest, manifest_digest, size, created_at)
				VALUES (?, ?, ?, ?, ?)`, rid, target.String(), manifest.Manifest.String(), manifest.Size, now); err != nil {
				return fmt.Errorf("record delta manifest: %w", err)
			}
		}
		return bump(ctx, tx)
	})
}

const deltaColumns = `r.name, d.target_digest, d.source_digest, d.source_left_at, d.layer, d.from_diff_id, d.to_diff_id,
	d.blob_digest, d.size, d.layer_size, d.make_ns, d.verify_ns, d.created_at
	FROM deltas d JOIN repositories r ON r.id = d.repository_id`

// LayerDeltas lists the record of one target image.
func (s *Store) LayerDeltas(ctx context.Context, repo string, target digest.Digest) ([]metadata.LayerDelta, error) {
	return s.layerDeltas(ctx, `SELECT `+deltaColumns+`
		WHERE d.repository_id = (SELECT id FROM repositories WHERE name = ?) AND d.target_digest = ?
		ORDER BY d.source_digest, d.to_diff_id`, repo, target.String())
}

// ListDeltas lists every recorded delta after the cursor.
func (s *Store) ListDeltas(ctx context.Context, repo string, after metadata.DeltaCursor, limit int) ([]metadata.LayerDelta, error) {
	return s.layerDeltas(ctx, `SELECT `+deltaColumns+`
		WHERE (? = '' OR r.name = ?) AND (r.name, d.target_digest, d.source_digest, d.to_diff_id) > (?, ?, ?, ?)
		ORDER BY r.name, d.target_digest, d.source_digest, d.to_diff_id LIMIT ?`,
		repo, repo, after.Repository, after.Target.String(), after.Source.String(), after.To.String(), limit)
}

func (s *Store) layerDeltas(ctx context.Context, query string, args ...any) ([]metadata.LayerDelta, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []metadata.LayerDelta{}
	for rows.Next() {
		var l metadata.LayerDelta
		var target, source, from, to, blob string
		var left, mk, verify, created int64
		if err := rows.Scan(&l.Repository, &target, &source, &left, &l.Layer, &from, &to, &blob, &l.Size, &l.LayerSize,
			&mk, &verify, &created); err != nil {
			return nil, err
		}
		l.Target, l.Source, l.From, l.To, l.Blob = digest.Digest(target), digest.Digest(source), digest.Digest(from), digest.Digest(to), digest.Digest(blob)
		l.SourceLeft, l.MakeTime, l.VerifyTime, l.CreatedAt = unixNano(left), time.Duration(mk), time.Duration(verify), unixNano(created)
		out = append(out, l)
	}
	return out, rows.Err()
}

// heldTarget is true of a delta manifest row dm whose target a tag holds, directly or as
// an image of a tagged list.
const heldTarget = `(EXISTS (SELECT 1 FROM manifests t JOIN tags g ON g.manifest_id = t.id
		WHERE t.repository_id = dm.repository_id AND t.digest = dm.target_digest)
	OR EXISTS (SELECT 1 FROM manifest_children c JOIN manifests p ON p.id = c.manifest_id JOIN tags g ON g.manifest_id = p.id
		WHERE p.repository_id = dm.repository_id AND c.child_digest = dm.target_digest))`

// manifestStored is true of a delta manifest row dm whose delta manifest is stored.
const manifestStored = `EXISTS (SELECT 1 FROM manifests x WHERE x.repository_id = dm.repository_id AND x.digest = dm.manifest_digest)`

// DeltaIndex lists the entries of a repository's _deltaindex.
func (s *Store) DeltaIndex(ctx context.Context, repo string) ([]metadata.DeltaManifest, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT dm.target_digest, dm.manifest_digest, dm.size, dm.created_at FROM delta_manifests dm
		WHERE dm.repository_id = (SELECT id FROM repositories WHERE name = ?) AND `+manifestStored+` AND `+heldTarget+`
		ORDER BY dm.target_digest`, repo)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []metadata.DeltaManifest{}
	for rows.Next() {
		dm := metadata.DeltaManifest{Repository: repo}
		var target, man string
		var created int64
		if err := rows.Scan(&target, &man, &dm.Size, &created); err != nil {
			return nil, err
		}
		dm.Target, dm.Manifest, dm.CreatedAt = digest.Digest(target), digest.Digest(man), unixNano(created)
		out = append(out, dm)
	}
	return out, rows.Err()
}

// deltaBatch is how many images one DeltaManifests query asks about; always this many
// placeholders (padded), so the statement is prepared once.
const deltaBatch = 64

// DeltaManifests looks up the delta manifests of images, a batch of one repository at a time.
func (s *Store) DeltaManifests(ctx context.Context, images []metadata.ManifestRef) (map[metadata.ManifestRef]digest.Digest, error) {
	byRepo := map[string][]string{}
	for _, im := range images {
		byRepo[im.Repository] = append(byRepo[im.Repository], im.Digest.String())
	}
	out := map[metadata.ManifestRef]digest.Digest{}
	query := `SELECT dm.target_digest, dm.manifest_digest FROM delta_manifests dm
		WHERE dm.repository_id = (SELECT id FROM repositories WHERE name = ?) AND dm.target_digest IN (` + placeholders(deltaBatch) + `)
		AND ` + manifestStored
	for repo, ds := range byRepo {
		for len(ds) > 0 {
			n := min(len(ds), deltaBatch)
			args := []any{repo}
			for i := range deltaBatch {
				v := ""
				if i < n {
					v = ds[i]
				}
				args = append(args, v)
			}
			ds = ds[n:]
			rows, err := s.r.QueryContext(ctx, query, args...)
			if err != nil {
				return nil, err
			}
			for rows.Next() {
				var t, m string
				if err := rows.Scan(&t, &m); err != nil {
					rows.Close()
					return nil, err
				}
				out[metadata.ManifestRef{Repository: repo, Digest: digest.Digest(t)}] = digest.Digest(m)
			}
			if err := errors.Join(rows.Err(), rows.Close()); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// ExpireDeltas forgets stale deltas (see metadata.Deltas).
func (s *Store) ExpireDeltas(ctx context.Context, before time.Time) (metadata.ExpiredDeltas, error) {
	var ex metadata.ExpiredDeltas
	err := s.write(ctx, func(ctx context.Context, tx *tx) error {
		ex = metadata.ExpiredDeltas{}
		type target struct {
			rid    int64
			digest string
		}
		var touched []target
		seen := map[target]bool{}
		collect := func(query string, args ...any) error {
			rows, err := tx.QueryContext(ctx, query, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var t target
				if err := rows.Scan(&t.rid, &t.digest); err != nil {
					return err
				}
				if !seen[t] {
					seen[t] = true
					touched = append(touched, t)
				}
			}
			return rows.Err()
		}
		if err := collect(`DELETE FROM deltas WHERE source_left_at < ?
				OR NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = deltas.repository_id AND m.digest = deltas.target_digest)
				OR NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = deltas.repository_id AND m.digest = deltas.source_digest)
			RETURNING repository_id, target_digest`, before.UnixNano()); err != nil {
			return fmt.Errorf("expire deltas: %w", err)
		}
		// Delta manifests that are gone, or whose target is.
		if err := collect(`SELECT dm.repository_id, dm.target_digest FROM delta_manifests dm WHERE NOT ` + manifestStored + `
			OR NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = dm.repository_id AND m.digest = dm.target_digest)`); err != nil {
			return err
		}
		repos := map[int64]bool{}
		now := time.Now().UnixNano()
		for _, t := range touched {
			var published int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM deltas WHERE repository_id = ? AND target_digest = ? AND blob_digest <> ''
				AND EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = deltas.repository_id AND m.digest = deltas.target_digest)`,
				t.rid, t.digest).Scan(&published); err != nil {
				return err
			}
			if published > 0 {
				// Its manifest lists a delta that is gone: the jobs of the tags holding the
				// target write it anew (and drop the old one).
				if _, err := tx.ExecContext(ctx, `UPDATE delta_jobs SET state = 'queued', version = version + 1, queued_at = ?,
						attempts = 0, not_before = 0, last_error = ''
					WHERE repository_id = ? AND tag IN (
						SELECT g.name FROM tags g JOIN manifests h ON h.id = g.manifest_id WHERE h.repository_id = ? AND h.digest = ?
						UNION SELECT g.name FROM tags g JOIN manifest_children c ON c.manifest_id = g.manifest_id
							WHERE g.repository_id = ? AND c.child_digest = ?)`, now, t.rid, t.rid, t.digest, t.rid, t.digest); err != nil {
					return err
				}
				continue
			}
			var repo, man string
			err := tx.QueryRowContext(ctx, `SELECT r.name, dm.manifest_digest FROM delta_manifests dm JOIN repositories r ON r.id = dm.repository_id
				WHERE dm.repository_id = ? AND dm.target_digest = ?`, t.rid, t.digest).Scan(&repo, &man)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM delta_manifests WHERE repository_id = ? AND target_digest = ?`, t.rid, t.digest); err != nil {
				return err
			}
			ex.Manifests = append(ex.Manifests, metadata.ManifestRef{Repository: repo, Digest: digest.Digest(man)})
			if !repos[t.rid] {
				repos[t.rid] = true
				ex.Repositories = append(ex.Repositories, repo)
			}
		}
		if len(touched) == 0 {
			return nil
		}
		return bump(ctx, tx)
	})
	return ex, err
}
