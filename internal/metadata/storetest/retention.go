package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

func testPullsKeepTheLatest(t *testing.T, s metadata.Store) {
	m := image(t, s, "p", "m")
	must(t, s.PutManifest(ctx, "p", m, []string{"v1", "v2"}))
	t0 := time.Unix(1_800_000_000, 0)
	at := func(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }
	must(t, s.RecordPulls(ctx, []metadata.Pull{
		{Repository: "p", Reference: "v1", At: at(10)},
		{Repository: "p", Reference: "v1", At: at(5)}, // older, same batch
		{Repository: "p", Reference: m.Digest.String(), At: at(20)},
		{Repository: "no/such/repo", Reference: "v1", At: at(30)},
	}))
	// A replica flushing later with older pulls moves nothing back.
	must(t, s.RecordPulls(ctx, []metadata.Pull{{Repository: "p", Reference: "v1", At: at(7)}}))
	for ref, want := range map[string]time.Time{"v1": at(10), m.Digest.String(): at(20), "v2": {}} {
		got := checked(s.LastPulled(ctx, "p", ref)).must(t)
		if !got.Equal(want) {
			t.Errorf("LastPulled(%s) = %v, want %v", ref, got, want)
		}
	}
	if got := checked(s.LastPulled(ctx, "no/such/repo", "v1")).must(t); !got.IsZero() {
		t.Errorf("a pull of an unknown repository was recorded at %v", got)
	}
	// A tag counts as pulled when its manifest was pulled by digest.
	must(t, s.RecordPulls(ctx, []metadata.Pull{{Repository: "p", Reference: "v1", At: at(40)}}))
	uses := checked(s.RetentionTags(ctx, "p", "", 10)).must(t)
	if len(uses) != 2 || !uses[0].PulledAt.Equal(at(40)) || !uses[1].PulledAt.Equal(at(20)) {
		t.Fatalf("RetentionTags = %+v, want v1 pulled at +40s and v2 (by digest) at +20s", uses)
	}
}

func testRetentionTagsPage(t *testing.T, s metadata.Store) {
	start := time.Now()
	a, b := image(t, s, "r", "a"), image(t, s, "r", "b")
	must(t, s.PutManifest(ctx, "r", a, []string{"t3", "t1"}))
	must(t, s.PutManifest(ctx, "r", b, []string{"t2"}))
	var all []metadata.TagUse
	after := ""
	for {
		page := checked(s.RetentionTags(ctx, "r", after, 2)).must(t)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		after = page[len(page)-1].Tag
	}
	want := []struct {
		tag string
		d   digest.Digest
	}{{"t1", a.Digest}, {"t2", b.Digest}, {"t3", a.Digest}}
	if len(all) != len(want) {
		t.Fatalf("RetentionTags walked %+v", all)
	}
	for i, w := range want {
		u := all[i]
		if u.Tag != w.tag || u.Digest != w.d || u.PushedAt.Before(start.Add(-time.Second)) || u.PushedAt.After(time.Now()) || !u.PulledAt.IsZero() {
			t.Errorf("tag %d = %+v, want %s at %s pushed during the test, never pulled", i, u, w.tag, w.d)
		}
	}
	if none := checked(s.RetentionTags(ctx, "no/such/repo", "", 10)).must(t); len(none) != 0 {
		t.Fatalf("RetentionTags of an unknown repository = %v", none)
	}
}

// testExpireTagOnlyAsJudged removes a tag only while it is what retention judged.
func testExpireTagOnlyAsJudged(t *testing.T, s metadata.Store) {
	s.UseImmutableRules(prefixRules{"v"})
	a, b := image(t, s, "r", "a"), image(t, s, "r", "b")
	must(t, s.PutManifest(ctx, "r", a, []string{"moved", "repushed", "pulled", "same", "v1"}))
	judged := map[string]metadata.TagUse{}
	for _, u := range checked(s.RetentionTags(ctx, "r", "", 10)).must(t) {
		judged[u.Tag] = u
	}
	time.Sleep(time.Millisecond) // a re-push gets a later push time
	must(t, s.PutManifest(ctx, "r", b, []string{"moved"}))
	must(t, s.PutManifest(ctx, "r", a, []string{"repushed"}))
	must(t, s.RecordPulls(ctx, []metadata.Pull{{Repository: "r", Reference: "pulled", At: time.Now()}}))
	for _, tag := range []string{"moved", "repushed", "pulled"} {
		if ok := checked(s.ExpireTag(ctx, "r", judged[tag])).must(t); ok {
			t.Errorf("ExpireTag removed %s, which changed after it was judged", tag)
		}
		if _, err := s.ResolveTag(ctx, "r", tag); err != nil {
			t.Errorf("%s after a refused expiry: %v", tag, err)
		}
	}
	var ie *metadata.ImmutableError
	if _, err := s.ExpireTag(metadata.WithImmutableOverride(ctx), "r", judged["v1"]); !errors.As(err, &ie) {
		t.Errorf("ExpireTag of an immutable tag, even with an override: %v", err)
	}
	retention := metadata.WithActor(ctx, "retention")
	if ok := checked(s.ExpireTag(retention, "r", judged["same"])).must(t); !ok {
		t.Fatal("ExpireTag kept an unchanged tag")
	}
	if _, err := s.ResolveTag(ctx, "r", "same"); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("expired tag still resolves: %v", err)
	}
	hist := checked(s.TagHistory(ctx, "r", "same", 0, 10)).must(t)
	if len(hist) != 2 || hist[0].New != "" || hist[0].Actor.Name != "retention" {
		t.Fatalf("history of the expired tag = %v, want its removal by retention", moves(hist))
	}
	if ok := checked(s.ExpireTag(retention, "r", judged["same"])).must(t); ok {
		t.Fatal("ExpireTag removed a tag twice")
	}
	// Its manifest stays pullable by digest.
	if _, err := s.Manifest(ctx, "r", a.Digest); err != nil {
		t.Fatalf("manifest of the expired tag: %v", err)
	}
}

