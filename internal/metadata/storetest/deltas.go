package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// deltasOn turns deltas on in s with the window, or skips a store that cannot.
func deltasOn(t *testing.T, s metadata.Store, window time.Duration) {
	t.Helper()
	p, ok := s.(metadata.DeltaPolicySetter)
	if !ok {
		t.Skip("store takes no delta policy")
	}
	p.SetDeltaPolicy(metadata.DeltaPolicy{Enabled: true, Window: window})
}

// flatpak returns an image carrying a Flatpak ref.
func flatpak(t *testing.T, s metadata.Store, repo, name string) *metadata.Manifest {
	m := image(t, s, repo, name)
	m.Labels = map[string]string{metadata.FlatpakRefLabel: "app/org.example.App/x86_64/stable"}
	return m
}

func jobs(t *testing.T, s metadata.Store, repo string) []metadata.DeltaJob {
	t.Helper()
	return checked(s.DeltaJobs(ctx, repo, 0, 100)).must(t)
}

func testDeltaJobsQueuedByFlatpakMoves(t *testing.T, s metadata.Store) {
	v0 := flatpak(t, s, "app", "v0")
	must(t, s.PutManifest(ctx, "app", v0, []string{"latest"}))
	if j := jobs(t, s, ""); len(j) != 0 {
		t.Fatalf("deltas off, yet jobs were queued: %+v", j)
	}
	deltasOn(t, s, time.Hour)
	must(t, s.PutManifest(ctx, "plain", image(t, s, "plain", "p"), []string{"latest"}))
	if j := jobs(t, s, ""); len(j) != 0 {
		t.Fatalf("an image without a Flatpak ref queued a job: %+v", j)
	}
	v1, v2 := flatpak(t, s, "app", "v1"), flatpak(t, s, "app", "v2")
	must(t, s.PutManifest(ctx, "app", v1, []string{"latest"}))
	j := jobs(t, s, "app")
	if len(j) != 1 || j[0].Tag != "latest" || j[0].Target != v1.Digest || j[0].State != metadata.DeltaQueued {
		t.Fatalf("after a move to a Flatpak: %+v", j)
	}
	must(t, s.PutManifest(ctx, "app", v2, []string{"latest"}))
	j2 := jobs(t, s, "app")
	if len(j2) != 1 || j2[0].ID != j[0].ID || j2[0].Target != v2.Digest || j2[0].Version != j[0].Version+1 {
		t.Fatalf("a second move is not coalesced into the waiting job: %+v then %+v", j, j2)
	}
	must(t, s.PutManifest(ctx, "app", v2, []string{"latest"}))
	if j3 := jobs(t, s, "app"); j3[0].Version != j2[0].Version {
		t.Fatalf("pushing the tag again at the same digest queued again: %+v", j3)
	}
	// A list whose image is a Flatpak queues a job for the list's tag.
	list := &metadata.Manifest{Digest: dg("list"), MediaType: "application/vnd.oci.image.index.v1+json", Payload: []byte("{}"),
		CreatedAt: v1.CreatedAt, Children: []digest.Digest{v1.Digest}}
	must(t, s.PutManifest(ctx, "app", list, []string{"multi"}))
	if j := jobs(t, s, "app"); len(j) != 2 || j[1].Tag != "multi" || j[1].Target != list.Digest {
		t.Fatalf("a list of Flatpaks queued %+v", j)
	}
}

// The pull-through cache's tag moves queue no delta job: a cached repository serves its
// upstream's images and the upstream's own _deltaindex.
func testCachedFlatpakMovesQueueNoDeltaJob(t *testing.T, s metadata.Store) {
	deltasOn(t, s, time.Hour)
	for _, name := range []string{"c1", "c2"} {
		m := cachedImage(name)
		m.Labels = map[string]string{metadata.FlatpakRefLabel: "app/org.example.App/x86_64/stable"}
		must(t, s.PutCachedManifest(ctx, "hub/app", "hub", m, "latest", time.Now()))
	}
	if j := jobs(t, s, ""); len(j) != 0 {
		t.Fatalf("moves of a cached Flatpak tag queued jobs: %+v", j)
	}
}

