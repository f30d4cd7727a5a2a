package postgres

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/testenv"
)

// TestQuotaMigrationCountsExistingData: a registry that had data before quotas existed
// gets namespaces by first segment and its usage counted by the migration.
func TestQuotaMigrationCountsExistingData(t *testing.T) {
	dsn := testenv.PostgresURL(t)
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY)`)
	for _, n := range names {
		version := strings.TrimSuffix(filepath.Base(n), ".sql")
		if version >= "0008" {
			break
		}
		body, err := fs.ReadFile(migrations, n)
		if err != nil {
			t.Fatal(err)
		}
		exec(string(body))
		exec(`INSERT INTO schema_migrations VALUES ('` + version + `')`)
	}
	exec(`INSERT INTO repositories (id, name, created_at) OVERRIDING SYSTEM VALUE VALUES (1, 'team/a', 0), (2, 'team/b', 0), (3, 'solo', 0)`)
	exec(`INSERT INTO blobs (digest, size, created_at, linked_at) VALUES ('sha256:x', 100, 0, 0), ('sha256:y', 10, 0, 0)`)
	exec(`INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (1, 'sha256:x', 0), (2, 'sha256:x', 0), (3, 'sha256:x', 0), (2, 'sha256:y', 0)`)
	exec(`INSERT INTO manifests (repository_id, digest, media_type, payload, created_at) VALUES (1, 'sha256:m', 'm', decode('00112233', 'hex'), 0)`)
	db.Close()

	s, err := Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.ListUsage(context.Background(), "", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []metadata.Usage{{Namespace: "solo", Bytes: 100, Objects: 1}, {Namespace: "team", Bytes: 114, Objects: 3}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("usage after the migration: %v, want %v", got, want)
	}
	if u, err := s.RepositoryUsage(context.Background(), "team/b"); err != nil || u.Usage.Namespace != "team" {
		t.Fatalf("team/b counts in %+v, %v", u, err)
	}
}
