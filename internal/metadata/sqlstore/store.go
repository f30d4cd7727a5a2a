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
	"sort"
	"strconv"
	"strings"
	"time"
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
	// Retryable reports an error after which a write transaction may simply run again:
	// a deadlock, or a row a concurrent collection deleted under it.
	Retryable func(error) bool
}

// Store is the SQL metadata store. w takes writes, r reads; they may be the same pool.
type Store struct {
	w, r *db
	d    Dialect
}

// New applies the dialect's pending migrations and returns the store.
func New(ctx context.Context, w, r *sql.DB, d Dialect) (*Store, error) {
	s := &Store{w: &db{w, d.Numbered}, r: &db{r, d.Numbered}, d: d}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Close closes the databases.
func (s *Store) Close() error {
	if s.r.DB == s.w.DB {
		return s.w.Close()
	}
	return errors.Join(s.r.Close(), s.w.Close())
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
// must therefore have no effect outside the transaction.
func (s *Store) write(ctx context.Context, fn func(*tx) error) error {
	return s.writeTx(ctx, true, fn)
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
	if err := fn(&tx{t, s.w.numbered}); err != nil {
		_ = t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
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

// db and tx rebind every statement for their engine.
type db struct {
	*sql.DB
	numbered bool
}

func (d *db) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return d.DB.QueryContext(ctx, rebind(d.numbered, q), args...)
}

func (d *db) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return d.DB.QueryRowContext(ctx, rebind(d.numbered, q), args...)
}

type tx struct {
	*sql.Tx
	numbered bool
}

func (t *tx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, rebind(t.numbered, q), args...)
}

func (t *tx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, rebind(t.numbered, q), args...)
}

func (t *tx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, rebind(t.numbered, q), args...)
}

func (t *tx) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return t.Tx.PrepareContext(ctx, rebind(t.numbered, q))
}
