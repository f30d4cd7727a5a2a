package deltas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blobstore/fs"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/postgres"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/tardiff"
	"github.com/berth-registry/berth/internal/testenv"
)

const appRef = "app/org.example.App/x86_64/stable"

// update changes about pct percent of the tree's files (a few bytes in each, as a
// rebuild does), renames one and adds one.
func update(r *rand.Rand, f files, pct int) files {
	next := f.clone()
	i := 0
	for name, b := range f {
		switch {
		case i == 0:
			delete(next, name)
			next["files/renamed/"+filepath.Base(name)] = b
		case r.IntN(100) < pct:
			c := bytes.Clone(b)
			for k := 0; k < 8; k++ {
				c[r.IntN(len(c))] ^= 0x55
			}
			next[name] = c
		}
		i++
	}
	next["files/share/new.txt"] = body(r, 3000)
	return next
}

// installed writes the tree as a client has it installed: the layer's paths under dir.
func installed(t *testing.T, f files) string {
	dir := t.TempDir()
	for name, b := range f {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// applyToTree applies a delta to a tree as the client does and returns the rebuilt tar.
func applyToTree(t *testing.T, delta []byte, dir string) []byte {
	t.Helper()
	src, err := tardiff.NewDirSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out bytes.Buffer
	if err := tardiff.Apply(context.Background(), bytes.NewReader(delta), src, &out, tardiff.ApplyLimits{}); err != nil {
		t.Fatalf("apply the published delta to the installed tree: %v", err)
	}
	return out.Bytes()
}

func TestJobPublishesDeltasClientsCanApply(t *testing.T) {
	e := newEnv(t, Options{})
	r := rand.New(rand.NewPCG(1, 1))
	v1 := appTree(r, 60)
	p1 := e.push("app", "latest", appRef, "amd64", v1)
	e.runAll() // v1 has no history: nothing to make
	if _, err := e.svc.Manifest(ctx, "app", registry.Reference{Tag: IndexTag}); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Fatalf("a first version has a _deltaindex: %v", err)
	}
	v2 := update(r, v1, 2)
	p2 := e.push("app", "latest", appRef, "amd64", v2)
	e.runAll()

	if j := e.job("app", "latest"); j.State != metadata.DeltaDone || j.LastError != "" {
		t.Fatalf("job: %+v", j)
	}
	idx := e.parsed("app", registry.Reference{Tag: IndexTag})
	if idx.MediaType != oci.MediaTypeImageIndex || len(idx.Manifests) != 1 || idx.Manifests[0].Annotations[TargetAnnotation] != p2.digest.String() {
		t.Fatalf("_deltaindex: %+v", idx)
	}
	dm := e.parsed("app", registry.Reference{Digest: idx.Manifests[0].Digest})
	if dm.Config.MediaType != ConfigMediaType || dm.Config.Size != 2 || dm.Annotations[TargetAnnotation] != p2.digest.String() || len(dm.Layers) != 1 {
		t.Fatalf("delta manifest: %+v", dm)
	}
	if string(e.read(dm.Config.Digest)) != "{}" {
		t.Fatal("the delta config is not {}")
	}
	l := dm.Layers[0]
	if l.MediaType != tardiff.MediaType || l.Annotations[FromAnnotation] != p1.diffIDs[0].String() || l.Annotations[ToAnnotation] != p2.diffIDs[0].String() || len(l.URLs) != 0 {
		t.Fatalf("delta layer: %+v", l)
	}
	delta := e.read(l.Digest)
	rebuilt := applyToTree(t, delta, installed(t, v1))
	if digest.FromBytes(rebuilt) != p2.diffIDs[0] {
		t.Fatal("the delta applied to v1's tree does not rebuild v2's layer")
	}
	full := e.parsed("app", registry.Reference{Digest: p2.digest}).Layers[0].Size
	if int64(len(delta)) > full/20 {
		t.Errorf("delta of %d bytes for a 2%% update of a %d-byte layer", len(delta), full)
	}
	if e.w.Totals.Published.Load() != 1 || e.w.Totals.BytesSaved.Load() != full-int64(len(delta)) {
		t.Errorf("totals: published %d, saved %d", e.w.Totals.Published.Load(), e.w.Totals.BytesSaved.Load())
	}

	// The next version gets deltas from both earlier ones, the newest first; the
	// delta manifest of v2 leaves _deltaindex with v2.
	p3 := e.push("app", "latest", appRef, "amd64", update(r, v2, 2))
	e.runAll()
	idx = e.parsed("app", registry.Reference{Tag: IndexTag})
	if len(idx.Manifests) != 1 || idx.Manifests[0].Annotations[TargetAnnotation] != p3.digest.String() {
		t.Fatalf("_deltaindex after v3: %+v", idx)
	}
	dm = e.parsed("app", registry.Reference{Digest: idx.Manifests[0].Digest})
	if len(dm.Layers) != 2 || dm.Layers[0].Annotations[FromAnnotation] != p2.diffIDs[0].String() || dm.Layers[1].Annotations[FromAnnotation] != p1.diffIDs[0].String() {
		t.Fatalf("delta manifest of v3: %+v", dm.Layers)
	}
}

func TestDeltasFromAtMostSourcesWithinTheWindow(t *testing.T) {
	e := newEnv(t, Options{Sources: 2})
	r := rand.New(rand.NewPCG(2, 2))
	tree := appTree(r, 10)
	var versions []pushed
	for range 4 {
		versions = append(versions, e.push("app", "latest", appRef, "amd64", tree))
		tree = update(r, tree, 10)
	}
	e.runAll()
	dm := e.parsed("app", registry.Reference{Digest: e.deltaManifestOf("app", versions[3].digest)})
	var froms []string
	for _, l := range dm.Layers {
		froms = append(froms, l.Annotations[FromAnnotation])
	}
	want := []string{versions[2].diffIDs[0].String(), versions[1].diffIDs[0].String()}
	if strings.Join(froms, " ") != strings.Join(want, " ") {
		t.Fatalf("deltas from %v, want the two newest sources %v", froms, want)
	}

	// A source that left the tag before the window gives nothing.
	e2 := newEnv(t, Options{Window: time.Nanosecond})
	e2.push("app", "latest", appRef, "amd64", appTree(r, 5))
	time.Sleep(time.Millisecond)
	e2.push("app", "latest", appRef, "amd64", appTree(r, 5))
	e2.runAll()
	if _, err := e2.svc.Manifest(ctx, "app", registry.Reference{Tag: IndexTag}); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Fatalf("a source outside the window gave deltas: %v", err)
	}
}