func testDeltaJobLeases(t *testing.T, s metadata.Store) {
	deltasOn(t, s, time.Hour)
	must(t, s.PutManifest(ctx, "app", flatpak(t, s, "app", "v1"), []string{"latest"}))
	j := checked(s.ClaimDeltaJob(ctx, "a", time.Hour)).must(t)
	if j.Owner != "a" || j.Attempts != 1 || !j.LeaseUntil.After(time.Now()) {
		t.Fatalf("claimed %+v", j)
	}
	if _, err := s.ClaimDeltaJob(ctx, "b", time.Hour); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("a leased job was claimed again: %v", err)
	}
	must(t, s.RenewDeltaJob(ctx, j, time.Hour))
	other := j
	other.Owner = "b"
	if err := s.RenewDeltaJob(ctx, other, time.Hour); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("renewed by a stranger: %v", err)
	}
	// Retried later: not due now.
	must(t, s.FinishDeltaJob(ctx, j, metadata.DeltaOutcome{Error: "blob store down", RetryAt: time.Now().Add(time.Hour)}))
	if _, err := s.ClaimDeltaJob(ctx, "a", time.Hour); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("a job waiting to be retried was claimed: %v", err)
	}
	if got := jobs(t, s, "app")[0]; got.State != metadata.DeltaQueued || got.LastError != "blob store down" || got.Owner != "" {
		t.Fatalf("after a failed attempt: %+v", got)
	}
	// A move queues it again at once.
	must(t, s.PutManifest(ctx, "app", flatpak(t, s, "app", "v2"), []string{"latest"}))
	j = checked(s.ClaimDeltaJob(ctx, "a", time.Hour)).must(t)
	if j.Attempts != 1 {
		t.Fatalf("a new move did not start the attempts again: %+v", j)
	}
	// Moved while running: done for the old version, still queued for the new one.
	must(t, s.PutManifest(ctx, "app", flatpak(t, s, "app", "v3"), []string{"latest"}))
	must(t, s.FinishDeltaJob(ctx, j, metadata.DeltaOutcome{}))
	j = checked(s.ClaimDeltaJob(ctx, "a", time.Hour)).must(t)
	must(t, s.FinishDeltaJob(ctx, j, metadata.DeltaOutcome{}))
	if got := jobs(t, s, "app")[0]; got.State != metadata.DeltaDone || got.FinishedAt.IsZero() {
		t.Fatalf("after finishing: %+v", got)
	}
	if _, err := s.ClaimDeltaJob(ctx, "a", time.Hour); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("a done job was claimed: %v", err)
	}
	if err := s.FinishDeltaJob(ctx, j, metadata.DeltaOutcome{}); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("finished twice: %v", err)
	}
	// Failed for good.
	must(t, s.PutManifest(ctx, "app", flatpak(t, s, "app", "v4"), []string{"latest"}))
	j = checked(s.ClaimDeltaJob(ctx, "a", time.Hour)).must(t)
	must(t, s.FinishDeltaJob(ctx, j, metadata.DeltaOutcome{Error: "layer beyond the bound"}))
	if got := jobs(t, s, "app")[0]; got.State != metadata.DeltaFailed || got.LastError != "layer beyond the bound" {
		t.Fatalf("after failing: %+v", got)
	}
}

// A worker that crashed leaves a lease that runs out; the job is claimed again and the
// crashed owner can no longer finish it.
func testDeltaJobLeaseRunsOut(t *testing.T, s metadata.Store) {
	deltasOn(t, s, time.Hour)
	must(t, s.PutManifest(ctx, "app", flatpak(t, s, "app", "v1"), []string{"latest"}))
	crashed := checked(s.ClaimDeltaJob(ctx, "crashed", time.Millisecond)).must(t)
	time.Sleep(5 * time.Millisecond)
	again := checked(s.ClaimDeltaJob(ctx, "next", time.Hour)).must(t)
	if again.ID != crashed.ID || again.Attempts != 2 {
		t.Fatalf("claimed %+v after the lease of %+v ran out", again, crashed)
	}
	if err := s.FinishDeltaJob(ctx, crashed, metadata.DeltaOutcome{}); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("the owner whose lease ran out finished the job: %v", err)
	}
	must(t, s.FinishDeltaJob(ctx, again, metadata.DeltaOutcome{}))
}

