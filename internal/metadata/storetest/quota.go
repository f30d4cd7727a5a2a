package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/berth-registry/berth/internal/metadata"
)

// policy is a QuotaPolicy for the contract: namespaces are the first segment, or the
// first two for names under users/, with the limits of the maps.
type policy struct {
	storage map[string]int64
	tags    map[string]int
	users   bool // users/NAME is a namespace of its own
}

func (p policy) Namespace(repo string) string {
	segs := strings.SplitN(repo, "/", 3)
	if p.users && segs[0] == "users" && len(segs) > 1 {
		return segs[0] + "/" + segs[1]
	}
	return segs[0]
}
func (p policy) StorageLimit(ns string) int64 { return p.storage[ns] }
func (p policy) TagLimit(repo string) int     { return p.tags[repo] }
func (p policy) Fingerprint() string {
	if p.users {
		return "users/*\n"
	}
	return ""
}

func use(t *testing.T, s metadata.Store, p metadata.QuotaPolicy) bool {
	t.Helper()
	changed, err := s.UseQuotaPolicy(ctx, p)
	must(t, err)
	return changed
}

// usage returns the namespaces' usage as the store keeps it, and checks that a recount
// from the links and manifests agrees: the incremental accounting must never drift.
func usage(t *testing.T, s metadata.Store) map[string]metadata.Usage {
	t.Helper()
	list := func() map[string]metadata.Usage {
		out := map[string]metadata.Usage{}
		for _, u := range checked(s.ListUsage(ctx, "", 1000)).must(t) {
			out[u.Namespace] = u
		}
		return out
	}
	kept := list()
	must(t, s.RecountUsage(ctx))
	if counted := list(); !reflect.DeepEqual(kept, counted) {
		t.Fatalf("usage kept %v, recounted %v", kept, counted)
	}
	return kept
}

func quotaError(t *testing.T, err error) *metadata.QuotaError {
	t.Helper()
	var qe *metadata.QuotaError
	if !errors.As(err, &qe) {
		t.Fatalf("want a *QuotaError, got %v", err)
	}
	return qe
}

func testUsageCountsEachBlobOncePerNamespace(t *testing.T, s metadata.Store) {
	x := metadata.Blob{Digest: dg("x"), Size: 1000}
	must(t, s.LinkBlob(ctx, "a/one", x))
	must(t, s.LinkBlob(ctx, "a/two", x))
	must(t, s.LinkBlob(ctx, "a/two", x)) // again: nothing new
	must(t, s.LinkBlob(ctx, "b", x))
	if _, err := s.LinkExistingBlob(ctx, "a/three", x.Digest); err != nil {
		t.Fatal(err)
	}
	m := image(t, s, "a/one", "m") // config 10 and layer 20, linked into a/one
	must(t, s.PutManifest(ctx, "a/one", m, []string{"v1"}))
	must(t, s.PutManifest(ctx, "a/two", mustLink(t, s, "a/two", m), []string{"v1"})) // same digests in a/two
	mlen := int64(len(m.Payload))
	// Blobs once per namespace; manifests once per repository, as each stores its own.
	want := map[string]metadata.Usage{
		"a": {Namespace: "a", Bytes: 1000 + 10 + 20 + 2*mlen, Objects: 5},
		"b": {Namespace: "b", Bytes: 1000, Objects: 1},
	}
	if got := usage(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("usage = %v, want %v", got, want)
	}
	ru := checked(s.RepositoryUsage(ctx, "a/one")).must(t)
	if ru.Usage != want["a"] || ru.Tags != 1 || ru.Repository != "a/one" {
		t.Fatalf("RepositoryUsage(a/one) = %+v", ru)
	}
	if ru := checked(s.RepositoryUsage(ctx, "a/new")).must(t); ru.Usage != want["a"] || ru.Tags != 0 {
		t.Fatalf("RepositoryUsage of a repository not created yet = %+v, want its namespace's", ru)
	}
	if got := checked(s.NamespaceRepositories(ctx, "a", "", 10)).must(t); !reflect.DeepEqual(got, []string{"a/one", "a/three", "a/two"}) {
		t.Fatalf("NamespaceRepositories(a) = %v", got)
	}
	if got := checked(s.NamespaceRepositories(ctx, "a", "a/one", 1)).must(t); !reflect.DeepEqual(got, []string{"a/three"}) {
		t.Fatalf("NamespaceRepositories(a) after a/one = %v", got)
	}

	// Only the last reference of a namespace takes content out of its usage.
	must(t, s.UnlinkBlob(ctx, "a/one", x.Digest))
	must(t, s.UnlinkBlob(ctx, "a/two", x.Digest))
	if got := usage(t, s)["a"]; got.Bytes != want["a"].Bytes {
		t.Fatalf("after unlinking from two of three repositories: %+v, want unchanged", got)
	}
	must(t, s.UnlinkBlob(ctx, "a/three", x.Digest))
	must(t, s.DeleteManifest(ctx, "a/one", m.Digest))
	if got := usage(t, s)["a"]; got.Bytes != 30+mlen || got.Objects != 3 {
		t.Fatalf("after the last unlink and one of two manifests: %+v", got)
	}
	must(t, s.DeleteManifest(ctx, "a/two", m.Digest))
	if got := usage(t, s)["a"]; got.Bytes != 30 || got.Objects != 2 {
		t.Fatalf("after both manifests: %+v, want the config and layer only", got)
	}
	if page := checked(s.ListUsage(ctx, "a", 10)).must(t); len(page) != 1 || page[0].Namespace != "b" {
		t.Fatalf("ListUsage after a = %v", page)
	}
}

