// Package sqlstore is Berth's metadata store over SQL: one implementation of
// metadata.Store whose statements run on SQLite (the embedded mode) and PostgreSQL (the
// scaled mode) alike. What differs between the engines — placeholders, the schema,
// transaction isolation, row locks, how migrations are serialised — is a Dialect, given
// by the sqlite and postgres packages, which open the databases.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// Dialect is what an engine needs done its own way.
type Dialect struct {
	// Name names the engine in errors.
	Name string
	// Numbered placeholders ($1, $2, ...) instead of "?".
	Numbered bool
	// Migrations holds the numbered schema files (NNNN_name.sql) at its root.
	Migrations fs.FS
	// MigrationLock is run first in every migration transaction, so that several
	// processes starting at once apply each migration once ("" when the engine
	// serialises writers anyway).
	MigrationLock string
	// ForUpdate and ForShare lock the rows a SELECT returns until the transaction ends,
	// exclusively or against deletion ("" when the engine has a single writer, which
	// serialises write transactions anyway). Write transactions run at the engine's
	// default isolation (read committed on PostgreSQL); where two of them could each miss
	// the other's change — a manifest recorded while the link it needs is collected — both
	// lock the row in question, and the collector looks again after taking its lock.
	ForUpdate, ForShare string
	// ForNoKeyUpdate locks a row against other writers but not against inserts that
	// reference it ("" with a single writer): what the tag limit takes on a repository.
	ForNoKeyUpdate string
	// LockForRecount keeps links and manifests from changing for the rest of the
	// transaction, so that usage can be recounted from them ("" with a single writer).
	LockForRecount string
	// Retryable reports an error after which a write transaction may simply run again:
	// a deadlock, or a row a concurrent collection deleted under it.
	Retryable func(error) bool
	// GroupCommit runs the write transactions that wait at the same moment as one
	// transaction, each in a savepoint, so that one durable commit (one fsync) serves
	// them all. For engines with a single writer, where writes queue anyway.
	GroupCommit bool
	// CacheStatements keeps each statement prepared instead of parsing it on every
	// execution, for drivers that do not cache themselves (pgx does; SQLite's does not,
	// and parsing was a third of a tag push).
	CacheStatements bool
}

// Store is the SQL metadata store. w takes writes, r reads; they may be the same pool.
type Store struct {
	w, r *db
	bulk *db // reads of large parts of the store; r unless UseBulkReader gave another
	d    Dialect

	writes chan writeReq // to the group committer
	done   chan struct{}

	quota     atomic.Pointer[policyHolder]         // nil: first segments, no limits
	immutable atomic.Pointer[immutableRules]       // nil: no tag is immutable
	deltas    atomic.Pointer[metadata.DeltaPolicy] // set once at open (deltas.go)
}

// writeReq is one write transaction waiting for the group committer.
type writeReq struct {
	ctx    context.Context
	fn     func(context.Context, *tx) error
	result chan error
}

// maxGroup bounds how many transactions share one commit.
const maxGroup = 128

// New applies the dialect's pending migrations and returns the store.
func New(ctx context.Context, w, r *sql.DB, d Dialect) (*Store, error) {
	s := &Store{w: &db{DB: w, numbered: d.Numbered}, r: &db{DB: r, numbered: d.Numbered}, d: d}
	if d.CacheStatements {
		s.w.cache, s.r.cache = &stmtCache{m: map[string]*sql.Stmt{}}, &stmtCache{m: map[string]*sql.Stmt{}}
	}
	s.bulk = s.r
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	if d.GroupCommit {
		s.writes, s.done = make(chan writeReq), make(chan struct{})
		go s.groupCommit()
	}
	return s, nil
}

// UseBulkReader sends the reads of large parts of the store (the index scans) to a pool
// of their own, which the store then closes: a scan neither evicts the pages that hot
// queries keep cached nor grows every connection's cache of the main pool to its size.
func (s *Store) UseBulkReader(b *sql.DB) {
	s.bulk = &db{DB: b, numbered: s.d.Numbered}
	if s.d.CacheStatements {
		s.bulk.cache = &stmtCache{m: map[string]*sql.Stmt{}}
	}
}

