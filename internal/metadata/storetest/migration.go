package storetest

import (
	"context"
	"database/sql"
	"io/fs"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
)

// CheckQuotaMigration is the test of a registry that had data before quotas existed: it
// applies the engine's migrations before 0008 to db, fills it with repositories, blobs,
// links and a manifest (payload is the engine's SQL for the 4-byte payload 00112233),
// then opens the store with open, which applies 0008, and checks that every repository
// counts in its first segment's namespace and the usage was counted.
func CheckQuotaMigration(t *testing.T, db *sql.DB, migrations fs.FS, payload string, open func() metadata.Store) {
	t.Helper()
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	names, err := fs.Glob(migrations, "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(names)
	exec(`CREATE TABLE schema_migrations (version TEXT PRIMARY KEY)`)
	for _, n := range names {
		version := strings.TrimSuffix(n, ".sql")
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
	id := func(name string) string { return `(SELECT id FROM repositories WHERE name = '` + name + `')` }
	exec(`INSERT INTO repositories (name, created_at) VALUES ('team/a', 0), ('team/b', 0), ('solo', 0)`)
	exec(`INSERT INTO blobs (digest, size, created_at, linked_at) VALUES ('sha256:x', 100, 0, 0), ('sha256:y', 10, 0, 0)`)
	exec(`INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (` + id("team/a") + `, 'sha256:x', 0), (` +
		id("team/b") + `, 'sha256:x', 0), (` + id("solo") + `, 'sha256:x', 0), (` + id("team/b") + `, 'sha256:y', 0)`)
	exec(`INSERT INTO manifests (repository_id, digest, media_type, payload, created_at) VALUES (` + id("team/a") + `, 'sha256:m', 'm', ` + payload + `, 0)`)

	s := open()
	got := checked(s.ListUsage(context.Background(), "", 10)).must(t)
	want := []metadata.Usage{{Namespace: "solo", Bytes: 100, Objects: 1}, {Namespace: "team", Bytes: 114, Objects: 3}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("usage after the migration: %v, want %v", got, want)
	}
	if u := checked(s.RepositoryUsage(context.Background(), "team/b")).must(t); u.Usage.Namespace != "team" {
		t.Fatalf("team/b counts in %+v", u)
	}
}
