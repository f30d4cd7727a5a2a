// Package storetest is the contract every metadata.Store implementation must pass. An
// implementation's tests call Run with a constructor of fresh, empty stores.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// Run runs the contract suite.
func Run(t *testing.T, newStore func(t *testing.T) metadata.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, metadata.Store)
	}{
		{"RepositoriesAppearWithContent", testRepositories},
		{"ListingsAreByteOrderedKeysets", testByteOrder},
		{"ListTagsOfUnknownRepository", testTagsUnknownRepo},
		{"BlobLinks", testBlobLinks},
		{"PutManifestRoundTrips", testManifestRoundTrip},
		{"PutManifestRefusesMissingContentAtomically", testMissingContent},
		{"RetaggingMovesTag", testRetag},
		{"DeleteManifestRemovesItsTags", testDeleteManifest},
		{"DeleteTag", testDeleteTag},
		{"Referrers", testReferrers},
		{"Uploads", testUploads},
		{"ConcurrentTagPushes", testConcurrentTags},
		{"ScanIndexFilters", testFindImages},
		{"CollectLinksAndBlobs", testCollectLinksAndBlobs},
		{"LinkExistingBlobRestartsGrace", testLinkExistingBlobRestartsGrace},
		{"CollectUntaggedManifests", testCollectUntaggedManifests},
		{"ExpiredUploads", testExpiredUploads},
		{"TagHistoryRecordsEveryMove", testTagHistoryRecordsEveryMove},
		{"TagHistoryPages", testTagHistoryPages},
		{"TagChangesInTimeOrder", testTagChangesInTimeOrder},
		{"ConcurrentMovesAreAllRecorded", testConcurrentMovesAreAllRecorded},
		{"UsageCountsEachBlobOncePerNamespace", testUsageCountsEachBlobOncePerNamespace},
		{"StorageLimitRefusesWithoutCounting", testStorageLimitRefusesWithoutCounting},
		{"TagLimit", testTagLimit},
		{"CollectionUncounts", testCollectionUncounts},
		{"ConcurrentLinksNeverPassTheLimit", testConcurrentLinksNeverPassTheLimit},
		{"PolicyChangeRecounts", testPolicyChangeRecounts},
		{"TagMovesAreNoted", testTagMovesAreNoted},
		{"CachedManifests", testCachedManifests},
		{"CachedFlatpakMovesQueueNoDeltaJob", testCachedFlatpakMovesQueueNoDeltaJob},
		{"CachedManifestsCount", testCachedManifestsCount},
		{"FetchLeases", testFetchLeases},
		{"ConcurrentFetchLeases", testConcurrentFetchLeases},
		{"ImmutableTagsRefuseMovesAndRemovals", testImmutableTagsRefuseMovesAndRemovals},
		{"ConcurrentMovesOfAnImmutableTag", testConcurrentMovesOfAnImmutableTag},
		{"ImmutableRulesLetCachedTagsFollowUpstream", testImmutableRulesLetCachedTagsFollowUpstream},
		{"PullsKeepTheLatest", testPullsKeepTheLatest},
		{"RetentionTagsPage", testRetentionTagsPage},
		{"ExpireTagOnlyAsJudged", testExpireTagOnlyAsJudged},
		{"ExpiredManifestsByUntaggedTime", testExpiredManifestsByUntaggedTime},
		{"RetentionRacingPushesDeletesNothingReferenced", testRetentionRacingPushesDeletesNothingReferenced},
		{"LeasesOneHolderAtATime", testLeasesOneHolderAtATime},
		{"RepositoryFiguresFollowEveryWrite", testRepositoryFiguresFollowEveryWrite},
		{"BrowseRepositoriesSearchesNames", testBrowseRepositories},
		{"BrowseTagsByNameAndNewest", testBrowseTags},
		{"ListChildren", testListChildren},
		{"AppsAndIcons", testAppsAndIcons},
		{"AppBackfill", testAppBackfill},
		{"ScanIndexStreamsInIndexOrder", testScanIndex},
		{"IndexDuplicates", testIndexDuplicates},
		{"DeltaJobsQueuedByFlatpakMoves", testDeltaJobsQueuedByFlatpakMoves},
		{"DeltaJobLeases", testDeltaJobLeases},
		{"DeltaJobLeaseRunsOut", testDeltaJobLeaseRunsOut},
		{"ConcurrentDeltaClaimsTakeEachJobOnce", testConcurrentDeltaClaims},
		{"RecordDeltasAndTheirIndex", testRecordDeltasAndTheirIndex},
		{"ListDeltasPages", testListDeltasPages},
		{"ExpireDeltas", testExpireDeltas},
		{"CollectorKeepsDeltaSources", testCollectorKeepsDeltaSources},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

var ctx = context.Background()

func dg(s string) digest.Digest { return digest.FromString(s) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// result is what a store call returned, so that one expression checks the error and
// yields the value: checked(s.UnreferencedBlobs(...)).must(t).
type result[T any] struct {
	v   T
	err error
}

func checked[T any](v T, err error) result[T] { return result[T]{v, err} }

// must returns the value, failing the test at once when the call failed: a check that
// expects an empty list or false must not pass because a broken store returned nothing
// and an error.
func (r result[T]) must(t *testing.T) T {
	t.Helper()
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.v
}

// image returns a manifest with a config and one layer, both linked into repo.
func image(t *testing.T, s metadata.Store, repo, name string) *metadata.Manifest {
	t.Helper()
	cfg, layer := dg(name+"-config"), dg(name+"-layer")
	must(t, s.LinkBlob(ctx, repo, metadata.Blob{Digest: cfg, Size: 10}))
	must(t, s.LinkBlob(ctx, repo, metadata.Blob{Digest: layer, Size: 20}))
	payload := []byte(`{"name":"` + name + `"}`)
	return &metadata.Manifest{
		Digest:          digest.FromBytes(payload),
		MediaType:       "application/vnd.oci.image.manifest.v1+json",
		ConfigDigest:    cfg,
		ConfigMediaType: "application/vnd.oci.image.config.v1+json",
		OS:              "linux",
		Architecture:    "amd64",
		Labels:          map[string]string{"name": name},
		Annotations:     map[string]string{},
		Payload:         payload,
		CreatedAt:       time.Unix(0, 1700000000000000000),
		Blobs:           []digest.Digest{cfg, layer},
	}
}

func testRepositories(t *testing.T, s metadata.Store) {
	if ok, err := s.RepositoryExists(ctx, "a"); err != nil || ok {
		t.Fatalf("empty store: exists=%v err=%v", ok, err)
	}
	must(t, s.LinkBlob(ctx, "b/blob-only", metadata.Blob{Digest: dg("x"), Size: 1}))
	must(t, s.PutManifest(ctx, "a/with-manifest", image(t, s, "a/with-manifest", "m"), []string{"v1"}))
	for _, r := range []string{"b/blob-only", "a/with-manifest"} {
		if ok, err := s.RepositoryExists(ctx, r); err != nil || !ok {
			t.Fatalf("%s: exists=%v err=%v", r, ok, err)
		}
	}
	got, err := s.ListRepositories(ctx, "", 10)
	must(t, err)
	if want := []string{"a/with-manifest", "b/blob-only"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ListRepositories = %v, want %v", got, want)
	}
}

func testByteOrder(t *testing.T, s metadata.Store) {
	tags := []string{"a", "Z9", "_x", "1", "A", "a-b", "a.b", "b", "a_b"}
	m := image(t, s, "r", "m")
	must(t, s.PutManifest(ctx, "r", m, tags))
	want := slices.Clone(tags)
	slices.Sort(want) // Go compares strings bytewise: the order the store must keep
	all, err := s.ListTags(ctx, "r", "", 100)
	must(t, err)
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("ListTags = %v, want %v", all, want)
	}
	var walked []string
	for after := ""; ; {
		page, err := s.ListTags(ctx, "r", after, 2)
		must(t, err)
		if len(page) == 0 {
			break
		}
		walked = append(walked, page...)
		after = page[len(page)-1]
	}
	if !reflect.DeepEqual(walked, want) {
		t.Fatalf("walk = %v, want %v", walked, want)
	}
	// `after` need not be a tag.
	page, err := s.ListTags(ctx, "r", "a-", 3)
	must(t, err)
	if w := []string{"a-b", "a.b", "a_b"}; !reflect.DeepEqual(page, w) {
		t.Fatalf("after %q: %v, want %v", "a-", page, w)
	}
	for _, repo := range []string{"z", "a/b", "A", "a", "a-b", "_"} {
		must(t, s.LinkBlob(ctx, repo, metadata.Blob{Digest: dg("b"), Size: 1}))
	}
	repos, err := s.ListRepositories(ctx, "a", 3)
	must(t, err)
	if w := []string{"a-b", "a/b", "r"}; !reflect.DeepEqual(repos, w) {
		t.Fatalf("ListRepositories after a = %v, want %v", repos, w)
	}
}

func testTagsUnknownRepo(t *testing.T, s metadata.Store) {
	if _, err := s.ListTags(ctx, "nope", "", 10); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("unknown repo: %v", err)
	}
	must(t, s.LinkBlob(ctx, "blobs-only", metadata.Blob{Digest: dg("x"), Size: 1}))
	tags, err := s.ListTags(ctx, "blobs-only", "", 10)
	if err != nil || tags == nil || len(tags) != 0 {
		t.Fatalf("repo without tags: %#v, %v (want empty, non-nil)", tags, err)
	}
}