// mustLink links m's blobs into repo and returns m.
func mustLink(t *testing.T, s metadata.Store, repo string, m *metadata.Manifest) *metadata.Manifest {
	t.Helper()
	for _, b := range m.Blobs {
		if _, err := s.LinkExistingBlob(ctx, repo, b); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func testStorageLimitRefusesWithoutCounting(t *testing.T, s metadata.Store) {
	use(t, s, policy{storage: map[string]int64{"q": 100}})
	big, more, fits := metadata.Blob{Digest: dg("big"), Size: 60}, metadata.Blob{Digest: dg("more"), Size: 50}, metadata.Blob{Digest: dg("fits"), Size: 40}
	must(t, s.LinkBlob(ctx, "q/a", big))
	qe := quotaError(t, s.LinkBlob(ctx, "q/b", more))
	if *qe != (metadata.QuotaError{Namespace: "q", Used: 60, Adding: 50, Limit: 100}) {
		t.Fatalf("refusal = %+v", qe)
	}
	if !strings.Contains(qe.Error(), "60 B") || !strings.Contains(qe.Error(), "100 B") {
		t.Fatalf("message %q does not give usage and limit", qe)
	}
	// Refused: not linked, not counted, no repository made; but the blob is recorded,
	// unlinked, so that collection reclaims the bytes already stored.
	if ok := checked(s.RepositoryExists(ctx, "q/b")).must(t); ok {
		t.Fatal("a refused link created its repository")
	}
	if _, err := s.Blob(ctx, more.Digest); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("refused blob is served: %v", err)
	}
	found := false
	for _, b := range checked(s.UnreferencedBlobs(ctx, future, 100)).must(t) {
		found = found || b.Digest == more.Digest
	}
	if !found {
		t.Fatal("refused blob is not left for collection")
	}
	quotaError(t, checked(s.LinkExistingBlob(ctx, "q/b", more.Digest)).err)

	// Content the namespace holds already costs nothing, even when full.
	must(t, s.LinkBlob(ctx, "q/a", fits)) // 100: exactly the limit
	must(t, s.LinkBlob(ctx, "q/c", big))
	if _, err := s.LinkExistingBlob(ctx, "q/d", fits.Digest); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		repo  string
		blob  metadata.Blob
		admit bool
	}{
		{"q/new", big, true}, // counted
		{"q/new", more, false},
		{"elsewhere", more, true}, // unlimited namespace
	} {
		r := checked(s.StorageRoom(ctx, tt.repo, tt.blob.Digest)).must(t)
		if r.Admits(tt.blob.Size) != tt.admit {
			t.Errorf("StorageRoom(%s, %s) = %+v: admits %d bytes = %v, want %v", tt.repo, tt.blob.Digest, r, tt.blob.Size, !tt.admit, tt.admit)
		}
	}

	// A manifest is content too: one that does not fit is refused whole.
	m := image(t, s, "elsewhere", "img")
	quotaError(t, checked(s.LinkExistingBlob(ctx, "q/a", m.Blobs[0])).err) // new to q, which is full
	must(t, s.UnlinkBlob(ctx, "q/c", big.Digest))
	must(t, s.UnlinkBlob(ctx, "q/a", big.Digest)) // frees 60
	mustLink(t, s, "q/a", m)                      // 40 + 30
	mm := *m
	mm.Payload = []byte(strings.Repeat(" ", 31))
	mm.Digest = dg("padded")
	quotaError(t, s.PutManifest(ctx, "q/a", &mm, []string{"v1"}))
	if _, err := s.ResolveTag(ctx, "q/a", "v1"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("refused manifest set its tag: %v", err)
	}
	if _, err := s.Manifest(ctx, "q/a", mm.Digest); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("refused manifest stored: %v", err)
	}
	mm.Payload = mm.Payload[:30]
	mm.Digest = dg("fits exactly")
	must(t, s.PutManifest(ctx, "q/a", &mm, []string{"v1"}))
	if got := usage(t, s)["q"]; got.Bytes != 100 || got.Limit != 100 {
		t.Fatalf("usage of q = %+v, want 100 of 100", got)
	}
}

