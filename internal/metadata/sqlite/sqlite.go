// Package sqlite opens the metadata store of the embedded mode: one SQLite database in
// WAL mode, written through a single connection (SQLite has one writer; BEGIN IMMEDIATE
// avoids lock-upgrade deadlocks) and read through a pool that never waits for writers.
// The statements themselves are package sqlstore's, shared with PostgreSQL.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver

	"github.com/berth-registry/berth/internal/metadata/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite metadata store.
type Store struct {
	*sqlstore.Store
	// dsn is the database without query_only, for Backup.
	dsn string
}

// Open opens (creating if needed) the database at path and applies pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	// synchronous=FULL: a transaction acknowledged to a client survives power loss, not
	// only a crash of the process.
	pragmas := "_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=synchronous(FULL)&_pragma=temp_store(memory)"
	base := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + pragmas
	w, err := sql.Open("sqlite", base+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	r, err := sql.Open("sqlite", base+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s for reading: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	r.SetConnMaxLifetime(0)
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	s, err := sqlstore.New(ctx, w, r, sqlstore.Dialect{Name: "sqlite", Migrations: sub, GroupCommit: true, CacheStatements: true})
	if err != nil {
		w.Close()
		r.Close()
		return nil, describe(path, err)
	}
	// Index scans read every matching row once: a small page cache of their own (the
	// OS caches the file anyway) keeps a 10,000-app index from adding megabytes to each
	// reader's cache. Unbounded, so that concurrent scans, which hold two cursors each,
	// cannot wait on each other; idle ones are closed.
	bulk, err := sql.Open("sqlite", base+"&_pragma=query_only(1)&_pragma=cache_size(-128)")
	if err != nil {
		s.Close()
		return nil, fmt.Errorf("open %s for scans: %w", path, err)
	}
	bulk.SetMaxIdleConns(3)
	s.UseBulkReader(bulk)
	return &Store{Store: s, dsn: base}, nil
}

// Backup writes a consistent copy of the database to path (which must not exist) while
// the store stays in use: VACUUM INTO reads one snapshot, so writes that land meanwhile
// are simply not in the copy.
func (s *Store) Backup(ctx context.Context, path string) error {
	// The readers are query_only, which VACUUM INTO refuses although it writes only the
	// copy; a connection of its own reads the snapshot.
	db, err := sql.Open("sqlite", s.dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", path); err != nil {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	return nil
}