func testBlobLinks(t *testing.T, s metadata.Store) {
	d := dg("blob")
	must(t, s.LinkBlob(ctx, "one", metadata.Blob{Digest: d, Size: 42}))
	must(t, s.LinkBlob(ctx, "one", metadata.Blob{Digest: d, Size: 42})) // idempotent
	if b, err := s.RepositoryBlob(ctx, "one", d); err != nil || b.Size != 42 || b.Digest != d {
		t.Fatalf("RepositoryBlob = %+v, %v", b, err)
	}
	if _, err := s.RepositoryBlob(ctx, "two", d); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("blob leaked into another repository: %v", err)
	}
	if b, err := s.Blob(ctx, d); err != nil || b.Size != 42 {
		t.Fatalf("Blob = %+v, %v", b, err)
	}
	for _, r := range []string{"three", "two/b", "two/a"} {
		must(t, s.LinkBlob(ctx, r, metadata.Blob{Digest: d, Size: 42}))
	}
	must(t, s.LinkBlob(ctx, "other", metadata.Blob{Digest: dg("other"), Size: 1}))
	var holders []string
	for after := ""; ; {
		page, err := s.BlobRepositories(ctx, d, after, 2)
		must(t, err)
		if len(page) == 0 {
			break
		}
		holders = append(holders, page...)
		after = page[len(page)-1]
	}
	if want := []string{"one", "three", "two/a", "two/b"}; !slices.Equal(holders, want) {
		t.Fatalf("BlobRepositories paged by 2 = %q, want %q", holders, want)
	}
	for _, r := range []string{"three", "two/b", "two/a"} {
		must(t, s.UnlinkBlob(ctx, r, d))
	}
	must(t, s.UnlinkBlob(ctx, "one", d))
	if err := s.UnlinkBlob(ctx, "one", d); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("second unlink: %v", err)
	}
	if _, err := s.RepositoryBlob(ctx, "one", d); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("after unlink: %v", err)
	}
	if _, err := s.Blob(ctx, d); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("a blob no repository holds is still found: %v", err)
	}
}

