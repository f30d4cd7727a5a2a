package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/storetest"
)

func open(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) metadata.Store { return open(t) })
}

func TestReopenKeepsDataAndSkipsAppliedMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.LinkBlob(ctx, "r", metadata.Blob{Digest: digest.FromString("x"), Size: 1}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if ok, err := s.RepositoryExists(ctx, "r"); !ok || err != nil {
		t.Fatalf("after reopen: %v, %v", ok, err)
	}
}

// TestHotQueriesUseIndexes proves the pages of keyset listings (tags, repositories,
// referrers, tag history, retention's tags) are range scans of an index: their cost is O(page), not O(all).
func TestHotQueriesUseIndexes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	st, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	plans := map[string]string{
		"tags page":  `SELECT name FROM tags WHERE repository_id = 1 AND name > 'x' ORDER BY name LIMIT 101`,
		"repos page": `SELECT name FROM repositories WHERE name > 'x' ORDER BY name LIMIT 101`,
		"referrers":  `SELECT digest FROM manifests m WHERE m.repository_id = 1 AND m.subject_digest <> '' AND m.subject_digest = 'd' AND m.digest > '' ORDER BY digest LIMIT 10`,
		"tag history page": `SELECT id FROM tag_history WHERE repository_id = 1 AND tag = 'x' AND id < 100
			ORDER BY id DESC LIMIT 101`,
		"tag changes page": `SELECT id FROM tag_history WHERE (moved_at, id) > (5, 3) ORDER BY moved_at, id LIMIT 101`,
		"retention tags page": `SELECT t.name, m.digest, t.updated_at, COALESCE((SELECT max(p.pulled_at) FROM pulls p
			WHERE p.repository_id = t.repository_id AND p.reference IN (t.name, m.digest)), 0)
			FROM tags t JOIN manifests m ON m.id = t.manifest_id WHERE t.repository_id = 1 AND t.name > 'x' ORDER BY t.name LIMIT 501`,
		"last untagging": `SELECT max(moved_at) FROM tag_history h WHERE h.repository_id = 1 AND h.old_digest = 'd'`,
	}
	// Collection's and retention's "no index of the repository lists it" (sqlstore's
	// untaggedManifest): the child's index entries first, their parents by key, never
	// every manifest of the repository per candidate.
	childOf := `SELECT 1 FROM manifest_children c CROSS JOIN manifests p
		WHERE p.id = c.manifest_id AND c.child_digest = 'd' AND p.repository_id = 1`
	if joined := queryPlan(t, db, childOf); !strings.HasPrefix(joined, "SEARCH c USING COVERING INDEX manifest_children_child") ||
		!strings.Contains(joined, "SEARCH p USING INTEGER PRIMARY KEY") {
		t.Errorf("child lookup: plan %q does not start from the child's index entries", joined)
	}
	// The icon handler's lookup starts from the icon's uses, not from every repository.
	iconRepos := `SELECT DISTINCT r.name FROM manifest_apps a
		JOIN manifests m ON m.id = a.manifest_id JOIN repositories r ON r.id = m.repository_id
		WHERE (a.icon64 = 'd' OR a.icon128 = 'd') AND r.name > '' ORDER BY r.name LIMIT 100`
	if joined := queryPlan(t, db, iconRepos); !strings.Contains(joined, "manifest_apps_icon64") ||
		!strings.Contains(joined, "manifest_apps_icon128") || strings.Contains(joined, "SCAN r") {
		t.Errorf("icon repositories: plan %q does not start from the icon indexes", joined)
	}
	for name, q := range plans {
		joined := queryPlan(t, db, q)
		if !strings.Contains(joined, "USING") || strings.Contains(joined, "TEMP B-TREE") || strings.HasPrefix(joined, "SCAN") {
			t.Errorf("%s: plan %q is not an index range scan", name, joined)
		}
	}
}

// queryPlan is SQLite's plan of q, its steps joined by "; ".
func queryPlan(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN " + q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(plan, "; ")
}

