package storetest

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// cachedImage is a manifest whose blobs are not in the store, as the cache first
// stores one.
func cachedImage(name string) *metadata.Manifest {
	payload := []byte(`{"cached":"` + name + `"}`)
	return &metadata.Manifest{
		Digest:       digest.FromBytes(payload),
		MediaType:    "application/vnd.oci.image.manifest.v1+json",
		ConfigDigest: dg(name + "-config"),
		Payload:      payload,
		CreatedAt:    time.Unix(0, 1700000000000000000),
		Blobs:        []digest.Digest{dg(name + "-config"), dg(name + "-layer")},
	}
}

func testCachedManifests(t *testing.T, s metadata.Store) {
	checked := time.Unix(0, 1700000000123456789)
	m := cachedImage("a")
	// Stored although none of its blobs is: the cache fetches them on demand.
	must(t, s.PutCachedManifest(ctx, "hub/library/a", "hub", m, "latest", checked))
	got, err := s.Manifest(ctx, "hub/library/a", m.Digest)
	must(t, err)
	if !reflect.DeepEqual(got.Blobs, []digest.Digest{dg("a-config"), dg("a-layer")}) && !reflect.DeepEqual(got.Blobs, []digest.Digest{dg("a-layer"), dg("a-config")}) {
		t.Fatalf("blobs of the cached manifest: %v", got.Blobs)
	}
	ct, err := s.CachedTag(ctx, "hub/library/a", "latest")
	must(t, err)
	if ct.Digest != m.Digest || !ct.CheckedAt.Equal(checked) {
		t.Fatalf("CachedTag = %+v, want %s checked at %v", ct, m.Digest, checked)
	}
	tags, err := s.ListTags(ctx, "hub/library/a", "", 10)
	must(t, err)
	if !reflect.DeepEqual(tags, []string{"latest"}) {
		t.Fatalf("tags of the cached repository: %v", tags)
	}

	// A check restarts the time to live; a tag that does not exist cannot be checked.
	later := checked.Add(time.Hour)
	must(t, s.TagChecked(ctx, "hub/library/a", "latest", later))
	if ct, _ := s.CachedTag(ctx, "hub/library/a", "latest"); !ct.CheckedAt.Equal(later) {
		t.Fatalf("after TagChecked: %+v", ct)
	}
	if err := s.TagChecked(ctx, "hub/library/a", "nope", later); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("TagChecked of a missing tag: %v", err)
	}
	if _, err := s.CachedTag(ctx, "hub/library/a", "nope"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("CachedTag of a missing tag: %v", err)
	}

	// Moving the tag moves it, in the tag history too, as the actor of the context; by
	// digest (no tag) adds a manifest and no tag.
	m2 := cachedImage("b")
	must(t, s.PutCachedManifest(metadata.WithActor(ctx, "mirror"), "hub/library/a", "hub", m2, "latest", later))
	if ct, _ := s.CachedTag(ctx, "hub/library/a", "latest"); ct.Digest != m2.Digest {
		t.Fatalf("tag not moved: %+v", ct)
	}
	hist, err := s.TagHistory(ctx, "hub/library/a", "latest", 0, 10)
	must(t, err)
	if len(hist) != 2 || hist[0].Old != m.Digest || hist[0].New != m2.Digest || hist[0].Actor.Name != "mirror" || hist[1].New != m.Digest {
		t.Fatalf("history of the cached tag: %+v", hist)
	}
	m3 := cachedImage("c")
	must(t, s.PutCachedManifest(ctx, "hub/library/a", "hub", m3, "", later))
	if _, err := s.Manifest(ctx, "hub/library/a", m3.Digest); err != nil {
		t.Fatalf("manifest cached by digest: %v", err)
	}

	// A deleted tag loses its check; re-created by a push it has none.
	must(t, s.DeleteTag(ctx, "hub/library/a", "latest"))
	if _, err := s.CachedTag(ctx, "hub/library/a", "latest"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("deleted tag still cached: %v", err)
	}
	must(t, s.PutManifest(ctx, "pushed", image(t, s, "pushed", "p"), []string{"v1"}))
	if ct, err := s.CachedTag(ctx, "pushed", "v1"); err != nil || !ct.CheckedAt.IsZero() {
		t.Fatalf("pushed tag: %+v, %v; want a zero CheckedAt", ct, err)
	}

	// Only the cache's repositories are listed as cached, keyset-paged.
	must(t, s.PutCachedManifest(ctx, "ghcr/o/r", "ghcr", cachedImage("g"), "v1", later))
	all, err := s.CachedRepositories(ctx, "", 10)
	must(t, err)
	want := []metadata.CachedRepository{{Name: "ghcr/o/r", Upstream: "ghcr"}, {Name: "hub/library/a", Upstream: "hub"}}
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("CachedRepositories = %v, want %v", all, want)
	}
	if page, _ := s.CachedRepositories(ctx, "ghcr/o/r", 1); !reflect.DeepEqual(page, want[1:]) {
		t.Fatalf("second page = %v", page)
	}
}