func testExpiredManifestsByUntaggedTime(t *testing.T, s metadata.Store) {
	pushedByDigest, untagged, tagged := image(t, s, "r", "by-digest"), image(t, s, "r", "untagged"), image(t, s, "r", "tagged")
	child := image(t, s, "r", "child")
	must(t, s.PutManifest(ctx, "r", pushedByDigest, nil))
	must(t, s.PutManifest(ctx, "r", untagged, []string{"gone"}))
	must(t, s.PutManifest(ctx, "r", tagged, []string{"here"}))
	must(t, s.PutManifest(ctx, "r", child, nil))
	index := &metadata.Manifest{Digest: dg("index"), MediaType: "application/vnd.oci.image.index.v1+json", Payload: []byte("{}"),
		Children: []digest.Digest{child.Digest}, CreatedAt: time.Now()}
	must(t, s.PutManifest(ctx, "r", index, []string{"idx"}))
	beforeUntag := time.Now()
	time.Sleep(time.Millisecond)
	must(t, s.DeleteTag(ctx, "r", "gone"))
	afterUntag := time.Now().Add(time.Millisecond)

	digests := func(us []metadata.UntaggedManifest) map[digest.Digest]time.Time {
		out := map[digest.Digest]time.Time{}
		for _, u := range us {
			out[u.Digest] = u.Since
		}
		return out
	}
	// Untagged since before a cut that precedes the untag: only the one never tagged.
	early := digests(checked(s.ExpiredManifests(ctx, "r", beforeUntag, "", 10)).must(t))
	if len(early) != 1 || !early[pushedByDigest.Digest].Equal(pushedByDigest.CreatedAt) {
		t.Fatalf("expired before the untag = %v, want %s since its push", early, pushedByDigest.Digest)
	}
	late := checked(s.ExpiredManifests(ctx, "r", afterUntag, "", 10)).must(t)
	got := digests(late)
	if len(got) != 2 || got[untagged.Digest].Before(beforeUntag) || got[untagged.Digest].After(afterUntag) {
		t.Fatalf("expired after the untag = %v, want %s (untagged during the test) and %s", got, untagged.Digest, pushedByDigest.Digest)
	}
	// Pages by digest.
	first := checked(s.ExpiredManifests(ctx, "r", afterUntag, "", 1)).must(t)
	rest := checked(s.ExpiredManifests(ctx, "r", afterUntag, first[0].Digest, 10)).must(t)
	if len(first) != 1 || len(rest) != 1 || rest[0].Digest <= first[0].Digest {
		t.Fatalf("pages %v then %v", first, rest)
	}
	if none := checked(s.ExpiredManifests(ctx, "other", afterUntag, "", 10)).must(t); len(none) != 0 {
		t.Fatalf("another repository's expired manifests: %v", none)
	}

	// Deleting checks again: one tagged since it was listed stays.
	must(t, s.PutManifest(ctx, "r", untagged, []string{"back"}))
	if ok := checked(s.DeleteExpiredManifest(ctx, metadata.ManifestRef{Repository: "r", Digest: untagged.Digest}, afterUntag)).must(t); ok {
		t.Fatal("deleted a manifest tagged again since it was listed")
	}
	if ok := checked(s.DeleteExpiredManifest(ctx, metadata.ManifestRef{Repository: "r", Digest: pushedByDigest.Digest}, beforeUntag)).must(t); !ok {
		t.Fatal("kept an expired manifest")
	}
	if _, err := s.Manifest(ctx, "r", pushedByDigest.Digest); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("expired manifest still there: %v", err)
	}
	for _, m := range []*metadata.Manifest{untagged, tagged, child, index} {
		if _, err := s.Manifest(ctx, "r", m.Digest); err != nil {
			t.Fatalf("manifest %s: %v", m.Digest, err)
		}
	}
}