func testTagLimit(t *testing.T, s metadata.Store) {
	use(t, s, policy{tags: map[string]int{"t": 2}})
	a, b := image(t, s, "t", "a"), image(t, s, "t", "b")
	must(t, s.PutManifest(ctx, "t", a, []string{"one", "two"}))
	qe := quotaError(t, s.PutManifest(ctx, "t", b, []string{"three"}))
	if *qe != (metadata.QuotaError{Repository: "t", Used: 2, Adding: 1, Limit: 2}) {
		t.Fatalf("refusal = %+v", qe)
	}
	must(t, s.PutManifest(ctx, "t", b, []string{"one", "one"})) // a move is no new tag
	quotaError(t, s.PutManifest(ctx, "t", b, []string{"two", "three"}))
	must(t, s.PutManifest(ctx, "t", b, nil)) // by digest
	must(t, s.DeleteTag(ctx, "t", "one"))
	must(t, s.PutManifest(ctx, "t", b, []string{"three"}))
	if got := checked(s.ListTags(ctx, "t", "", 10)).must(t); !reflect.DeepEqual(got, []string{"three", "two"}) {
		t.Fatalf("tags = %v", got)
	}
	if ru := checked(s.RepositoryUsage(ctx, "t")).must(t); ru.Tags != 2 || ru.TagLimit != 2 {
		t.Fatalf("RepositoryUsage(t) = %+v", ru)
	}
	must(t, s.PutManifest(ctx, "unlimited", image(t, s, "unlimited", "u"), []string{"1", "2", "3"}))
}

func testCollectionUncounts(t *testing.T, s metadata.Store) {
	m := image(t, s, "g/app", "m")
	must(t, s.PutManifest(ctx, "g/app", m, nil)) // untagged
	loose := metadata.Blob{Digest: dg("loose"), Size: 7}
	must(t, s.LinkBlob(ctx, "g/app", loose))
	mlen := int64(len(m.Payload))
	if got := usage(t, s)["g"]; got.Bytes != 30+7+mlen {
		t.Fatalf("before collection: %+v", got)
	}
	if ok := checked(s.DeleteUntaggedManifest(ctx, metadata.ManifestRef{Repository: "g/app", Digest: m.Digest}, future)).must(t); !ok {
		t.Fatal("untagged manifest not collected")
	}
	if got := usage(t, s)["g"]; got.Bytes != 30+7 {
		t.Fatalf("after the manifest: %+v", got)
	}
	for _, l := range checked(s.UnreferencedLinks(ctx, future, 100)).must(t) {
		if ok := checked(s.DeleteUnreferencedLink(ctx, l, future)).must(t); !ok {
			t.Fatalf("link %v not collected", l)
		}
	}
	if got, ok := usage(t, s)["g"]; ok {
		t.Fatalf("after every link: %+v, want nothing listed", got)
	}
}