func testManifestRoundTrip(t *testing.T, s metadata.Store) {
	m := image(t, s, "r", "m")
	m.Annotations = map[string]string{"org.opencontainers.image.title": "t"}
	m.Subject = dg("subject")
	m.ArtifactType = "application/x-test"
	m.Variant = "v8"
	must(t, s.PutManifest(ctx, "r", m, []string{"latest"}))
	must(t, s.PutManifest(ctx, "r", m, nil)) // idempotent
	got, err := s.Manifest(ctx, "r", m.Digest)
	must(t, err)
	slices.Sort(m.Blobs)
	if !got.CreatedAt.Equal(m.CreatedAt) {
		t.Fatalf("CreatedAt = %v, want %v", got.CreatedAt, m.CreatedAt)
	}
	got.CreatedAt = m.CreatedAt
	if len(got.Children) == 0 {
		got.Children = nil // nil and empty are the same "no children"
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("Manifest =\n%+v\nwant\n%+v", got, m)
	}
	if d, err := s.ResolveTag(ctx, "r", "latest"); err != nil || d != m.Digest {
		t.Fatalf("ResolveTag = %s, %v", d, err)
	}
	if _, err := s.Manifest(ctx, "other", m.Digest); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("manifest leaked into another repository: %v", err)
	}
	if _, err := s.ResolveTag(ctx, "r", "nope"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("unknown tag: %v", err)
	}
}