// testRetentionRacingPushesDeletesNothingReferenced runs a retention pass — every tag
// judged old is expired, every manifest untagged since the cut deleted — while pushes
// re-push those tags and tag those manifests again. Whatever the interleaving, every tag
// a push set resolves to a stored manifest at the end.
func testRetentionRacingPushesDeletesNothingReferenced(t *testing.T, s metadata.Store) {
	const n = 12
	var tagged, untagged []*metadata.Manifest
	for i := range n {
		m := image(t, s, "race", fmt.Sprint("tagged", i))
		must(t, s.PutManifest(ctx, "race", m, []string{fmt.Sprint("t", i)}))
		tagged = append(tagged, m)
		u := image(t, s, "race", fmt.Sprint("untagged", i))
		must(t, s.PutManifest(ctx, "race", u, []string{"tmp"}))
		untagged = append(untagged, u)
	}
	must(t, s.DeleteTag(ctx, "race", "tmp"))
	cut := time.Now().Add(time.Millisecond)
	time.Sleep(2 * time.Millisecond)
	judged := checked(s.RetentionTags(ctx, "race", "", 10*n)).must(t)
	expired := checked(s.ExpiredManifests(ctx, "race", cut, "", 10*n)).must(t)
	if len(judged) != n || len(expired) != n {
		t.Fatalf("judged %d tags and %d expired manifests, want %d of each", len(judged), len(expired), n)
	}

	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	retention := metadata.WithActor(ctx, "retention")
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range n {
			if _, err := s.ExpireTag(retention, "race", judged[i]); err != nil {
				errs <- err
			}
			if _, err := s.DeleteExpiredManifest(retention, metadata.ManifestRef{Repository: "race", Digest: expired[i].Digest}, cut); err != nil {
				errs <- err
			}
		}
	}()
	go func() {
		defer wg.Done()
		for i := range n {
			// Reverse order, so that some pushes land before retention reaches them and
			// some after.
			j := n - 1 - i
			errs <- s.PutManifest(ctx, "race", tagged[j], []string{fmt.Sprint("t", j)})
			errs <- s.PutManifest(ctx, "race", untagged[j], []string{fmt.Sprint("again", j)})
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	for i := range n {
		for tag, m := range map[string]*metadata.Manifest{fmt.Sprint("t", i): tagged[i], fmt.Sprint("again", i): untagged[i]} {
			d, err := s.ResolveTag(ctx, "race", tag)
			if err != nil || d != m.Digest {
				t.Fatalf("tag %s pushed during the pass: %s, %v", tag, d, err)
			}
			if _, err := s.Manifest(ctx, "race", d); err != nil {
				t.Fatalf("manifest of %s: %v", tag, err)
			}
		}
	}
}

func testLeasesOneHolderAtATime(t *testing.T, s metadata.Store) {
	now := time.Unix(1_800_000_000, 0)
	lease := func(holder string, at time.Time) bool {
		t.Helper()
		return checked(s.AcquireLease(ctx, "job", holder, at, time.Minute)).must(t)
	}
	if !lease("a", now) {
		t.Fatal("a free lease was refused")
	}
	if lease("b", now.Add(30*time.Second)) {
		t.Fatal("b took a's lease before it expired")
	}
	if !lease("a", now.Add(50*time.Second)) {
		t.Fatal("a could not renew its lease")
	}
	if lease("b", now.Add(100*time.Second)) {
		t.Fatal("b took a's renewed lease before it expired")
	}
	if !lease("b", now.Add(111*time.Second)) {
		t.Fatal("b could not take an expired lease")
	}
	if lease("a", now.Add(112*time.Second)) {
		t.Fatal("a took its lease back from b")
	}
	if !checked(s.AcquireLease(ctx, "other-job", "a", now, time.Minute)).must(t) {
		t.Fatal("a lease of another name was refused")
	}
	must(t, s.ReleaseLease(ctx, "job", "a")) // not a's: nothing happens
	if lease("a", now.Add(113*time.Second)) {
		t.Fatal("a non-holder's release freed the lease")
	}
	must(t, s.ReleaseLease(ctx, "job", "b"))
	if !lease("a", now.Add(114*time.Second)) {
		t.Fatal("a released lease was refused")
	}

	// Many at once for a free lease: exactly one.
	var wg sync.WaitGroup
	won := make(chan string, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			holder := fmt.Sprint("r", i)
			if ok, err := s.AcquireLease(ctx, "contended", holder, now, time.Minute); err != nil {
				t.Error(err)
			} else if ok {
				won <- holder
			}
		}()
	}
	wg.Wait()
	close(won)
	if len(won) != 1 {
		t.Fatalf("%d holders took one lease at once", len(won))
	}
}
