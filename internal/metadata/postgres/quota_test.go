package postgres

import (
	"context"
	"database/sql"
	"io/fs"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/storetest"
	"github.com/berth-registry/berth/internal/testenv"
)

func TestQuotaMigrationCountsExistingData(t *testing.T) {
	dsn := testenv.PostgresURL(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	storetest.CheckQuotaMigration(t, db, sub, `decode('00112233', 'hex')`, func() metadata.Store {
		s, err := Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