func seedTags(b testing.TB, s *Store, n int) {
	b.Helper()
	ctx := context.Background()
	cfg := digest.FromString("cfg")
	if err := s.LinkBlob(ctx, "bench", metadata.Blob{Digest: cfg, Size: 1}); err != nil {
		b.Fatal(err)
	}
	m := &metadata.Manifest{Digest: digest.FromString("m"), MediaType: "application/vnd.oci.image.manifest.v1+json",
		ConfigDigest: cfg, Payload: []byte("{}"), CreatedAt: time.Now(), Blobs: []digest.Digest{cfg}}
	const batch = 1000
	for i := 0; i < n; i += batch {
		tags := make([]string, 0, batch)
		for j := i; j < min(i+batch, n); j++ {
			tags = append(tags, fmt.Sprintf("tag-%07d", j))
		}
		if err := s.PutManifest(ctx, "bench", m, tags); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPutTag(b *testing.B) {
	s := open(b)
	seedTags(b, s, 1)
	m, err := s.Manifest(context.Background(), "bench", digest.FromString("m"))
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		if err := s.PutManifest(context.Background(), "bench", m, []string{fmt.Sprintf("t%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkListTagsPage(b *testing.B) {
	s := open(b)
	seedTags(b, s, 100_000)
	rng := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		after := fmt.Sprintf("tag-%07d", rng.IntN(100_000))
		if _, err := s.ListTags(context.Background(), "bench", after, 100); err != nil {
			b.Fatal(err)
		}
	}
}

func TestBackupIsAConsistentCopy(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if err := s.LinkBlob(ctx, "r", metadata.Blob{Digest: digest.FromString("x"), Size: 1}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "backup.db")
	if err := s.Backup(ctx, path); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkBlob(ctx, "later", metadata.Blob{Digest: digest.FromString("y"), Size: 1}); err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if ok, _ := b.RepositoryExists(ctx, "r"); !ok {
		t.Error("backup lacks what was there before it")
	}
	if ok, _ := b.RepositoryExists(ctx, "later"); ok {
		t.Error("backup has what came after it")
	}
}

// BenchmarkPutTagParallel pushes tags from 16 goroutines at once, as concurrent clients
// do: group commit lets one fsync serve many of them.
func BenchmarkPutTagParallel(b *testing.B) {
	s := open(b)
	seedTags(b, s, 1)
	m, err := s.Manifest(context.Background(), "bench", digest.FromString("m"))
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.PutManifest(context.Background(), "bench", m, []string{fmt.Sprintf("p%d", n.Add(1))}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestGroupCommitIsolatesFailures runs writes that fail and writes that succeed at the
// same moment, so that they share group commits: every success is stored, and a failed
// write leaves nothing behind, not even the repository it would have created.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	cfg := digest.FromString("cfg")
	if err := s.LinkBlob(ctx, "good", metadata.Blob{Digest: cfg, Size: 1}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo, blob := "good", cfg
			if i%2 == 1 {
				repo, blob = fmt.Sprintf("bad%d", i), digest.FromString(fmt.Sprintf("missing%d", i))
			}
			m := &metadata.Manifest{Digest: digest.FromString(fmt.Sprint(i)), MediaType: "application/vnd.oci.image.manifest.v1+json",
				ConfigDigest: blob, Payload: []byte(fmt.Sprint(i)), CreatedAt: time.Now(), Blobs: []digest.Digest{blob}}
			errs[i] = s.PutManifest(ctx, repo, m, []string{fmt.Sprintf("t%d", i)})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		var missing *metadata.MissingError
		if i%2 == 0 && err != nil {
			t.Errorf("write %d: %v", i, err)
		}
		if i%2 == 1 && !errors.As(err, &missing) {
			t.Errorf("write %d: %v, want a MissingError", i, err)
		}
	}
	tags, err := s.ListTags(ctx, "good", "", 100)
	if err != nil || len(tags) != 32 {
		t.Fatalf("good has %d tags (%v), want 32", len(tags), err)
	}
	repos, err := s.ListRepositories(ctx, "", 100)
	if err != nil || len(repos) != 1 {
		t.Fatalf("repositories %v (%v): a failed write left its repository behind", repos, err)
	}
}
