package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// recordChange writes one tag move; the old digest is that of manifest `oldID` (0: the
// tag is new).
const recordChange = `INSERT INTO tag_history (repository_id, tag, old_digest, new_digest, moved_at, actor, replica)
	VALUES (?, ?, COALESCE((SELECT digest FROM manifests WHERE id = ?), ''), ?, ?, ?, ?)`

// record writes one tag move and notes it for the caller (metadata.NoteTagMove). A new
// tag (oldID 0) left no digest, which spares reading one back.
func record(ctx context.Context, tx *tx, rid int64, repo, tag string, oldID int64, d digest.Digest, now int64) error {
	a := metadata.ActorOf(ctx)
	var old string
	if oldID == 0 {
		if _, err := tx.ExecContext(ctx, recordChange, rid, tag, oldID, d.String(), now, a.Name, a.Replica); err != nil {
			return err
		}
	} else if err := tx.QueryRowContext(ctx, recordChange+" RETURNING old_digest", rid, tag, oldID, d.String(), now, a.Name, a.Replica).Scan(&old); err != nil {
		return err
	}
	metadata.NoteTagMove(ctx, metadata.TagChange{Repository: repo, Tag: tag, Old: digest.Digest(old), New: d, At: unixNano(now), Actor: a})
	return nil
}

// moveTag points tag at the manifest mid (digest d) and records the move, if it is one;
// it reports whether the tag is new (the repository's tag count moves with it).
// The history must tell each move from the digest the previous one left, also when
// several transactions move one tag at once on PostgreSQL (read committed): so the tag's
// row is created, or locked, before its old value is read. For the same reason an
// immutable tag is refused only after its row is locked: of two replicas setting one
// immutable tag at once, the second finds the first's row and is refused.
func (s *Store) moveTag(ctx context.Context, tx *tx, rid int64, repo, tag string, mid int64, d digest.Digest, now int64) (bool, error) {
	for attempt := 0; ; attempt++ {
		var created int64
		err := tx.QueryRowContext(ctx, `INSERT INTO tags (repository_id, name, manifest_id, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (repository_id, name) DO NOTHING RETURNING manifest_id`, rid, tag, mid, now).Scan(&created)
		if err == nil {
			if err := record(ctx, tx, rid, repo, tag, 0, d, now); err != nil {
				return false, err
			}
			return true, s.queueDelta(ctx, tx, rid, tag, mid, d, now)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, err
		}
		var old int64
		err = tx.QueryRowContext(ctx, `SELECT manifest_id FROM tags WHERE repository_id = ? AND name = ?`+s.d.ForUpdate, rid, tag).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) && attempt < 3 {
			continue // removed since the insert saw it: create it after all
		}
		if err != nil {
			return false, err
		}
		if old != mid {
			if err := s.mayRemove(ctx, tx, repo, tag, old, followsUpstream(ctx)); err != nil {
				return false, err
			}
			if err := record(ctx, tx, rid, repo, tag, old, d, now); err != nil {
				return false, err
			}
			if err := s.queueDelta(ctx, tx, rid, tag, mid, d, now); err != nil {
				return false, err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE tags SET manifest_id = ?, updated_at = ? WHERE repository_id = ? AND name = ?`, mid, now, rid, tag)
		return false, err
	}
}

// removeTags runs del, a DELETE of tags of repo RETURNING repository_id, name,
// manifest_id, and records each removal (and takes it off its repository's tag count);
// it returns how many tags went. The rows deleted are the rows recorded (and checked
// against the immutable rules, unless override), whatever ran concurrently.
func (s *Store) removeTags(ctx context.Context, tx *tx, repo string, override bool, del string, args ...any) (int, error) {
	type removed struct {
		rid, mid int64
		name     string
	}
	rows, err := tx.QueryContext(ctx, del, args...)
	if err != nil {
		return 0, err
	}
	var gone []removed
	for rows.Next() {
		var r removed
		if err := rows.Scan(&r.rid, &r.name, &r.mid); err != nil {
			rows.Close()
			return 0, err
		}
		gone = append(gone, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, err
	}
	for _, r := range gone {
		if err := s.mayRemove(ctx, tx, repo, r.name, r.mid, override); err != nil {
			return 0, err
		}
	}
	now := time.Now().UnixNano()
	for _, r := range gone {
		if err := record(ctx, tx, r.rid, repo, r.name, r.mid, "", now); err != nil {
			return 0, err
		}
	}
	if len(gone) > 0 { // the tags of one repository
		if err := moveStats(ctx, tx, gone[0].rid, -int64(len(gone)), 0, 0); err != nil {
			return 0, err
		}
	}
	return len(gone), nil
}

const tagChangeColumns = `h.id, r.name, h.tag, h.old_digest, h.new_digest, h.moved_at, h.actor, h.replica
	FROM tag_history h JOIN repositories r ON r.id = h.repository_id`

// TagHistory lists the moves of repo:tag, newest first: a range scan of
// tag_history_tag backwards from `before`.
func (s *Store) TagHistory(ctx context.Context, repo, tag string, before int64, limit int) ([]metadata.TagChange, error) {
	if before <= 0 {
		before = 1<<63 - 1
	}
	return s.tagChanges(ctx, `SELECT `+tagChangeColumns+`
		WHERE h.repository_id = (SELECT id FROM repositories WHERE name = ?) AND h.tag = ? AND h.id < ?
		ORDER BY h.id DESC LIMIT ?`, repo, tag, before, limit)
}

// TagChanges lists every tag move in time order after the position: a range scan of
// tag_history_time.
func (s *Store) TagChanges(ctx context.Context, after metadata.HistoryPosition, limit int) ([]metadata.TagChange, error) {
	at := int64(0)
	if !after.At.IsZero() {
		at = after.At.UnixNano()
	}
	return s.tagChanges(ctx, `SELECT `+tagChangeColumns+`
		WHERE (h.moved_at, h.id) > (?, ?)
		ORDER BY h.moved_at, h.id LIMIT ?`, at, after.ID, limit)
}

func (s *Store) tagChanges(ctx context.Context, query string, args ...any) ([]metadata.TagChange, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []metadata.TagChange{}
	for rows.Next() {
		var c metadata.TagChange
		var from, to string
		var at int64
		if err := rows.Scan(&c.ID, &c.Repository, &c.Tag, &from, &to, &at, &c.Actor.Name, &c.Actor.Replica); err != nil {
			return nil, err
		}
		c.Old, c.New, c.At = digest.Digest(from), digest.Digest(to), unixNano(at)
		out = append(out, c)
	}
	return out, rows.Err()
}
