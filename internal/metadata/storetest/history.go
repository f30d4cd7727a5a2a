package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// move is a TagChange without what the store assigns (ID, time).
type move struct {
	Repo, Tag, Old, New string
	Actor               metadata.Actor
}

func moves(cs []metadata.TagChange) []move {
	out := []move{}
	for _, c := range cs {
		out = append(out, move{c.Repository, c.Tag, string(c.Old), string(c.New), c.Actor})
	}
	return out
}

func testTagHistoryRecordsEveryMove(t *testing.T, s metadata.Store) {
	alice := metadata.WithReplica(metadata.WithActor(ctx, "alice"), "replica-1")
	bob := metadata.WithActor(alice, "bob")
	a, b := image(t, s, "r", "a"), image(t, s, "r", "b")
	A, B := string(a.Digest), string(b.Digest)

	must(t, s.PutManifest(alice, "r", a, []string{"t", "keep"}))
	must(t, s.PutManifest(alice, "r", a, []string{"t"})) // already there: no move
	must(t, s.PutManifest(bob, "r", b, []string{"t"}))
	must(t, s.DeleteTag(bob, "r", "t"))
	must(t, s.PutManifest(alice, "r", b, []string{"t"}))
	must(t, s.DeleteManifest(bob, "r", a.Digest)) // removes "keep"
	// Failed operations record nothing.
	if err := s.DeleteTag(bob, "r", "never"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("DeleteTag of a missing tag: %v", err)
	}
	if err := s.DeleteManifest(bob, "r", a.Digest); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("second DeleteManifest: %v", err)
	}
	bad := image(t, s, "r", "bad")
	bad.Blobs = append(bad.Blobs, dg("absent"))
	if err := s.PutManifest(bob, "r", bad, []string{"t"}); err == nil {
		t.Fatal("PutManifest with a missing blob succeeded")
	}

	ra, rb := metadata.Actor{Name: "alice", Replica: "replica-1"}, metadata.Actor{Name: "bob", Replica: "replica-1"}
	got, err := s.TagHistory(ctx, "r", "t", 0, 10)
	must(t, err)
	want := []move{
		{"r", "t", "", B, ra},
		{"r", "t", B, "", rb},
		{"r", "t", A, B, rb},
		{"r", "t", "", A, ra},
	}
	if !reflect.DeepEqual(moves(got), want) {
		t.Fatalf("TagHistory(r:t) =\n%v\nwant\n%v", moves(got), want)
	}
	for i := 1; i < len(got); i++ {
		if got[i].ID >= got[i-1].ID || got[i].At.After(got[i-1].At) {
			t.Fatalf("history not newest first: %+v before %+v", got[i-1], got[i])
		}
	}
	keep, err := s.TagHistory(ctx, "r", "keep", 0, 10)
	must(t, err)
	if want := []move{{"r", "keep", A, "", rb}, {"r", "keep", "", A, ra}}; !reflect.DeepEqual(moves(keep), want) {
		t.Fatalf("TagHistory(r:keep) = %v, want %v", moves(keep), want)
	}
	if none, err := s.TagHistory(ctx, "r", "never", 0, 10); err != nil || len(none) != 0 {
		t.Fatalf("TagHistory of a tag that never existed = %v, %v", none, err)
	}
	if none, err := s.TagHistory(ctx, "no/such/repo", "t", 0, 10); err != nil || len(none) != 0 {
		t.Fatalf("TagHistory of an unknown repository = %v, %v", none, err)
	}
}

func testTagHistoryPages(t *testing.T, s metadata.Store) {
	var pushed []digest.Digest
	for i := range 7 {
		m := image(t, s, "p", fmt.Sprint("v", i))
		must(t, s.PutManifest(ctx, "p", m, []string{"latest"}))
		pushed = append(pushed, m.Digest)
	}
	// Newest first, in pages of 3, continuing before the last ID of each page.
	var walked []digest.Digest
	before := int64(0)
	for pages := 0; ; pages++ {
		page, err := s.TagHistory(ctx, "p", "latest", before, 3)
		must(t, err)
		if len(page) == 0 {
			break
		}
		if len(page) > 3 || pages > 3 {
			t.Fatalf("page %d has %d changes", pages, len(page))
		}
		for _, c := range page {
			walked = append(walked, c.New)
		}
		before = page[len(page)-1].ID
	}
	for i, d := range walked {
		if want := pushed[len(pushed)-1-i]; d != want {
			t.Fatalf("change %d took %s, want %s", i, d, want)
		}
	}
	if len(walked) != len(pushed) {
		t.Fatalf("walked %d changes, want %d", len(walked), len(pushed))
	}
}

func testTagChangesInTimeOrder(t *testing.T, s metadata.Store) {
	start := time.Now()
	for i := range 5 {
		repo := fmt.Sprint("feed/", i%2)
		must(t, s.PutManifest(ctx, repo, image(t, s, repo, fmt.Sprint("m", i)), []string{fmt.Sprint("t", i)}))
	}
	var all []metadata.TagChange
	pos := metadata.HistoryPosition{}
	for {
		page, err := s.TagChanges(ctx, pos, 2)
		must(t, err)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		last := page[len(page)-1]
		pos = metadata.HistoryPosition{At: last.At, ID: last.ID}
	}
	if len(all) != 5 {
		t.Fatalf("TagChanges walked %d changes, want 5: %v", len(all), moves(all))
	}
	for i, c := range all {
		if c.Tag != fmt.Sprint("t", i) || c.Repository != fmt.Sprint("feed/", i%2) {
			t.Fatalf("change %d is %s:%s", i, c.Repository, c.Tag)
		}
		if c.At.Before(start.Add(-time.Second)) || c.At.After(time.Now().Add(time.Second)) {
			t.Fatalf("change %d at %v, outside the test's run", i, c.At)
		}
	}
	// A position with only a time starts there.
	later, err := s.TagChanges(ctx, metadata.HistoryPosition{At: all[2].At.Add(-time.Nanosecond)}, 10)
	must(t, err)
	if len(later) != 3 || later[0].ID != all[2].ID {
		t.Fatalf("TagChanges from the third change's time = %v", moves(later))
	}
	if none, err := s.TagChanges(ctx, metadata.HistoryPosition{At: time.Now().Add(time.Hour)}, 10); err != nil || len(none) != 0 {
		t.Fatalf("TagChanges from the future = %v, %v", none, err)
	}
}

// testConcurrentMovesAreAllRecorded moves one tag from many goroutines at once: every
// move the tag made is in the history, each from the digest the previous one left.
func testConcurrentMovesAreAllRecorded(t *testing.T, s metadata.Store) {
	const n = 16
	ms := make([]*metadata.Manifest, n)
	for i := range ms {
		ms[i] = image(t, s, "c", fmt.Sprint("m", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.PutManifest(ctx, "c", m, []string{"hot"})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	hist, err := s.TagHistory(ctx, "c", "hot", 0, 2*n)
	must(t, err)
	if len(hist) != n {
		t.Fatalf("%d moves recorded, want %d", len(hist), n)
	}
	now, err := s.ResolveTag(ctx, "c", "hot")
	must(t, err)
	if hist[0].New != now {
		t.Fatalf("newest change took %s, tag holds %s", hist[0].New, now)
	}
	for i := 0; i < n-1; i++ {
		if hist[i].Old != hist[i+1].New {
			t.Fatalf("change %d left %s, but the one before took %s", i, hist[i].Old, hist[i+1].New)
		}
	}
	if hist[n-1].Old != "" {
		t.Fatalf("first change left %q, want a new tag", hist[n-1].Old)
	}
}
