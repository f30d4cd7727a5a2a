package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// Storage accounting. A namespace's usage is the size of each distinct blob its
// repositories link (namespace_blobs holds each digest once, with refs counting the
// links of the namespace's repositories to it) plus the size of each manifest they
// store (a manifest is stored once per repository, so it counts once per repository).
// Content is added by the transaction that makes its first link or stores it, and
// taken away by the one that removes its last link or deletes it. The limit is checked
// by the statement that adds to namespace_usage (an upsert whose update carries the
// check): on PostgreSQL it locks the namespace's row and re-reads it after any
// concurrent writer commits, so concurrent pushes into one namespace, on any replica,
// are serialised on that row and none can pass the limit.

// policyHolder boxes the policy for atomic.Pointer.
type policyHolder struct{ metadata.QuotaPolicy }

// firstSegment is the policy of a store given none: namespaces are first path segments
// (as the migration assigned them) and nothing is limited.
type firstSegment struct{}

func (firstSegment) Namespace(repo string) string {
	ns, _, _ := strings.Cut(repo, "/")
	return ns
}
func (firstSegment) StorageLimit(string) int64 { return 0 }
func (firstSegment) TagLimit(string) int       { return 0 }
func (firstSegment) Fingerprint() string       { return "" }

func (s *Store) policy() metadata.QuotaPolicy {
	if p := s.quota.Load(); p != nil {
		return p.QuotaPolicy
	}
	return firstSegment{}
}

const (
	// newBlob records a blob's first link in a namespace (no row: it has one already,
	// which addLink counts).
	newBlob = `INSERT INTO namespace_blobs (namespace, digest, size, refs) VALUES (?, ?, ?, 1)
		ON CONFLICT (namespace, digest) DO NOTHING`
	addLink = `UPDATE namespace_blobs SET refs = refs + 1 WHERE namespace = ? AND digest = ?`
	// addUsage adds one object unless the limit (its third and fourth parameters; <= 0
	// is none) would be passed: then it changes no row. A namespace's first object
	// inserts the row, so the caller checks that object against the limit itself.
	addUsage = `INSERT INTO namespace_usage (namespace, bytes, objects) VALUES (?, ?, 1)
		ON CONFLICT (namespace) DO UPDATE
		SET bytes = namespace_usage.bytes + excluded.bytes, objects = namespace_usage.objects + 1
		WHERE ? <= 0 OR namespace_usage.bytes + excluded.bytes <= ?`
	uncountBlobLink = `UPDATE namespace_blobs SET refs = refs - 1
		WHERE namespace = (SELECT namespace FROM repositories WHERE id = ?) AND digest = ?
		RETURNING namespace, refs, size`
	// recountBlobs and recountUsage count every namespace from scratch, as the
	// migration did.
	recountBlobs = `INSERT INTO namespace_blobs (namespace, digest, size, refs)
		SELECT r.namespace, rb.digest, max(b.size), count(*) FROM repository_blobs rb
			JOIN repositories r ON r.id = rb.repository_id JOIN blobs b ON b.digest = rb.digest
		GROUP BY r.namespace, rb.digest`
	recountUsage = `INSERT INTO namespace_usage (namespace, bytes, objects)
		SELECT namespace, sum(size), count(*) FROM (
			SELECT namespace, size FROM namespace_blobs
			UNION ALL
			SELECT r.namespace, length(m.payload) FROM manifests m JOIN repositories r ON r.id = m.repository_id
		) AS content GROUP BY namespace`
)

