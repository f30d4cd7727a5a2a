package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/storetest"
)

// testDatabase returns the URL of a fresh, empty database for one test and drops it
// afterwards. The server comes from BERTH_TEST_POSTGRES (scripts/postgres.sh starts
// one); without it the test fails, unless BERTH_TEST_ALLOW_SKIP=1.
func testDatabase(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("BERTH_TEST_POSTGRES")
	if admin == "" {
		if os.Getenv("BERTH_TEST_ALLOW_SKIP") == "1" {
			t.Skip("BERTH_TEST_POSTGRES not set")
		}
		t.Fatal("BERTH_TEST_POSTGRES is not set: run `eval $(scripts/postgres.sh start /tmp/berth-pg)` (scripts/test.sh does)")
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	name := fmt.Sprintf("berth_test_%d", rand.Uint64())
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", admin)
		if err == nil {
			_, _ = db.Exec("DROP DATABASE " + name + " WITH (FORCE)")
			db.Close()
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

func open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), testDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) metadata.Store { return open(t) })
}

// TestReplicasStartTogether opens one database from several processes' worth of
// connections at once: the advisory lock lets exactly one apply each migration.
func TestReplicasStartTogether(t *testing.T) {
	dsn := testDatabase(t)
	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := Open(context.Background(), dsn)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
}

// TestHotQueriesUseIndexes checks that a tags page and a catalog page are index scans.
func TestHotQueriesUseIndexes(t *testing.T) {
	db, err := sql.Open("pgx", testDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := Open(context.Background(), dsnOf(t, db))
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	if _, err := db.Exec("SET enable_seqscan = off; SET enable_bitmapscan = off"); err != nil {
		t.Fatal(err)
	}
	for name, q := range map[string]string{
		"tags page":  `SELECT name FROM tags WHERE repository_id = 1 AND name > 'x' ORDER BY name LIMIT 101`,
		"repos page": `SELECT name FROM repositories WHERE name > 'x' ORDER BY name LIMIT 101`,
	} {
		var plan []string
		rows, err := db.Query("EXPLAIN " + q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, line)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		if !strings.Contains(joined, "Index") || strings.Contains(joined, "Sort") {
			t.Errorf("%s: plan %q is not an ordered index scan", name, joined)
		}
	}
}

func dsnOf(t *testing.T, db *sql.DB) string {
	t.Helper()
	var name string
	if err := db.QueryRow("SELECT current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(os.Getenv("BERTH_TEST_POSTGRES"))
	u.Path = "/" + name
	return u.String()
}