// deltaManifestOf is the delta manifest _deltaindex lists for target.
func (e *env) deltaManifestOf(repo string, target digest.Digest) digest.Digest {
	e.t.Helper()
	idx := e.parsed(repo, registry.Reference{Tag: IndexTag})
	for _, m := range idx.Manifests {
		if m.Annotations[TargetAnnotation] == target.String() {
			return m.Digest
		}
	}
	e.t.Fatalf("no delta manifest for %s in %+v", target, idx.Manifests)
	return ""
}

func TestDeltaThatSavesTooLittleIsNotPublished(t *testing.T) {
	e := newEnv(t, Options{})
	r := rand.New(rand.NewPCG(3, 3))
	e.push("app", "latest", appRef, "amd64", appTree(r, 20))
	p2 := e.push("app", "latest", appRef, "amd64", appTree(r, 20)) // nothing in common
	e.runAll()
	if _, err := e.svc.Manifest(ctx, "app", registry.Reference{Tag: IndexTag}); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Fatalf("_deltaindex for a delta that saves nothing: %v", err)
	}
	ls, err := e.meta.LayerDeltas(ctx, "app", p2.digest)
	if err != nil || len(ls) != 1 || ls[0].Blob != "" || ls[0].Size == 0 {
		t.Fatalf("want one unpublished delta recorded with its size, got %+v, %v", ls, err)
	}
	if e.job("app", "latest").State != metadata.DeltaDone || e.w.Totals.NotWorth.Load() != 1 {
		t.Fatalf("job %+v, not worth %d", e.job("app", "latest"), e.w.Totals.NotWorth.Load())
	}
	// Not made again when the tag comes back to v2: only the delta from the image it
	// held meanwhile is made.
	diffs := 0
	e.w.diff = func(ctx context.Context, old *tardiff.TarIndex, newTar io.Reader, w io.Writer, o tardiff.Options) (tardiff.Stats, error) {
		diffs++
		return tardiff.Diff(ctx, old, newTar, w, o)
	}
	e.push("app", "latest", appRef, "amd64", appTree(r, 3))
	e.manifest("app", "latest", oci.MediaTypeImageManifest, e.payload("app", p2.digest))
	e.runAll()
	if ls, _ := e.meta.LayerDeltas(ctx, "app", p2.digest); diffs != 1 || len(ls) != 2 {
		t.Fatalf("%d deltas made for 1 new source; recorded %+v", diffs, ls)
	}
}