// Workers claiming at once take every job exactly once.
func testConcurrentDeltaClaims(t *testing.T, s metadata.Store) {
	deltasOn(t, s, time.Hour)
	const n = 20
	for i := range n {
		must(t, s.PutManifest(ctx, "app", flatpak(t, s, "app", fmt.Sprint("v", i)), []string{fmt.Sprint("t", i)}))
	}
	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j, err := s.ClaimDeltaJob(ctx, fmt.Sprint("w", w), time.Hour)
				if errors.Is(err, metadata.ErrNotFound) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				claimed[j.ID]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	if len(claimed) != n {
		t.Fatalf("%d of %d jobs claimed", len(claimed), n)
	}
	for id, c := range claimed {
		if c != 1 {
			t.Fatalf("job %d claimed %d times", id, c)
		}
	}
}

// published records, for target, deltas from each source and a delta manifest (stored
// as a manifest of repo).
func published(t *testing.T, s metadata.Store, repo string, target *metadata.Manifest, left time.Time, sources ...*metadata.Manifest) *metadata.Manifest {
	t.Helper()
	dm := image(t, s, repo, "delta-manifest-of-"+string(target.Digest))
	must(t, s.PutManifest(ctx, repo, dm, nil))
	var layers []metadata.LayerDelta
	for i, src := range sources {
		layers = append(layers, metadata.LayerDelta{Source: src.Digest, SourceLeft: left, Layer: 0, From: dg(fmt.Sprint("from", i)),
			To: dg("to"), Blob: dg(fmt.Sprint("blob", i)), Size: 10, LayerSize: 100, MakeTime: time.Second, VerifyTime: time.Millisecond})
	}
	must(t, s.RecordDeltas(ctx, repo, target.Digest, layers, &metadata.DeltaManifest{Manifest: dm.Digest, Size: int64(len(dm.Payload))}))
	return dm
}

func testRecordDeltasAndTheirIndex(t *testing.T, s metadata.Store) {
	v1, v2 := flatpak(t, s, "app", "v1"), flatpak(t, s, "app", "v2")
	must(t, s.PutManifest(ctx, "app", v1, nil))
	must(t, s.PutManifest(ctx, "app", v2, []string{"latest"}))
	gen := checked(s.Generation(ctx)).must(t)
	dm := published(t, s, "app", v2, time.Now(), v1)
	if g := checked(s.Generation(ctx)).must(t); g == gen {
		t.Error("recording deltas did not move the generation (the index's DeltaUrl would be stale)")
	}
	idx := checked(s.DeltaIndex(ctx, "app")).must(t)
	if len(idx) != 1 || idx[0].Target != v2.Digest || idx[0].Manifest != dm.Digest || idx[0].Size != int64(len(dm.Payload)) {
		t.Fatalf("delta index: %+v", idx)
	}
	ls := checked(s.LayerDeltas(ctx, "app", v2.Digest)).must(t)
	if len(ls) != 1 || ls[0].Source != v1.Digest || ls[0].Blob != dg("blob0") || ls[0].MakeTime != time.Second || ls[0].Repository != "app" {
		t.Fatalf("layer deltas: %+v", ls)
	}
	found := checked(s.DeltaManifests(ctx, []metadata.ManifestRef{{Repository: "app", Digest: v2.Digest}, {Repository: "app", Digest: v1.Digest},
		{Repository: "other", Digest: v2.Digest}})).must(t)
	if len(found) != 1 || found[metadata.ManifestRef{Repository: "app", Digest: v2.Digest}] != dm.Digest {
		t.Fatalf("delta manifests: %v", found)
	}
	// Recording again replaces: a "not worth it" record and no manifest.
	must(t, s.RecordDeltas(ctx, "app", v2.Digest, []metadata.LayerDelta{{Source: v1.Digest, To: dg("to"), Size: 99, LayerSize: 100}}, nil))
	if ls := checked(s.LayerDeltas(ctx, "app", v2.Digest)).must(t); len(ls) != 1 || ls[0].Blob != "" {
		t.Fatalf("after recording again: %+v", ls)
	}
	if idx := checked(s.DeltaIndex(ctx, "app")).must(t); len(idx) != 0 {
		t.Fatalf("a target without a delta manifest is in the index: %+v", idx)
	}
	// Only targets a tag holds are listed, directly or in a list.
	published(t, s, "app", v2, time.Now(), v1)
	must(t, s.DeleteTag(ctx, "app", "latest"))
	if idx := checked(s.DeltaIndex(ctx, "app")).must(t); len(idx) != 0 {
		t.Fatalf("an untagged target is in the index: %+v", idx)
	}
	list := &metadata.Manifest{Digest: dg("list"), MediaType: "application/vnd.oci.image.index.v1+json", Payload: []byte("{}"),
		CreatedAt: v1.CreatedAt, Children: []digest.Digest{v2.Digest}}
	must(t, s.PutManifest(ctx, "app", list, []string{"latest"}))
	if idx := checked(s.DeltaIndex(ctx, "app")).must(t); len(idx) != 1 || idx[0].Target != v2.Digest {
		t.Fatalf("a target in a tagged list is not in the index: %+v", idx)
	}
}

