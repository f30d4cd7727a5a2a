package postgres

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/storetest"
	"github.com/berth-registry/berth/internal/testenv"
)

func open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), testenv.PostgresURL(t))
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
	dsn := testenv.PostgresURL(t)
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

// TestHotQueriesUseIndexes checks that the pages of keyset listings are ordered index scans.
func TestHotQueriesUseIndexes(t *testing.T) {
	db, err := sql.Open("pgx", testenv.PostgresURL(t))
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
		"tag history page": `SELECT id FROM tag_history WHERE repository_id = 1 AND tag = 'x' AND id < 100
			ORDER BY id DESC LIMIT 101`,
		"tag changes page": `SELECT id FROM tag_history WHERE (moved_at, id) > (5, 3) ORDER BY moved_at, id LIMIT 101`,
		"retention tags page": `SELECT t.name, m.digest, t.updated_at, COALESCE((SELECT max(p.pulled_at) FROM pulls p
			WHERE p.repository_id = t.repository_id AND p.reference IN (t.name, m.digest)), 0)
			FROM tags t JOIN manifests m ON m.id = t.manifest_id WHERE t.repository_id = 1 AND t.name > 'x' ORDER BY t.name LIMIT 501`,
		"last untagging": `SELECT max(moved_at) FROM tag_history h WHERE h.repository_id = 1 AND h.old_digest = 'd'`,
		"delta job claim": `SELECT id FROM delta_jobs WHERE state = 'queued' AND not_before <= 5 AND lease_until < 5
			ORDER BY not_before, id LIMIT 1`,
		"delta source kept by gc": `SELECT 1 FROM tag_history WHERE repository_id = 1 AND old_digest = 'x' AND moved_at >= 5`,
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