// A delta that does not rebuild its target is never published, whatever else the job
// publishes, and the job says so.
func TestDeltaFailingVerificationIsNeverPublished(t *testing.T) {
	e := newEnv(t, Options{})
	r := rand.New(rand.NewPCG(4, 4))
	v1 := appTree(r, 30)
	e.push("app", "latest", appRef, "amd64", v1)
	p2 := e.push("app", "latest", appRef, "amd64", update(r, v1, 2))
	e.w.diff = func(ctx context.Context, old *tardiff.TarIndex, newTar io.Reader, w io.Writer, o tardiff.Options) (tardiff.Stats, error) {
		// The new tar with one byte changed: a well-formed delta that rebuilds the wrong tar.
		b, err := io.ReadAll(newTar)
		if err != nil {
			return tardiff.Stats{}, err
		}
		b[len(b)/2] ^= 1
		return tardiff.Diff(ctx, old, bytes.NewReader(b), w, o)
	}
	e.runAll()
	if _, err := e.svc.Manifest(ctx, "app", registry.Reference{Tag: IndexTag}); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Fatalf("a delta failing verification reached _deltaindex: %v", err)
	}
	if ls, _ := e.meta.LayerDeltas(ctx, "app", p2.digest); len(ls) != 0 {
		t.Fatalf("a delta failing verification was recorded: %+v", ls)
	}
	j := e.job("app", "latest")
	if j.State != metadata.DeltaFailed || !strings.Contains(j.LastError, "verification") || e.w.Totals.VerifyFailed.Load() != 1 {
		t.Fatalf("job %+v, verify failures %d", j, e.w.Totals.VerifyFailed.Load())
	}
	if !strings.Contains(e.logs.String(), "delta failed verification") {
		t.Fatal("the failure was not logged")
	}
}

// A layer beyond the bound (here a decompression bomb: a few KiB of gzip, MiBs of
// zeros) is refused and logged, without filling the disk, and not read again.
func TestLayerBeyondTheBoundIsRefused(t *testing.T) {
	tmp := t.TempDir()
	e := newEnv(t, Options{MaxLayerSize: 1 << 20, TempDir: tmp})
	e.push("app", "latest", appRef, "amd64", files{"files/bomb": make([]byte, 64<<20)})
	p2 := e.push("app", "latest", appRef, "amd64", files{"files/bomb": make([]byte, 64<<20), "files/x": []byte("x")})
	e.runAll()
	if j := e.job("app", "latest"); j.State != metadata.DeltaDone {
		t.Fatalf("job: %+v", j)
	}
	if e.w.Totals.Refused.Load() != 1 || !strings.Contains(e.logs.String(), "delta layer refused") {
		t.Fatalf("refused %d; log:\n%s", e.w.Totals.Refused.Load(), e.logs.String())
	}
	ls, _ := e.meta.LayerDeltas(ctx, "app", p2.digest)
	if len(ls) != 1 || ls[0].Blob != "" || ls[0].Size != 0 {
		t.Fatalf("want the refusal recorded, got %+v", ls)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}

	// A target beyond the bound is read once, not once per source.
	e = newEnv(t, Options{MaxLayerSize: 1 << 20})
	e.push("app", "latest", appRef, "amd64", files{"files/a": []byte("a")})
	e.push("app", "latest", appRef, "amd64", files{"files/b": []byte("b")})
	p3 := e.push("app", "latest", appRef, "amd64", files{"files/bomb": make([]byte, 64<<20)})
	e.runAll()
	if ls, _ := e.meta.LayerDeltas(ctx, "app", p3.digest); e.w.Totals.Refused.Load() != 1 || len(ls) != 2 || ls[0].Blob != "" || ls[1].Blob != "" {
		t.Fatalf("refused %d times; recorded %+v", e.w.Totals.Refused.Load(), ls)
	}
}

// Each architecture of a list gets its own delta manifest, from the same architecture
// of the sources.
func TestListsGetDeltasPerArchitecture(t *testing.T) {
	e := newEnv(t, Options{})
	r := rand.New(rand.NewPCG(5, 5))
	amd, arm := appTree(r, 20), appTree(r, 20)
	armRef := "app/org.example.App/aarch64/stable"
	a1, b1 := e.push("app", "", appRef, "amd64", amd), e.push("app", "", armRef, "arm64", arm)
	e.list("app", "latest", a1, b1)
	a2, b2 := e.push("app", "", appRef, "amd64", update(r, amd, 5)), e.push("app", "", armRef, "arm64", update(r, arm, 5))
	e.list("app", "latest", a2, b2)
	e.runAll()
	for _, c := range []struct{ old, new pushed }{{a1, a2}, {b1, b2}} {
		dm := e.parsed("app", registry.Reference{Digest: e.deltaManifestOf("app", c.new.digest)})
		if len(dm.Layers) != 1 || dm.Layers[0].Annotations[FromAnnotation] != c.old.diffIDs[0].String() {
			t.Fatalf("delta manifest of %s: %+v", c.new.digest, dm.Layers)
		}
	}
}

