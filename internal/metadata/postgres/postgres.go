// Package postgres opens the metadata store of the scaled mode: PostgreSQL, shared by
// any number of stateless replicas. The statements are package sqlstore's, shared with
// SQLite; this package supplies the schema, placeholders, the advisory lock that lets
// replicas start together, and the row locks that keep garbage collection safe.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/berth-registry/berth/internal/metadata/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key under which migrations run; any constant shared
// by all replicas does.
const migrationLock = 0x6265727468 // "berth"

// Store is the PostgreSQL metadata store.
type Store struct {
	*sqlstore.Store
}

// Open connects to the database at dsn (postgres://user:password@host:port/db?...) and
// applies pending migrations.
func Open(ctx context.Context, dsn string) (*Store, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", redact(dsn), err)
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s: %w", redact(dsn), err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	s, err := sqlstore.New(ctx, db, db, sqlstore.Dialect{
		Name:          "postgres",
		Numbered:      true,
		Migrations:    sub,
		MigrationLock: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock),
		ForUpdate:     " FOR UPDATE",
		ForShare:      " FOR SHARE",
		// The row lock of the tag limit must not conflict with the key-share locks that
		// inserts referencing the repository take, or two pushes would deadlock.
		ForNoKeyUpdate: " FOR NO KEY UPDATE",
		LockForRecount: "LOCK TABLE repository_blobs, manifests IN SHARE MODE",
		Retryable:      retryable,
	})
	if err != nil {
		db.Close()
		return nil, err
	}
	return &Store{Store: s}, nil
}

// retryable: a deadlock, a serialisation failure, or a row deleted by a concurrent
// collection under a foreign key this transaction was about to use.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "40P01", "40001", "23503":
		return true
	}
	return false
}

func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