func testListDeltasPages(t *testing.T, s metadata.Store) {
	var want []string
	for _, repo := range []string{"b", "a"} {
		for i := range 3 {
			target := flatpak(t, s, repo, fmt.Sprint("t", i))
			src := flatpak(t, s, repo, fmt.Sprint("s", i))
			must(t, s.PutManifest(ctx, repo, target, []string{fmt.Sprint("v", i)}))
			must(t, s.PutManifest(ctx, repo, src, nil))
			published(t, s, repo, target, time.Now(), src)
			want = append(want, repo+"@"+target.Digest.String())
		}
	}
	slices.Sort(want)
	var got []string
	var after metadata.DeltaCursor
	for {
		page := checked(s.ListDeltas(ctx, "", after, 2)).must(t)
		if len(page) == 0 {
			break
		}
		for _, l := range page {
			got = append(got, l.Repository+"@"+l.Target.String())
		}
		last := page[len(page)-1]
		after = metadata.DeltaCursor{Repository: last.Repository, Target: last.Target, Source: last.Source, To: last.To}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged deltas: %v, want %v", got, want)
	}
	if only := checked(s.ListDeltas(ctx, "a", metadata.DeltaCursor{}, 10)).must(t); len(only) != 3 || only[0].Repository != "a" {
		t.Fatalf("deltas of a: %+v", only)
	}
}

func testExpireDeltas(t *testing.T, s metadata.Store) {
	deltasOn(t, s, time.Hour)
	v1, v2, v3 := flatpak(t, s, "app", "v1"), flatpak(t, s, "app", "v2"), flatpak(t, s, "app", "v3")
	must(t, s.PutManifest(ctx, "app", v1, []string{"latest"}))
	must(t, s.PutManifest(ctx, "app", v2, []string{"latest"}))
	must(t, s.PutManifest(ctx, "app", v3, []string{"latest"}))
	j := checked(s.ClaimDeltaJob(ctx, "w", time.Hour)).must(t)
	must(t, s.FinishDeltaJob(ctx, j, metadata.DeltaOutcome{}))
	dm := published(t, s, "app", v3, time.Now(), v1, v2)
	if ex := checked(s.ExpireDeltas(ctx, time.Now().Add(-time.Minute))).must(t); len(ex.Manifests)+len(ex.Repositories) != 0 {
		t.Fatalf("nothing is stale, yet: %+v", ex)
	}
	// A source gone: its delta goes; the other stays, and the tag's job runs again to
	// write the delta manifest without it.
	must(t, s.DeleteManifest(ctx, "app", v1.Digest))
	ex := checked(s.ExpireDeltas(ctx, time.Now().Add(-time.Minute))).must(t)
	if len(ex.Manifests) != 0 {
		t.Fatalf("a delta manifest that keeps a delta was dropped: %+v", ex)
	}
	if ls := checked(s.LayerDeltas(ctx, "app", v3.Digest)).must(t); len(ls) != 1 || ls[0].Source != v2.Digest {
		t.Fatalf("after the source v1 went: %+v", ls)
	}
	if got := jobs(t, s, "app")[0]; got.State != metadata.DeltaQueued {
		t.Fatalf("the tag's job was not queued again: %+v", got)
	}
	// The last source out of the window: the delta manifest goes.
	ex = checked(s.ExpireDeltas(ctx, time.Now().Add(time.Minute))).must(t)
	if len(ex.Manifests) != 1 || ex.Manifests[0] != (metadata.ManifestRef{Repository: "app", Digest: dm.Digest}) || !slices.Equal(ex.Repositories, []string{"app"}) {
		t.Fatalf("after the window: %+v", ex)
	}
	if ls := checked(s.LayerDeltas(ctx, "app", v3.Digest)).must(t); len(ls) != 0 {
		t.Fatalf("deltas left: %+v", ls)
	}
	if found := checked(s.DeltaManifests(ctx, []metadata.ManifestRef{{Repository: "app", Digest: v3.Digest}})).must(t); len(found) != 0 {
		t.Fatalf("expired delta manifest still found: %v", found)
	}
}