// failingRegistry fails the first pushes of manifests.
type failingRegistry struct {
	Registry
	failures int
}

func (f *failingRegistry) PutManifest(ctx context.Context, repo string, ref registry.Reference, ct string, body io.Reader, tags []string) (registry.PutResult, error) {
	if f.failures > 0 {
		f.failures--
		return registry.PutResult{}, errors.New("blob store unavailable")
	}
	return f.Registry.PutManifest(ctx, repo, ref, ct, body, tags)
}

// A job that fails half-way publishes nothing clients see, and is tried again later.
func TestFailedJobIsRetriedAndLeavesNothingHalfPublished(t *testing.T) {
	e := newEnv(t, Options{})
	e.w.reg = &failingRegistry{Registry: e.svc, failures: 1}
	wait := time.Duration(0)
	e.w.retryIn = func(int) time.Duration { return wait }
	r := rand.New(rand.NewPCG(6, 6))
	v1 := appTree(r, 20)
	e.push("app", "latest", appRef, "amd64", v1)
	p2 := e.push("app", "latest", appRef, "amd64", update(r, v1, 5))
	if ran, err := e.w.RunOne(ctx); !ran || err != nil {
		t.Fatalf("ran %v, %v", ran, err)
	}
	j := e.job("app", "latest")
	if j.State != metadata.DeltaQueued || j.NotBefore.IsZero() || !strings.Contains(j.LastError, "unavailable") {
		t.Fatalf("after a failed attempt: %+v", j)
	}
	if _, err := e.svc.Manifest(ctx, "app", registry.Reference{Tag: IndexTag}); !errors.Is(err, registry.ErrManifestUnknown) {
		t.Fatalf("_deltaindex after a failed attempt: %v", err)
	}
	if ls, _ := e.meta.LayerDeltas(ctx, "app", p2.digest); len(ls) != 0 {
		t.Fatalf("recorded after a failed attempt: %+v", ls)
	}
	// Due again after the back-off (none here): the next attempt publishes.
	e.runAll()
	if j := e.job("app", "latest"); j.State != metadata.DeltaDone || j.Attempts != 2 {
		t.Fatalf("after the retry: %+v", j)
	}
	e.deltaManifestOf("app", p2.digest)
}

// Deltas whose source is gone are dropped: the target's delta manifest is written again
// without them, and _deltaindex with it.
func TestExpireDropsDeltasOfGoneSources(t *testing.T) {
	e := newEnv(t, Options{})
	r := rand.New(rand.NewPCG(7, 7))
	v1 := appTree(r, 20)
	p1 := e.push("app", "latest", appRef, "amd64", v1)
	v2 := update(r, v1, 5)
	p2 := e.push("app", "latest", appRef, "amd64", v2)
	p3 := e.push("app", "latest", appRef, "amd64", update(r, v2, 5))
	e.runAll()
	before := e.deltaManifestOf("app", p3.digest)
	if err := e.svc.DeleteManifest(ctx, "app", registry.Reference{Digest: p1.digest}); err != nil {
		t.Fatal(err)
	}
	if err := e.w.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	e.runAll()
	after := e.deltaManifestOf("app", p3.digest)
	dm := e.parsed("app", registry.Reference{Digest: after})
	if after == before || len(dm.Layers) != 1 || dm.Layers[0].Annotations[FromAnnotation] != p2.diffIDs[0].String() {
		t.Fatalf("after v1 went: %s (was %s), layers %+v", after, before, dm.Layers)
	}
}