func testFetchLeases(t *testing.T, s metadata.Store) {
	d := dg("big-layer")
	ok, err := s.AcquireFetch(ctx, d, "a", time.Minute)
	must(t, err)
	if !ok {
		t.Fatal("first lease refused")
	}
	if ok, _ := s.AcquireFetch(ctx, d, "b", time.Minute); ok {
		t.Fatal("a second owner took a live lease")
	}
	if ok, _ := s.AcquireFetch(ctx, d, "a", time.Minute); !ok {
		t.Fatal("the owner could not extend its lease")
	}
	// Another digest is another lease.
	if ok, _ := s.AcquireFetch(ctx, dg("other"), "b", time.Minute); !ok {
		t.Fatal("lease on another digest refused")
	}
	// A release by someone else changes nothing; the owner's frees it.
	must(t, s.ReleaseFetch(ctx, d, "b"))
	if ok, _ := s.AcquireFetch(ctx, d, "b", time.Minute); ok {
		t.Fatal("lease freed by a stranger's release")
	}
	must(t, s.ReleaseFetch(ctx, d, "a"))
	if ok, _ := s.AcquireFetch(ctx, d, "b", time.Minute); !ok {
		t.Fatal("released lease not taken")
	}
	// An expired lease is taken over.
	e := dg("expiring")
	if ok, _ := s.AcquireFetch(ctx, e, "a", -time.Second); !ok {
		t.Fatal("lease refused")
	}
	if ok, _ := s.AcquireFetch(ctx, e, "b", time.Minute); !ok {
		t.Fatal("expired lease not taken over")
	}
	if ok, _ := s.AcquireFetch(ctx, e, "a", time.Minute); ok {
		t.Fatal("the former owner took back a lease taken over")
	}
}

// testConcurrentFetchLeases races owners for one lease: exactly one wins.
func testConcurrentFetchLeases(t *testing.T, s metadata.Store) {
	d := dg("raced")
	const n = 8
	wins := make(chan string, n)
	errs := make(chan error, n)
	for i := range n {
		go func() {
			owner := string(rune('a' + i))
			ok, err := s.AcquireFetch(ctx, d, owner, time.Minute)
			if ok {
				wins <- owner
			}
			errs <- err
		}()
	}
	for range n {
		must(t, <-errs)
	}
	close(wins)
	var got []string
	for w := range wins {
		got = append(got, w)
	}
	if len(got) != 1 {
		t.Fatalf("%d owners won the lease: %v", len(got), got)
	}
}

// testCachedManifestsCount: the cache's manifests count in their namespace's usage and
// against the repository's tag limit as pushed ones do, and deleting one (retention,
// collection) takes it out again, so that usage never drifts from a recount.
func testCachedManifestsCount(t *testing.T, s metadata.Store) {
	use(t, s, policy{storage: map[string]int64{"hub": 1000}, tags: map[string]int{"hub/library/a": 1}})
	m := cachedImage("a")
	mlen := int64(len(m.Payload))
	must(t, s.PutCachedManifest(ctx, "hub/library/a", "hub", m, "latest", time.Now()))
	must(t, s.PutCachedManifest(ctx, "hub/library/a", "hub", m, "latest", time.Now())) // again: nothing new
	if got := usage(t, s)["hub"]; got.Bytes != mlen || got.Objects != 1 {
		t.Fatalf("usage after caching a manifest: %+v, want %d bytes in 1 object", got, mlen)
	}
	qe := quotaError(t, s.PutCachedManifest(ctx, "hub/library/a", "hub", cachedImage("b"), "other", time.Now()))
	if qe.Repository != "hub/library/a" || qe.Limit != 1 {
		t.Fatalf("tag limit refusal = %+v", qe)
	}
	big := cachedImage("big")
	big.Payload = []byte(`{"cached":"` + strings.Repeat("x", 1000) + `"}`)
	big.Digest = digest.FromBytes(big.Payload)
	if qe := quotaError(t, s.PutCachedManifest(ctx, "hub/library/c", "hub", big, "", time.Now())); qe.Namespace != "hub" || qe.Limit != 1000 {
		t.Fatalf("storage refusal = %+v", qe)
	}
	if _, err := s.Manifest(ctx, "hub/library/c", big.Digest); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("a refused manifest was stored: %v", err)
	}
	must(t, s.DeleteManifest(ctx, "hub/library/a", m.Digest))
	if got := usage(t, s)["hub"]; got.Bytes != 0 || got.Objects != 0 {
		t.Fatalf("usage after deleting the cached manifest: %+v", got)
	}
}
