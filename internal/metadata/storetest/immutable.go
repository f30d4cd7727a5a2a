package storetest

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
)

// prefixRules makes a tag immutable when it starts with its prefix, in every repository.
type prefixRules struct{ prefix string }

func (r prefixRules) ImmutableRule(repo, tag string) string {
	if strings.HasPrefix(tag, r.prefix) {
		return "releases"
	}
	return ""
}

// refusedAsImmutable fails the test unless err is an *ImmutableError for repo:tag
// holding the digest of m.
func refusedAsImmutable(t *testing.T, err error, repo, tag string, m *metadata.Manifest) {
	t.Helper()
	var ie *metadata.ImmutableError
	if !errors.As(err, &ie) {
		t.Fatalf("err = %v, want an *ImmutableError", err)
	}
	if ie.Repository != repo || ie.Tag != tag || ie.Rule != "releases" || ie.Holds != m.Digest {
		t.Fatalf("ImmutableError = %+v, want %s:%s by releases holding %s", ie, repo, tag, m.Digest)
	}
}

func testImmutableTagsRefuseMovesAndRemovals(t *testing.T, s metadata.Store) {
	s.UseImmutableRules(prefixRules{"v"})
	a, b := image(t, s, "r", "a"), image(t, s, "r", "b")
	must(t, s.PutManifest(ctx, "r", a, []string{"v1", "latest"}))
	must(t, s.PutManifest(ctx, "r", a, []string{"v1"})) // its own digest again: no move
	must(t, s.PutManifest(ctx, "r", b, []string{"latest"}))

	// Moving it, alone or beside a tag that may move, changes nothing at all.
	refusedAsImmutable(t, s.PutManifest(ctx, "r", b, []string{"v1"}), "r", "v1", a)
	c := image(t, s, "r", "c")
	refusedAsImmutable(t, s.PutManifest(ctx, "r", c, []string{"latest", "v1"}), "r", "v1", a)
	if got := checked(s.ResolveTag(ctx, "r", "latest")).must(t); got != b.Digest {
		t.Fatalf("latest moved to %s by a refused push", got)
	}
	if _, err := s.Manifest(ctx, "r", c.Digest); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("the refused push stored its manifest: %v", err)
	}
	// Removing it, by tag or with its manifest, is refused too.
	refusedAsImmutable(t, s.DeleteTag(ctx, "r", "v1"), "r", "v1", a)
	refusedAsImmutable(t, s.DeleteManifest(ctx, "r", a.Digest), "r", "v1", a)
	if got := checked(s.ResolveTag(ctx, "r", "v1")).must(t); got != a.Digest {
		t.Fatalf("v1 holds %s after refused changes, want %s", got, a.Digest)
	}
	hist := checked(s.TagHistory(ctx, "r", "v1", 0, 10)).must(t)
	if len(hist) != 1 || hist[0].New != a.Digest {
		t.Fatalf("history of v1 = %v, want its creation only", moves(hist))
	}
	// A tag no rule names, and a missing immutable one, behave as always.
	must(t, s.DeleteTag(ctx, "r", "latest"))
	if err := s.DeleteTag(ctx, "r", "v2"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("DeleteTag of a missing immutable tag: %v", err)
	}

	// An admin's override removes it, recorded like any removal.
	admin := metadata.WithImmutableOverride(metadata.WithActor(ctx, "root"))
	must(t, s.DeleteTag(admin, "r", "v1"))
	hist = checked(s.TagHistory(ctx, "r", "v1", 0, 10)).must(t)
	if len(hist) != 2 || hist[0].New != "" || hist[0].Actor.Name != "root" {
		t.Fatalf("history of v1 after the override = %v", moves(hist))
	}
	// Once gone it may be set again, to anything, and then it is fixed there.
	must(t, s.PutManifest(ctx, "r", b, []string{"v1"}))
	must(t, s.PutManifest(ctx, "r", b, []string{"v9"}))
	must(t, s.DeleteManifest(admin, "r", b.Digest))
	if _, err := s.ResolveTag(ctx, "r", "v9"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("v9 after its manifest was deleted with the override: %v", err)
	}

	// Without rules nothing is immutable.
	must(t, s.PutManifest(ctx, "r", a, []string{"v1"}))
	s.UseImmutableRules(nil)
	must(t, s.PutManifest(ctx, "r", c, []string{"v1"}))
}

// testConcurrentMovesOfAnImmutableTag sets one immutable tag from many goroutines at
// once, each to a manifest of its own, as replicas behind a balancer would: exactly one
// wins, the others are refused, and the history has the one creation.
func testConcurrentMovesOfAnImmutableTag(t *testing.T, s metadata.Store) {
	s.UseImmutableRules(prefixRules{"v"})
	const n = 16
	ms := make([]*metadata.Manifest, n)
	for i := range ms {
		ms[i] = image(t, s, "race", fmt.Sprint("m", i))
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.PutManifest(ctx, "race", m, []string{"v1.0"})
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		var ie *metadata.ImmutableError
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("pushes %d and %d both set the immutable tag", winner, i)
		case err == nil:
			winner = i
		case !errors.As(err, &ie):
			t.Fatalf("push %d: %v, want success or an *ImmutableError", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no push set the tag")
	}
	if got := checked(s.ResolveTag(ctx, "race", "v1.0")).must(t); got != ms[winner].Digest {
		t.Fatalf("tag holds %s, the winner pushed %s", got, ms[winner].Digest)
	}
	hist := checked(s.TagHistory(ctx, "race", "v1.0", 0, 2*n)).must(t)
	if len(hist) != 1 || hist[0].Old != "" || hist[0].New != ms[winner].Digest {
		t.Fatalf("history = %v, want the winner's creation only", moves(hist))
	}
}

// A cached tag follows its upstream although a rule matches it; a push to the same tag
// of a repository that is not a cache is still refused.
func testImmutableRulesLetCachedTagsFollowUpstream(t *testing.T, s metadata.Store) {
	s.UseImmutableRules(prefixRules{"v"})
	a, b := cachedImage("a"), cachedImage("b")
	must(t, s.PutCachedManifest(ctx, "hub/library/a", "hub", a, "v1", time.Now()))
	must(t, s.PutCachedManifest(ctx, "hub/library/a", "hub", b, "v1", time.Now()))
	if got := checked(s.ResolveTag(ctx, "hub/library/a", "v1")).must(t); got != b.Digest {
		t.Fatalf("cached v1 holds %s, want the upstream's new %s", got, b.Digest)
	}
	p, q := image(t, s, "r", "p"), image(t, s, "r", "q")
	must(t, s.PutManifest(ctx, "r", p, []string{"v1"}))
	refusedAsImmutable(t, s.PutManifest(ctx, "r", q, []string{"v1"}), "r", "v1", p)
}
