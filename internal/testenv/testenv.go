// Package testenv hands tests the external services of the scaled mode: a fresh
// PostgreSQL database and a fresh S3 prefix per test, on the servers scripts/test.sh
// starts (scripts/postgres.sh, scripts/s3.sh). A test that needs one and finds no server
// fails, unless BERTH_TEST_ALLOW_SKIP=1, so CI can never pass by skipping. Only tests
// and the benchmark harness import it.
package testenv

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

func need(t testing.TB, env, start string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("BERTH_TEST_ALLOW_SKIP") == "1" {
			t.Skipf("%s not set", env)
		}
		t.Fatalf("%s is not set: run `eval $(%s)` first (scripts/test.sh does)", env, start)
	}
	return v
}

// PostgresURL creates an empty database for this test, dropped when it ends, and
// returns its URL.
func PostgresURL(t testing.TB) string {
	t.Helper()
	dsn, drop, err := NewPostgresDatabase(need(t, "BERTH_TEST_POSTGRES", "scripts/postgres.sh start /tmp/berth-pg"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drop() })
	return dsn
}

// NewPostgresDatabase creates an empty database on the server of admin (a URL with the
// right to create databases) and returns its URL and what drops it.
func NewPostgresDatabase(admin string) (dsn string, drop func() error, err error) {
	u, err := url.Parse(admin)
	if err != nil {
		return "", nil, err
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", nil, err
	}
	defer db.Close()
	name := fmt.Sprintf("berth_test_%d", rand.Uint64())
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		return "", nil, err
	}
	drop = func() error {
		db, err := sql.Open("pgx", admin)
		if err != nil {
			return err
		}
		defer db.Close()
		_, err = db.Exec("DROP DATABASE " + name + " WITH (FORCE)")
		return err
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// S3URL returns an s3:// blob store URL with a prefix no other test uses. Credentials
// are in the AWS_* environment scripts/s3.sh prints.
func S3URL(t testing.TB) string {
	t.Helper()
	u, err := NewS3Prefix(need(t, "BERTH_TEST_S3", "scripts/s3.sh start /tmp/berth-s3"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// NewS3Prefix returns the s3:// URL base with a random prefix under its path.
func NewS3Prefix(base string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.Path = fmt.Sprintf("%s/t%d", u.Path, rand.Uint64())
	return u.String(), nil
}