func testMissingContent(t *testing.T, s metadata.Store) {
	m := image(t, s, "r", "m")
	must(t, s.PutManifest(ctx, "r", m, []string{"keep"}))

	bad := image(t, s, "r", "bad")
	bad.Blobs = append(bad.Blobs, dg("not linked"))
	err := s.PutManifest(ctx, "r", bad, []string{"keep", "new"})
	var me *metadata.MissingError
	if !errors.As(err, &me) || me.Kind != "blob" || me.Digest != dg("not linked") {
		t.Fatalf("missing blob: %v", err)
	}
	index := &metadata.Manifest{
		Digest: dg("index"), MediaType: "application/vnd.oci.image.index.v1+json", Payload: []byte("{}"),
		Children: []digest.Digest{m.Digest, dg("absent child")},
	}
	if err := s.PutManifest(ctx, "r", index, []string{"keep"}); !errors.As(err, &me) || me.Kind != "manifest" || me.Digest != dg("absent child") {
		t.Fatalf("missing child: %v", err)
	}
	if d := checked(s.ResolveTag(ctx, "r", "keep")).must(t); d != m.Digest {
		t.Fatalf("a failed push moved a tag to %s", d)
	}
	if _, err := s.ResolveTag(ctx, "r", "new"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("a failed push created a tag: %v", err)
	}
	if _, err := s.Manifest(ctx, "r", bad.Digest); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("a failed push stored its manifest: %v", err)
	}
	index.Children = []digest.Digest{m.Digest}
	must(t, s.PutManifest(ctx, "r", index, []string{"idx"}))
	got, err := s.Manifest(ctx, "r", index.Digest)
	must(t, err)
	if !reflect.DeepEqual(got.Children, []digest.Digest{m.Digest}) {
		t.Fatalf("Children = %v", got.Children)
	}
}

func testRetag(t *testing.T, s metadata.Store) {
	a, b := image(t, s, "r", "a"), image(t, s, "r", "b")
	must(t, s.PutManifest(ctx, "r", a, []string{"t", "a"}))
	must(t, s.PutManifest(ctx, "r", b, []string{"t"}))
	if d := checked(s.ResolveTag(ctx, "r", "t")).must(t); d != b.Digest {
		t.Fatalf("tag t points to %s, want %s", d, b.Digest)
	}
	if d := checked(s.ResolveTag(ctx, "r", "a")).must(t); d != a.Digest {
		t.Fatalf("tag a moved")
	}
}

func testDeleteManifest(t *testing.T, s metadata.Store) {
	a, b := image(t, s, "r", "a"), image(t, s, "r", "b")
	must(t, s.PutManifest(ctx, "r", a, []string{"a1", "a2"}))
	must(t, s.PutManifest(ctx, "r", b, []string{"b1"}))
	must(t, s.DeleteManifest(ctx, "r", a.Digest))
	if err := s.DeleteManifest(ctx, "r", a.Digest); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Manifest(ctx, "r", a.Digest); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("deleted manifest still there: %v", err)
	}
	tags, err := s.ListTags(ctx, "r", "", 10)
	must(t, err)
	if !reflect.DeepEqual(tags, []string{"b1"}) {
		t.Fatalf("tags after delete = %v", tags)
	}
}