// testConcurrentLinksNeverPassTheLimit has 16 writers fill one namespace with distinct
// blobs until each is refused: the namespace must end exactly full, never over.
func testConcurrentLinksNeverPassTheLimit(t *testing.T, s metadata.Store) {
	const limit, size, writers = 1000, 10, 16
	use(t, s, policy{storage: map[string]int64{"c": limit}})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var linked int64
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				err := s.LinkBlob(ctx, fmt.Sprintf("c/r%d", w%4), metadata.Blob{Digest: dg(fmt.Sprintf("%d-%d", w, i)), Size: size})
				var qe *metadata.QuotaError
				if errors.As(err, &qe) {
					return
				}
				if err != nil {
					errs[w] = err
					return
				}
				mu.Lock()
				linked += size
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	if got := usage(t, s)["c"]; got.Bytes != limit || linked != limit {
		t.Fatalf("namespace c holds %d bytes (%d linked), want exactly its limit %d", got.Bytes, linked, limit)
	}
}

func testPolicyChangeRecounts(t *testing.T, s metadata.Store) {
	shared := metadata.Blob{Digest: dg("base"), Size: 100}
	must(t, s.LinkBlob(ctx, "users/alice/app", shared))
	must(t, s.LinkBlob(ctx, "users/bob/app", shared))
	if got := usage(t, s); got["users"].Bytes != 100 {
		t.Fatalf("under the default policy: %v", got)
	}
	if changed := use(t, s, policy{users: true}); !changed {
		t.Fatal("new namespace rules did not recount")
	}
	want := map[string]metadata.Usage{
		"users/alice": {Namespace: "users/alice", Bytes: 100, Objects: 1},
		"users/bob":   {Namespace: "users/bob", Bytes: 100, Objects: 1},
	}
	if got := usage(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the change: %v, want %v", got, want)
	}
	if changed := use(t, s, policy{users: true, storage: map[string]int64{"users/bob": 1}}); changed {
		t.Fatal("the same rules with other limits recounted")
	}
	if got := checked(s.NamespaceRepositories(ctx, "users/bob", "", 10)).must(t); !reflect.DeepEqual(got, []string{"users/bob/app"}) {
		t.Fatalf("NamespaceRepositories(users/bob) = %v", got)
	}
	// New repositories go to the namespace the policy names; unlinks find the right one.
	must(t, s.LinkBlob(ctx, "users/carol/x", shared))
	must(t, s.UnlinkBlob(ctx, "users/alice/app", shared.Digest))
	want["users/carol"] = metadata.Usage{Namespace: "users/carol", Bytes: 100, Objects: 1}
	delete(want, "users/alice")
	want["users/bob"] = metadata.Usage{Namespace: "users/bob", Bytes: 100, Objects: 1, Limit: 1}
	if got := usage(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("after more pushes: %v, want %v", got, want)
	}
}

func testTagMovesAreNoted(t *testing.T, s metadata.Store) {
	a, b := image(t, s, "n", "a"), image(t, s, "n", "b")
	type mv struct{ Tag, Old, New string }
	noted := func(call func(c context.Context) error) []mv {
		t.Helper()
		c, moves := metadata.WithTagMoves(ctx)
		must(t, call(c))
		out := []mv{}
		for _, m := range moves.List() {
			if m.Repository != "n" {
				t.Fatalf("move of %q noted for repository n", m.Repository)
			}
			out = append(out, mv{m.Tag, string(m.Old), string(m.New)})
		}
		return out
	}
	A, B := string(a.Digest), string(b.Digest)
	for _, tt := range []struct {
		name string
		call func(c context.Context) error
		want []mv
	}{
		{"create", func(c context.Context) error { return s.PutManifest(c, "n", a, []string{"x", "y"}) }, []mv{{"x", "", A}, {"y", "", A}}},
		{"again", func(c context.Context) error { return s.PutManifest(c, "n", a, []string{"x"}) }, []mv{}},
		{"move", func(c context.Context) error { return s.PutManifest(c, "n", b, []string{"x"}) }, []mv{{"x", A, B}}},
		{"untag", func(c context.Context) error { return s.DeleteTag(c, "n", "x") }, []mv{{"x", B, ""}}},
		{"delete", func(c context.Context) error { return s.DeleteManifest(c, "n", a.Digest) }, []mv{{"y", A, ""}}},
	} {
		if got := noted(tt.call); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: noted %v, want %v", tt.name, got, tt.want)
		}
	}
}