// Close closes the databases.
func (s *Store) Close() error {
	if s.writes != nil {
		close(s.writes)
		<-s.done
	}
	pools := []*db{s.w, s.r}
	if s.bulk != s.r {
		pools = append(pools, s.bulk)
	}
	for _, d := range pools {
		if d.cache != nil {
			for _, st := range d.cache.m {
				st.Close()
			}
		}
	}
	var errs []error
	if s.bulk != s.r {
		errs = append(errs, s.bulk.Close())
	}
	if s.r.DB == s.w.DB {
		return errors.Join(append(errs, s.w.Close())...)
	}
	return errors.Join(append(errs, s.r.Close(), s.w.Close())...)
}

// migrate applies the migrations not yet recorded, each in its own transaction.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(s.d.Migrations, "*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(name, ".sql")
		err := s.writeTx(ctx, false, func(tx *tx) error {
			if s.d.MigrationLock != "" {
				if _, err := tx.ExecContext(ctx, s.d.MigrationLock); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version TEXT PRIMARY KEY)`); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			body, err := fs.ReadFile(s.d.Migrations, name)
			if err != nil {
				return err
			}
			if _, err := tx.Tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO schema_migrations (version) VALUES (?)`, version)
			return err
		})
		if err != nil {
			return fmt.Errorf("%s migration %s: %w", s.d.Name, version, err)
		}
	}
	return nil
}

