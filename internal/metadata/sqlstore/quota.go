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

// Storage accounting. namespace_objects holds each blob or manifest digest of a
// namespace once, with refs counting the links and manifests of the namespace's
// repositories that have it; namespace_usage sums them. Content is counted when its
// first reference in the namespace is made and uncounted when its last one goes, by the
// transactions that make and remove references. The limit is checked by the statement
// that adds to namespace_usage (an upsert whose update carries the check): on
// PostgreSQL it locks the namespace's row and re-reads it after any concurrent writer
// commits, so concurrent links of one namespace, on any replica, are serialised on that
// row and none can pass the limit.

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
	countObject = `INSERT INTO namespace_objects (namespace, digest, size, refs)
		VALUES ((SELECT namespace FROM repositories WHERE id = ?), ?, ?, 1)
		ON CONFLICT (namespace, digest) DO UPDATE SET refs = namespace_objects.refs + 1
		RETURNING namespace, refs`
	// addUsage adds one object unless the limit (its third and fourth parameters; <= 0
	// is none) would be passed. A namespace's first object inserts the row: the caller
	// checks that object against the limit itself.
	addUsage = `INSERT INTO namespace_usage (namespace, bytes, objects) VALUES (?, ?, 1)
		ON CONFLICT (namespace) DO UPDATE
		SET bytes = namespace_usage.bytes + excluded.bytes, objects = namespace_usage.objects + 1
		WHERE ? <= 0 OR namespace_usage.bytes + excluded.bytes <= ?
		RETURNING bytes`
	uncountObject = `UPDATE namespace_objects SET refs = refs - 1
		WHERE namespace = (SELECT namespace FROM repositories WHERE id = ?) AND digest = ?
		RETURNING namespace, refs, size`
	// recountObjects counts every namespace from scratch, as the migration did.
	recountObjects = `INSERT INTO namespace_objects (namespace, digest, size, refs)
		SELECT namespace, digest, max(size), count(*) FROM (
			SELECT r.namespace, rb.digest, b.size FROM repository_blobs rb
				JOIN repositories r ON r.id = rb.repository_id JOIN blobs b ON b.digest = rb.digest
			UNION ALL
			SELECT r.namespace, m.digest, length(m.payload) FROM manifests m
				JOIN repositories r ON r.id = m.repository_id
		) AS content GROUP BY namespace, digest`
	recountUsage = `INSERT INTO namespace_usage (namespace, bytes, objects)
		SELECT namespace, sum(size), count(*) FROM namespace_objects GROUP BY namespace`
)

// count adds a reference to content d of size bytes in repository rid; the first one
// of its namespace adds d to the namespace's usage, or fails with a *metadata.QuotaError
// when that would pass the limit (the caller rolls back what count changed).
func (s *Store) count(ctx context.Context, tx *tx, rid int64, d digest.Digest, size int64) error {
	var ns string
	var refs int64
	if err := tx.QueryRowContext(ctx, countObject, rid, d.String(), size).Scan(&ns, &refs); err != nil {
		return fmt.Errorf("count %s: %w", d, err)
	}
	if refs > 1 {
		return nil // counted already in the namespace
	}
	limit := s.policy().StorageLimit(ns)
	if limit > 0 && size > limit {
		return refusal(ctx, tx, ns, size, limit)
	}
	var used int64
	err := tx.QueryRowContext(ctx, addUsage, ns, size, limit, limit).Scan(&used)
	if errors.Is(err, sql.ErrNoRows) {
		return refusal(ctx, tx, ns, size, limit)
	}
	if err != nil {
		return fmt.Errorf("count %s in %s: %w", d, ns, err)
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

// uncount removes a reference to content d from repository rid; the last one of its
// namespace takes d out of the namespace's usage.
func uncount(ctx context.Context, tx *tx, rid int64, d digest.Digest) error {
	var ns string
	var refs, size int64
	err := tx.QueryRowContext(ctx, uncountObject, rid, d.String()).Scan(&ns, &refs, &size)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // never counted: nothing to take back
	}
	if err != nil {
		return fmt.Errorf("uncount %s: %w", d, err)
	}
	if refs > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM namespace_objects WHERE namespace = ? AND digest = ?`, ns, d.String()); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE namespace_usage SET bytes = bytes - ?, objects = objects - 1 WHERE namespace = ?`, size, ns)
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
			EXISTS (SELECT 1 FROM namespace_objects WHERE namespace = n.ns AND digest = ?)
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
		for _, q := range []string{`DELETE FROM namespace_objects`, `DELETE FROM namespace_usage`, recountObjects, recountUsage} {
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