func TestDeltaIndexJSON(t *testing.T) {
	got := string(deltaIndex([]metadata.DeltaManifest{{Target: digest.FromString("t"), Manifest: digest.FromString("m"), Size: 42}}))
	want := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":42,"annotations":{"io.github.containers.delta.target":"%s"}}]}`,
		digest.FromString("m"), digest.FromString("t"))
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// Garbage collection keeps what _deltaindex references and the sources inside the
// window, and collects the rest: the delta manifests and blobs of a target that is no
// longer tagged, and, once the window is over, the sources and their deltas.
func TestGarbageCollectionKeepsWhatDeltasNeed(t *testing.T) {
	e := newEnv(t, Options{})
	r := rand.New(rand.NewPCG(8, 8))
	v1 := appTree(r, 20)
	p1 := e.push("app", "latest", appRef, "amd64", v1)
	v2 := update(r, v1, 5)
	p2 := e.push("app", "latest", appRef, "amd64", v2)
	e.runAll()
	dm2 := e.deltaManifestOf("app", p2.digest)
	blob2 := e.parsed("app", registry.Reference{Digest: dm2}).Layers[0].Digest
	p3 := e.push("app", "latest", appRef, "amd64", update(r, v2, 5))
	e.runAll()
	dm3 := e.deltaManifestOf("app", p3.digest)
	var blobs3 []digest.Digest
	for _, l := range e.parsed("app", registry.Reference{Digest: dm3}).Layers {
		blobs3 = append(blobs3, l.Digest)
	}
	collect := func() {
		t.Helper()
		c := gc.New(e.meta, e.blobs, slog.New(slog.NewTextHandler(io.Discard, nil)), gc.Options{UntaggedManifests: true, BlobGracePeriod: -time.Second})
		if _, err := c.Pass(ctx); err != nil {
			t.Fatal(err)
		}
	}
	manifestThere := func(d digest.Digest) bool {
		_, err := e.svc.Manifest(ctx, "app", registry.Reference{Digest: d})
		return err == nil
	}
	blobThere := func(d digest.Digest) bool {
		_, err := e.svc.Blob(ctx, "app", d)
		return err == nil
	}
	collect()
	for _, d := range []digest.Digest{p1.digest, p2.digest, dm3} {
		if !manifestThere(d) {
			t.Fatalf("manifest %s collected inside the window", d)
		}
	}
	for _, d := range append(blobs3, p1.layer) {
		if !blobThere(d) {
			t.Fatalf("blob %s collected although deltas need it", d)
		}
	}
	if manifestThere(dm2) || blobThere(blob2) {
		t.Fatal("the delta manifest and blob of a target no tag holds were kept")
	}

	// The window ends: the sources go, then their deltas, then what listed them.
	e.meta.SetDeltaPolicy(metadata.DeltaPolicy{Enabled: true, Window: time.Nanosecond})
	e.w.opts.Window = time.Nanosecond
	time.Sleep(time.Millisecond)
	collect()
	if manifestThere(p1.digest) || manifestThere(p2.digest) {
		t.Fatal("sources kept after the window")
	}
	if err := e.w.Expire(ctx); err != nil {
		t.Fatal(err)
	}
	collect()
	if manifestThere(dm3) || blobThere(blobs3[0]) {
		t.Fatal("deltas kept after their sources went")
	}
	if idx := e.parsed("app", registry.Reference{Tag: IndexTag}); len(idx.Manifests) != 0 {
		t.Fatalf("_deltaindex still lists %+v", idx.Manifests)
	}
}

// Two replicas on one PostgreSQL database and one blob store run the queue together:
// every job runs once, on one of them, and every delta is published.
func TestReplicasOnPostgreSQLRunEachJobOnce(t *testing.T) {
	pg, err := postgres.Open(ctx, testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	pg.SetDeltaPolicy(metadata.DeltaPolicy{Enabled: true, Window: time.Hour})
	blobs, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var workers []*Worker
	var e *env
	for i := range 2 {
		svc := registry.New(pg, blobs, log, registry.Options{})
		workers = append(workers, New(pg, svc, log, Options{Replica: fmt.Sprint("replica-", i), Window: time.Hour, TempDir: t.TempDir()}))
		if e == nil {
			e = &env{t: t, svc: svc}
		}
	}
	r := rand.New(rand.NewPCG(9, 9))
	const apps = 6
	var targets []pushed
	for i := range apps {
		repo := fmt.Sprint("app", i)
		tree := appTree(r, 8)
		e.push(repo, "latest", appRef, "amd64", tree)
		targets = append(targets, e.push(repo, "latest", appRef, "amd64", update(r, tree, 20)))
	}
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				ran, err := w.RunOne(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if !ran {
					return
				}
			}
		}()
	}
	wg.Wait()
	done := workers[0].Totals.JobsDone.Load() + workers[1].Totals.JobsDone.Load()
	if done != apps {
		t.Fatalf("%d jobs done for %d queued (%d + %d)", done, apps, workers[0].Totals.JobsDone.Load(), workers[1].Totals.JobsDone.Load())
	}
	jobs, err := pg.DeltaJobs(ctx, "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.State != metadata.DeltaDone || j.Attempts != 1 {
			t.Errorf("job %+v", j)
		}
	}
	for i, p := range targets {
		e.deltaManifestOf(fmt.Sprint("app", i), p.digest)
	}
}