// Garbage collection and retention keep the Flatpak images a tag left within the
// window: the sources of deltas. Other untagged manifests go as before.
func testCollectorKeepsDeltaSources(t *testing.T, s metadata.Store) {
	v1, v2 := flatpak(t, s, "app", "v1"), flatpak(t, s, "app", "v2")
	plain1, plain2 := image(t, s, "app", "p1"), image(t, s, "app", "p2")
	must(t, s.PutManifest(ctx, "app", v1, []string{"latest"}))
	must(t, s.PutManifest(ctx, "app", v2, []string{"latest"}))
	must(t, s.PutManifest(ctx, "app", plain1, []string{"plain"}))
	must(t, s.PutManifest(ctx, "app", plain2, []string{"plain"}))
	candidates := func() []digest.Digest {
		var out []digest.Digest
		for _, m := range checked(s.UntaggedManifests(ctx, future, 100)).must(t) {
			out = append(out, m.Digest)
		}
		slices.Sort(out)
		return out
	}
	both := []digest.Digest{v1.Digest, plain1.Digest}
	slices.Sort(both)
	if got := candidates(); !slices.Equal(got, both) {
		t.Fatalf("deltas off: candidates %v, want %v", got, both)
	}
	deltasOn(t, s, time.Hour)
	if got := candidates(); !slices.Equal(got, []digest.Digest{plain1.Digest}) {
		t.Fatalf("deltas on: candidates %v, want only the image that is no Flatpak", got)
	}
	if ok := checked(s.DeleteUntaggedManifest(ctx, metadata.ManifestRef{Repository: "app", Digest: v1.Digest}, future)).must(t); ok {
		t.Fatal("a delta source inside the window was deleted")
	}
	// Retention's untagged manifests keep them too.
	var expired []digest.Digest
	for _, m := range checked(s.ExpiredManifests(ctx, "app", future, "", 100)).must(t) {
		expired = append(expired, m.Digest)
	}
	if !slices.Equal(expired, []digest.Digest{plain1.Digest}) {
		t.Fatalf("deltas on: retention's expired manifests %v, want only the image that is no Flatpak", expired)
	}
	if ok := checked(s.DeleteExpiredManifest(ctx, metadata.ManifestRef{Repository: "app", Digest: v1.Digest}, future)).must(t); ok {
		t.Fatal("retention deleted a delta source inside the window")
	}
	// Outside the window it goes.
	s.(metadata.DeltaPolicySetter).SetDeltaPolicy(metadata.DeltaPolicy{Enabled: true, Window: time.Nanosecond})
	time.Sleep(time.Millisecond)
	if ok := checked(s.DeleteUntaggedManifest(ctx, metadata.ManifestRef{Repository: "app", Digest: v1.Digest}, future)).must(t); !ok {
		t.Fatal("a source outside the window was kept")
	}
}