func testDeleteTag(t *testing.T, s metadata.Store) {
	a := image(t, s, "r", "a")
	must(t, s.PutManifest(ctx, "r", a, []string{"x", "y"}))
	must(t, s.DeleteTag(ctx, "r", "x"))
	if err := s.DeleteTag(ctx, "r", "x"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Manifest(ctx, "r", a.Digest); err != nil {
		t.Fatalf("deleting a tag removed its manifest: %v", err)
	}
	if d := checked(s.ResolveTag(ctx, "r", "y")).must(t); d != a.Digest {
		t.Fatal("other tag lost")
	}
}

func testReferrers(t *testing.T, s metadata.Store) {
	subject := dg("the subject")
	var want []metadata.Referrer
	for i := range 5 {
		m := image(t, s, "r", fmt.Sprint("ref", i))
		m.Subject = subject
		m.Annotations = map[string]string{"i": fmt.Sprint(i)}
		if i%2 == 0 {
			m.ArtifactType = "application/x-even"
		}
		must(t, s.PutManifest(ctx, "r", m, nil))
		at := m.ArtifactType
		if at == "" {
			at = m.ConfigMediaType
		}
		want = append(want, metadata.Referrer{Digest: m.Digest, MediaType: m.MediaType, Size: int64(len(m.Payload)), ArtifactType: at, Annotations: m.Annotations})
	}
	other := image(t, s, "r", "unrelated")
	must(t, s.PutManifest(ctx, "r", other, nil))
	slices.SortFunc(want, func(a, b metadata.Referrer) int { return cmpStr(a.Digest.String(), b.Digest.String()) })

	got, err := s.Referrers(ctx, "r", subject, "", "", 100)
	must(t, err)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Referrers =\n%+v\nwant\n%+v", got, want)
	}
	page1, err := s.Referrers(ctx, "r", subject, "", "", 2)
	must(t, err)
	page2, err := s.Referrers(ctx, "r", subject, "", page1[1].Digest, 2)
	must(t, err)
	if !reflect.DeepEqual(append(page1, page2...), want[:4]) {
		t.Fatal("paging referrers lost or repeated entries")
	}
	even, err := s.Referrers(ctx, "r", subject, "application/x-even", "", 100)
	must(t, err)
	if len(even) != 3 {
		t.Fatalf("artifactType filter: %d referrers, want 3", len(even))
	}
	none, err := s.Referrers(ctx, "other-repo", subject, "", "", 100)
	if err != nil || none == nil || len(none) != 0 {
		t.Fatalf("other repository: %#v, %v", none, err)
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func testUploads(t *testing.T, s metadata.Store) {
	now := time.Unix(0, 1700000000000000000)
	u := metadata.Upload{ID: "up1", Repository: "r", Algorithm: digest.SHA256, HashState: []byte{1}, StartedAt: now, UpdatedAt: now}
	must(t, s.CreateUpload(ctx, u))
	got, err := s.Upload(ctx, "up1")
	must(t, err)
	if !reflect.DeepEqual(got, u) {
		t.Fatalf("Upload = %+v, want %+v", got, u)
	}
	next := u
	next.Offset, next.HashState, next.UpdatedAt = 100, []byte{2}, now.Add(time.Second)
	must(t, s.AdvanceUpload(ctx, next, 0))
	if err := s.AdvanceUpload(ctx, next, 0); !errors.Is(err, metadata.ErrUploadConflict) {
		t.Fatalf("advance from a stale offset: %v", err)
	}
	got = checked(s.Upload(ctx, "up1")).must(t)
	if got.Offset != 100 || !reflect.DeepEqual(got.HashState, []byte{2}) {
		t.Fatalf("after advance: %+v", got)
	}
	must(t, s.DeleteUpload(ctx, "up1"))
	if _, err := s.Upload(ctx, "up1"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("deleted upload: %v", err)
	}
	if err := s.AdvanceUpload(ctx, next, 100); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("advance of deleted upload: %v", err)
	}
	if err := s.DeleteUpload(ctx, "up1"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testConcurrentTags(t *testing.T, s metadata.Store) {
	m := image(t, s, "r", "m")
	must(t, s.PutManifest(ctx, "r", m, nil))
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.PutManifest(ctx, "r", m, []string{fmt.Sprintf("t%02d", i)})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	tags, err := s.ListTags(ctx, "r", "", 100)
	must(t, err)
	if len(tags) != 20 {
		t.Fatalf("%d tags landed, want 20", len(tags))
	}
}