// countBlob adds a link of blob b in namespace ns; the first link of the namespace adds
// b to its usage, or fails with a *metadata.QuotaError when that would pass the limit
// (the caller rolls back what countBlob changed). Statements whose rows affected tell
// the answer, rather than rows returned: this is every blob push's path.
func (s *Store) countBlob(ctx context.Context, tx *tx, ns string, b metadata.Blob) error {
	for attempt := 0; ; attempt++ {
		res, err := tx.ExecContext(ctx, newBlob, ns, b.Digest.String(), b.Size)
		if err != nil {
			return fmt.Errorf("count %s: %w", b.Digest, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return s.addUsage(ctx, tx, ns, b.Size)
		}
		if res, err = tx.ExecContext(ctx, addLink, ns, b.Digest.String()); err != nil {
			return fmt.Errorf("count %s: %w", b.Digest, err)
		}
		// No row: the namespace's last other link went (and its count with it) between
		// the two statements, on another replica. Count this one as the first again.
		if n, _ := res.RowsAffected(); n == 1 {
			return nil // counted already in the namespace
		}
		if attempt == 3 {
			return fmt.Errorf("count %s: its namespace's links keep changing", b.Digest)
		}
	}
}

// addUsage adds an object of size bytes to the usage of namespace ns, or fails with a
// *metadata.QuotaError when that would pass the namespace's limit.
func (s *Store) addUsage(ctx context.Context, tx *tx, ns string, size int64) error {
	limit := s.policy().StorageLimit(ns)
	if limit > 0 && size > limit {
		return refusal(ctx, tx, ns, size, limit)
	}
	res, err := tx.ExecContext(ctx, addUsage, ns, size, limit, limit)
	if err != nil {
		return fmt.Errorf("count %d bytes in %s: %w", size, ns, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return refusal(ctx, tx, ns, size, limit)
	}
	return nil
}

func refusal(ctx context.Context, tx *tx, ns string, size, limit int64) error {
	var used int64
	err := tx.QueryRowContext(ctx, `SELECT bytes FROM namespace_usage WHERE namespace = ?`, ns).Scan(&used)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	return &metadata.QuotaError{Namespace: ns, Used: used, Adding: size, Limit: limit}
}

// uncountBlob removes a link of blob d from repository rid; the last link of its
// namespace takes d out of the namespace's usage.
func uncountBlob(ctx context.Context, tx *tx, rid int64, d digest.Digest) error {
	var ns string
	var refs, size int64
	err := tx.QueryRowContext(ctx, uncountBlobLink, rid, d.String()).Scan(&ns, &refs, &size)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // never counted: nothing to take back
	}
	if err != nil {
		return fmt.Errorf("uncount %s: %w", d, err)
	}
	if refs > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM namespace_blobs WHERE namespace = ? AND digest = ?`, ns, d.String()); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE namespace_usage SET bytes = bytes - ?, objects = objects - 1 WHERE namespace = ?`, size, ns)
	return err
}