// write runs fn as one write transaction, again when the engine says that may help; fn
// must therefore have no effect outside the transaction. fn gets a context that its
// caller's cancellation does not reach once it runs, because interrupting a statement
// would roll back the transaction it shares with others.
func (s *Store) write(ctx context.Context, fn func(context.Context, *tx) error) error {
	if s.writes == nil {
		return s.writeTx(ctx, true, func(t *tx) error {
			metadata.ResetTagMoves(ctx) // noted by an attempt that was rolled back
			return fn(ctx, t)
		})
	}
	req := writeReq{ctx: context.WithoutCancel(ctx), fn: fn, result: make(chan error, 1)}
	select {
	case s.writes <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-req.result
}

// groupCommit takes the write transactions waiting at each moment and commits them
// together: each runs in a savepoint, so one that fails is undone alone, and the single
// COMMIT makes them all durable at once.
func (s *Store) groupCommit() {
	defer close(s.done)
	for first := range s.writes {
		group := []writeReq{first}
	more:
		for len(group) < maxGroup {
			select {
			case r, ok := <-s.writes:
				if !ok {
					break more
				}
				group = append(group, r)
			default:
				break more
			}
		}
		s.commitGroup(group)
	}
}

func (s *Store) commitGroup(group []writeReq) {
	results := make([]error, len(group))
	if len(group) == 1 {
		// Alone: its own transaction, without the cost of a savepoint.
		r := group[0]
		r.result <- s.once(r.ctx, func(t *tx) error { return r.fn(r.ctx, t) })
		return
	}
	err := s.once(context.Background(), func(t *tx) error {
		for i, r := range group {
			if _, err := t.Tx.ExecContext(r.ctx, "SAVEPOINT w"); err != nil {
				return err
			}
			if results[i] = r.fn(r.ctx, t); results[i] != nil {
				if _, err := t.Tx.ExecContext(r.ctx, "ROLLBACK TO w"); err != nil {
					return err
				}
			}
			if _, err := t.Tx.ExecContext(r.ctx, "RELEASE w"); err != nil {
				return err
			}
		}
		return nil
	})
	for i, r := range group {
		if err != nil {
			results[i] = err
		}
		r.result <- results[i]
	}
}

const maxAttempts = 10

func (s *Store) writeTx(ctx context.Context, retry bool, fn func(*tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.once(ctx, fn)
		if err == nil || !retry || s.d.Retryable == nil || !s.d.Retryable(err) || attempt == maxAttempts {
			return err
		}
		time.Sleep(time.Duration(attempt) * time.Millisecond)
	}
}

func (s *Store) once(ctx context.Context, fn func(*tx) error) error {
	t, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer s.w.preparePending(ctx)
	if err := fn(&tx{Tx: t, db: s.w}); err != nil {
		_ = t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// preparePending prepares on the pool the statements that transactions met first, so
// that the next transactions find them (see tx.prepared).
func (d *db) preparePending(ctx context.Context) {
	if d.cache == nil {
		return
	}
	d.cache.mu.Lock()
	pending := d.cache.pending
	d.cache.pending = nil
	d.cache.mu.Unlock()
	// Prepared without the lock held: a transaction asking the cache must never wait
	// behind a wait for a connection that it holds.
	for _, q := range pending {
		st, err := d.DB.PrepareContext(ctx, q)
		if err != nil {
			continue // the plain call reports the error
		}
		d.cache.mu.Lock()
		if _, ok := d.cache.m[q]; ok {
			_ = st.Close()
		} else {
			d.cache.m[q] = st
		}
		d.cache.mu.Unlock()
	}
}

// bump records a change to tags or manifests.
func bump(ctx context.Context, tx *tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE changes SET generation = generation + 1 WHERE id = 1`)
	return err
}

// Generation is a number that changes whenever tags or manifests change, in any process
// sharing the database.
func (s *Store) Generation(ctx context.Context) (int64, error) {
	var g int64
	err := s.r.QueryRowContext(ctx, `SELECT generation FROM changes WHERE id = 1`).Scan(&g)
	return g, err
}

// placeholders returns "?, ?, ?" for n values.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// rebind turns "?" placeholders into "$1", "$2", ... for engines that number them. The
// statements of this package contain no other question marks.
func rebind(numbered bool, q string) string {
	if !numbered || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// db and tx rebind every statement for their engine, and run it prepared when the
// dialect caches statements.
type db struct {
	*sql.DB
	numbered bool
	cache    *stmtCache
}

// stmtCache holds prepared statements by text. It stops growing at maxStatements, so
// that queries built from request parameters cannot fill memory; others then run
// unprepared.
type stmtCache struct {
	mu      sync.Mutex
	m       map[string]*sql.Stmt
	pending []string // met in a transaction, to prepare on the pool once it has ended
}

const maxStatements = 256

func (d *db) stmt(ctx context.Context, q string) *sql.Stmt {
	if d.cache == nil {
		return nil
	}
	d.cache.mu.Lock()
	defer d.cache.mu.Unlock()
	if st, ok := d.cache.m[q]; ok {
		return st
	}
	if len(d.cache.m) >= maxStatements {
		return nil
	}
	st, err := d.DB.PrepareContext(ctx, q)
	if err != nil {
		return nil // the plain call reports the error
	}
	d.cache.m[q] = st
	return st
}

func (d *db) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q = rebind(d.numbered, q)
	if st := d.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, q, args...)
}

func (d *db) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	q = rebind(d.numbered, q)
	if st := d.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return d.DB.QueryRowContext(ctx, q, args...)
}

type tx struct {
	*sql.Tx
	db    *db
	stmts map[string]*sql.Stmt // prepared in this transaction, reused by the others of a group
}

// prepared returns the statement for q, prepared, when the dialect caches statements.
// One the pool has prepared is bound to this transaction without parsing it again (the
// pool's statement already lives on the connection: SQLite's writer has only one). One
// it has not is prepared in the transaction, to serve the rest of it (in a group commit
// the same statements run once per grouped write), and noted for the pool to prepare
// once the transaction has ended: preparing on the pool needs a connection, and a
// transaction holds SQLite's only writer.
func (t *tx) prepared(ctx context.Context, q string) (string, *sql.Stmt) {
	q = rebind(t.db.numbered, q)
	if t.db.cache == nil {
		return q, nil
	}
	if st, ok := t.stmts[q]; ok {
		return q, st
	}
	if len(t.stmts) >= maxStatements {
		return q, nil
	}
	c := t.db.cache
	c.mu.Lock()
	pooled, ok := c.m[q]
	if !ok && len(c.m)+len(c.pending) < maxStatements && !slices.Contains(c.pending, q) {
		c.pending = append(c.pending, q)
	}
	c.mu.Unlock()
	var st *sql.Stmt
	if ok {
		st = t.Tx.StmtContext(ctx, pooled)
	} else {
		var err error
		if st, err = t.Tx.PrepareContext(ctx, q); err != nil {
			return q, nil
		}
	}
	if t.stmts == nil {
		t.stmts = map[string]*sql.Stmt{}
	}
	t.stmts[q] = st
	return q, st
}

func (t *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	q, st := t.prepared(ctx, q)
	if st != nil {
		return st.ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, q, args...)
}

func (t *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	q, st := t.prepared(ctx, q)
	if st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, q, args...)
}

func (t *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	q, st := t.prepared(ctx, q)
	if st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.Tx.QueryRowContext(ctx, q, args...)
}

func (t *tx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return t.Tx.PrepareContext(ctx, rebind(t.db.numbered, q))
}