// subtractUsage takes an object of size bytes (a deleted manifest) out of the usage of
// repository rid's namespace.
func subtractUsage(ctx context.Context, tx *tx, rid, size int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE namespace_usage SET bytes = bytes - ?, objects = objects - 1
		WHERE namespace = (SELECT namespace FROM repositories WHERE id = ?)`, size, rid)
	return err
}

// checkTags refuses, with a *metadata.QuotaError, tags that would take repository rid
// over limit. The repository's row is locked first, so that on PostgreSQL concurrent
// pushes of new tags to one repository count one after the other.
func (s *Store) checkTags(ctx context.Context, tx *tx, rid int64, repo string, tags []string, limit int) error {
	if s.d.ForNoKeyUpdate != "" {
		if err := exists(ctx, tx, `SELECT 1 FROM repositories WHERE id = ?`+s.d.ForNoKeyUpdate, rid); err != nil {
			return err
		}
	}
	unique := map[string]bool{}
	args := []any{rid}
	for _, t := range tags {
		if !unique[t] {
			unique[t] = true
			args = append(args, t)
		}
	}
	var total, existing int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tags WHERE repository_id = ?`, rid).Scan(&total); err != nil {
		return err
	}
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tags WHERE repository_id = ? AND name IN (`+placeholders(len(unique))+`)`, args...).Scan(&existing); err != nil {
		return err
	}
	if added := len(unique) - existing; added > 0 && total+added > limit {
		return &metadata.QuotaError{Repository: repo, Used: int64(total), Adding: int64(added), Limit: int64(limit)}
	}
	return nil
}

// StorageRoom is the room left in repo's namespace for d: the namespace recorded for
// the repository, or the one it would be created in.
func (s *Store) StorageRoom(ctx context.Context, repo string, d digest.Digest) (metadata.Room, error) {
	p := s.policy()
	r := metadata.Room{Namespace: p.Namespace(repo)}
	if p.StorageLimit(r.Namespace) <= 0 {
		return r, nil // unlimited: nothing to look up on the push path
	}
	err := s.r.QueryRowContext(ctx, `SELECT n.ns,
			COALESCE((SELECT bytes FROM namespace_usage WHERE namespace = n.ns), 0),
			EXISTS (SELECT 1 FROM namespace_blobs WHERE namespace = n.ns AND digest = ?)
		FROM (SELECT COALESCE((SELECT namespace FROM repositories WHERE name = ?), ?) AS ns) AS n`,
		d.String(), repo, r.Namespace).Scan(&r.Namespace, &r.Used, &r.Counted)
	if err != nil {
		return r, fmt.Errorf("storage room of %s: %w", repo, err)
	}
	r.Limit = p.StorageLimit(r.Namespace)
	return r, nil
}

// RepositoryUsage is the usage of repo's namespace and its tag count.
func (s *Store) RepositoryUsage(ctx context.Context, repo string) (metadata.RepositoryUsage, error) {
	p := s.policy()
	u := metadata.RepositoryUsage{Repository: repo, Usage: metadata.Usage{Namespace: p.Namespace(repo)}, TagLimit: p.TagLimit(repo)}
	var rid sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT n.id, n.ns,
			COALESCE((SELECT bytes FROM namespace_usage WHERE namespace = n.ns), 0),
			COALESCE((SELECT objects FROM namespace_usage WHERE namespace = n.ns), 0)
		FROM (SELECT (SELECT id FROM repositories WHERE name = ?) AS id,
			COALESCE((SELECT namespace FROM repositories WHERE name = ?), ?) AS ns) AS n`,
		repo, repo, u.Usage.Namespace).Scan(&rid, &u.Usage.Namespace, &u.Usage.Bytes, &u.Usage.Objects)
	if err != nil {
		return u, fmt.Errorf("usage of %s: %w", repo, err)
	}
	u.Usage.Limit = p.StorageLimit(u.Usage.Namespace)
	if rid.Valid {
		if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM tags WHERE repository_id = ?`, rid.Int64).Scan(&u.Tags); err != nil {
			return u, fmt.Errorf("tags of %s: %w", repo, err)
		}
	}
	return u, nil
}

// ListUsage lists namespaces that store anything, in byte order.
func (s *Store) ListUsage(ctx context.Context, after string, limit int) ([]metadata.Usage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT namespace, bytes, objects FROM namespace_usage
		WHERE namespace > ? AND objects > 0 ORDER BY namespace LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	p := s.policy()
	out := []metadata.Usage{}
	for rows.Next() {
		var u metadata.Usage
		if err := rows.Scan(&u.Namespace, &u.Bytes, &u.Objects); err != nil {
			return nil, err
		}
		u.Limit = p.StorageLimit(u.Namespace)
		out = append(out, u)
	}
	return out, rows.Err()
}

// NamespaceRepositories lists the repositories of namespace ns: a range scan of
// repositories_namespace.
func (s *Store) NamespaceRepositories(ctx context.Context, ns, after string, limit int) ([]string, error) {
	return queryStrings(ctx, s.r, `SELECT name FROM repositories WHERE namespace = ? AND name > ? ORDER BY name LIMIT ?`, ns, after, limit)
}

// UseQuotaPolicy makes p the store's policy and recounts when the namespaces were
// assigned under other rules.
func (s *Store) UseQuotaPolicy(ctx context.Context, p metadata.QuotaPolicy) (bool, error) {
	s.quota.Store(&policyHolder{p})
	return s.recount(ctx, true)
}

// RecountUsage reassigns namespaces and counts usage again.
func (s *Store) RecountUsage(ctx context.Context) error {
	_, err := s.recount(ctx, false)
	return err
}

// recount reassigns the namespace of every repository by the policy and rebuilds the
// accounting from the links and manifests, in one transaction; with onlyIfChanged, only
// when the namespaces were assigned under another fingerprint. On PostgreSQL the
// quota_state row serialises recounts, and links and manifests are locked against
// change (writers wait, and they wait for writers in flight) while they are counted.
func (s *Store) recount(ctx context.Context, onlyIfChanged bool) (bool, error) {
	p := s.policy()
	fp := p.Fingerprint()
	done := false
	err := s.write(ctx, func(ctx context.Context, tx *tx) error {
		done = false
		var old string
		if err := tx.QueryRowContext(ctx, `SELECT fingerprint FROM quota_state WHERE id = 1`+s.d.ForUpdate).Scan(&old); err != nil {
			return fmt.Errorf("quota state: %w", err)
		}
		if onlyIfChanged && old == fp {
			return nil
		}
		if s.d.LockForRecount != "" {
			if _, err := tx.ExecContext(ctx, s.d.LockForRecount); err != nil {
				return err
			}
		}
		if err := reassign(ctx, tx, p); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM namespace_blobs`, `DELETE FROM namespace_usage`, recountBlobs, recountUsage} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("recount: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE quota_state SET fingerprint = ? WHERE id = 1`, fp); err != nil {
			return err
		}
		done = true
		return nil
	})
	return done, err
}

// reassign gives every repository the namespace p assigns it.
func reassign(ctx context.Context, tx *tx, p metadata.QuotaPolicy) error {
	type move struct {
		id int64
		ns string
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, name, namespace FROM repositories`)
	if err != nil {
		return err
	}
	var moves []move
	for rows.Next() {
		var id int64
		var name, ns string
		if err := rows.Scan(&id, &name, &ns); err != nil {
			rows.Close()
			return err
		}
		if want := p.Namespace(name); want != ns {
			moves = append(moves, move{id, want})
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	for _, m := range moves {
		if _, err := tx.ExecContext(ctx, `UPDATE repositories SET namespace = ? WHERE id = ?`, m.ns, m.id); err != nil {
			return err
		}
	}
	return nil
}
