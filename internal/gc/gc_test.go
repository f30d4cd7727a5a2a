package gc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blobstore"
	"github.com/berth-registry/berth/internal/blobstore/fs"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/testenv"
)

var ctx = context.Background()

// env is a registry on real stores (SQLite and files in a temporary directory) with a
// collector whose clock the test moves: everything the registry writes carries the real
// time, so a collector an hour ahead sees it an hour old.
type env struct {
	t     *testing.T
	meta  *sqlite.Store
	blobs *fs.Store
	svc   *registry.Service
}

func newEnv(t *testing.T) *env {
	t.Helper()
	meta, blobs := testenv.EmbeddedStores(t)
	svc := registry.New(meta, blobs, slog.New(slog.DiscardHandler), registry.Options{DeleteEnabled: true})
	return &env{t, meta, blobs, svc}
}

// collector collects from meta (the env's store unless the test wraps it) with the given
// untagged-manifest setting, a one-hour grace period and a one-day upload expiry, with
// its clock ahead by `ahead`.
func (e *env) collector(meta Metadata, untagged bool, ahead time.Duration) *Collector {
	c := New(meta, e.blobs, slog.New(slog.DiscardHandler), Options{BlobGracePeriod: time.Hour, UntaggedManifests: untagged, UploadExpiry: 24 * time.Hour})
	c.now = func() time.Time { return time.Now().Add(ahead) }
	return c
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) pushBlob(repo string, data []byte) digest.Digest {
	e.t.Helper()
	d := digest.FromBytes(data)
	_, err := e.svc.PutBlob(ctx, repo, d, int64(len(data)), bytes.NewReader(data))
	e.must(err)
	return d
}

// image is a pushed image: its manifest and the blobs it refers to.
type image struct {
	manifest digest.Digest
	payload  []byte
	blobs    []digest.Digest
	size     int64
}

// pushImage pushes a config, a layer and a manifest under ref (a tag, or "" to push by
// digest, untagged).
func (e *env) pushImage(repo, ref, name string) image {
	e.t.Helper()
	cfg := []byte(fmt.Sprintf(`{"os":"linux","architecture":"amd64","name":%q}`, name))
	layer := []byte("layer of " + name)
	im := image{blobs: []digest.Digest{e.pushBlob(repo, cfg), e.pushBlob(repo, layer)}, size: int64(len(cfg) + len(layer))}
	im.payload = []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`, im.blobs[0], len(cfg), im.blobs[1], len(layer)))
	im.manifest = digest.FromBytes(im.payload)
	r := registry.Reference{Tag: ref}
	if ref == "" {
		r = registry.Reference{Digest: im.manifest}
	}
	_, err := e.svc.PutManifest(ctx, repo, r, "application/vnd.oci.image.manifest.v1+json", bytes.NewReader(im.payload), nil)
	e.must(err)
	return im
}

// served reports whether repo serves the blob, and checks that its bytes are there.
func (e *env) served(repo string, d digest.Digest) bool {
	e.t.Helper()
	_, err := e.svc.Blob(ctx, repo, d)
	if errors.Is(err, registry.ErrBlobUnknown) {
		return false
	}
	e.must(err)
	if _, err := e.blobs.Stat(ctx, d); err != nil {
		e.t.Fatalf("%s serves %s but its bytes are gone: %v", repo, d, err)
	}
	return true
}

func (e *env) bytesGone(d digest.Digest) bool {
	e.t.Helper()
	_, err := e.blobs.Stat(ctx, d)
	return errors.Is(err, blobstore.ErrNotFound)
}

func (e *env) hasManifest(repo string, d digest.Digest) bool {
	e.t.Helper()
	_, err := e.svc.Manifest(ctx, repo, registry.Reference{Digest: d})
	if errors.Is(err, registry.ErrManifestUnknown) {
		return false
	}
	e.must(err)
	return true
}

func (e *env) pass(c *Collector, want Report) {
	e.t.Helper()
	got, err := c.Pass(ctx)
	e.must(err)
	if got != want {
		e.t.Fatalf("pass collected %+v, want %+v", got, want)
	}
}

func TestGarbageIsCollectedOnlyAfterItsGracePeriod(t *testing.T) {
	e := newEnv(t)
	kept := e.pushImage("app", "v1", "kept")
	loose := e.pushBlob("app", []byte("no manifest uses me"))
	untagged := e.pushImage("app", "", "untagged")

	// Everything is younger than the grace period: nothing goes, however often.
	for range 2 {
		e.pass(e.collector(e.meta, true, 0), Report{})
	}
	if !e.served("app", loose) || !e.hasManifest("app", untagged.manifest) {
		t.Fatal("garbage inside its grace period was collected")
	}

	// Two hours on: the untagged manifest goes, then its links and the loose one, then
	// the blobs they leave linked nowhere, all in one pass.
	e.pass(e.collector(e.meta, true, 2*time.Hour), Report{Manifests: 1, Links: 3, Blobs: 3, BlobBytes: untagged.size + int64(len("no manifest uses me"))})
	if e.hasManifest("app", untagged.manifest) {
		t.Error("the untagged manifest is still there")
	}
	for _, d := range append([]digest.Digest{loose}, untagged.blobs...) {
		if e.served("app", d) || !e.bytesGone(d) {
			t.Errorf("blob %s survived its collection", d)
		}
	}
	// What the tag holds stays, bytes and all.
	if !e.hasManifest("app", kept.manifest) {
		t.Error("the tagged manifest was collected")
	}
	for _, d := range kept.blobs {
		if !e.served("app", d) {
			t.Errorf("blob %s of the tagged image was collected", d)
		}
	}
	e.pass(e.collector(e.meta, true, 2*time.Hour), Report{})
}

func TestUntaggedManifestsStayUnlessEnabled(t *testing.T) {
	e := newEnv(t)
	untagged := e.pushImage("app", "", "untagged")
	e.pass(e.collector(e.meta, false, 48*time.Hour), Report{})
	if !e.hasManifest("app", untagged.manifest) {
		t.Fatal("an untagged manifest was collected with the option off")
	}
	for _, d := range untagged.blobs {
		if !e.served("app", d) {
			t.Fatalf("blob %s of a kept manifest was collected", d)
		}
	}
}

func TestExpiredUploadsAreAbandoned(t *testing.T) {
	e := newEnv(t)
	u, err := e.svc.StartUpload(ctx, "app", digest.SHA256)
	e.must(err)
	_, err = e.svc.AppendUpload(ctx, "app", u.ID, 0, 4, strings.NewReader("half"))
	e.must(err)

	e.pass(e.collector(e.meta, true, 23*time.Hour), Report{})
	if _, err := e.svc.Upload(ctx, "app", u.ID); err != nil {
		t.Fatalf("a session inside its expiry was abandoned: %v", err)
	}
	e.pass(e.collector(e.meta, true, 25*time.Hour), Report{Uploads: 1})
	if _, err := e.svc.Upload(ctx, "app", u.ID); !errors.Is(err, registry.ErrUploadUnknown) {
		t.Fatalf("expired session: %v, want unknown", err)
	}
	rc, err := e.blobs.OpenUpload(ctx, u.ID)
	e.must(err)
	defer rc.Close()
	if n, _ := rc.Read(make([]byte, 8)); n != 0 {
		t.Fatal("the bytes of an abandoned session are still there")
	}
}

// TestDryRunChangesNothing: it reports what a pass would take first (blobs whose last
// link goes in that pass are for the next one), and takes nothing.
func TestDryRunChangesNothing(t *testing.T) {
	e := newEnv(t)
	untagged := e.pushImage("app", "", "untagged")
	loose := e.pushBlob("app", []byte("loose"))
	c := e.collector(e.meta, true, 2*time.Hour)
	r, err := c.DryRun(ctx, 100)
	e.must(err)
	if r != (Report{Manifests: 1, Links: 1}) {
		t.Fatalf("dry run: %+v, want the manifest and the loose link", r)
	}
	if !e.hasManifest("app", untagged.manifest) || !e.served("app", loose) {
		t.Fatal("a dry run collected")
	}
}

// racing is the real store with a push slipped in right after the collector's query
// proposed its candidates and before it deletes them: the worst moment for the push.
type racing struct {
	Metadata
	afterManifests, afterLinks, afterBlobs func()
}

func once(f *func()) {
	if *f != nil {
		g := *f
		*f = nil
		g()
	}
}

func (r *racing) UntaggedManifests(ctx context.Context, before time.Time, limit int) ([]metadata.ManifestRef, error) {
	ms, err := r.Metadata.UntaggedManifests(ctx, before, limit)
	if len(ms) > 0 {
		once(&r.afterManifests)
	}
	return ms, err
}

func (r *racing) UnreferencedLinks(ctx context.Context, before time.Time, limit int) ([]metadata.BlobLink, error) {
	ls, err := r.Metadata.UnreferencedLinks(ctx, before, limit)
	if len(ls) > 0 {
		once(&r.afterLinks)
	}
	return ls, err
}

func (r *racing) UnreferencedBlobs(ctx context.Context, before time.Time, limit int) ([]metadata.Blob, error) {
	bs, err := r.Metadata.UnreferencedBlobs(ctx, before, limit)
	if len(bs) > 0 {
		once(&r.afterBlobs)
	}
	return bs, err
}

func TestAPushRacingACollectionWins(t *testing.T) {
	t.Run("tagging a proposed manifest", func(t *testing.T) {
		e := newEnv(t)
		im := e.pushImage("app", "", "late")
		r := &racing{Metadata: e.meta, afterManifests: func() {
			_, err := e.svc.PutManifest(ctx, "app", registry.Reference{Tag: "late"}, "application/vnd.oci.image.manifest.v1+json", bytes.NewReader(im.payload), nil)
			e.must(err)
		}}
		e.pass(e.collector(r, true, 2*time.Hour), Report{})
		if r.afterManifests != nil {
			t.Fatal("the collector never proposed the manifest: the race did not happen")
		}
		if !e.hasManifest("app", im.manifest) {
			t.Fatal("a manifest tagged while proposed was collected")
		}
	})
	t.Run("a manifest using a proposed link", func(t *testing.T) {
		e := newEnv(t)
		cfg := e.pushBlob("app", []byte(`{"os":"linux"}`))
		layer := e.pushBlob("app", []byte("a layer pushed long ago"))
		payload := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
			`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":14},`+
			`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":23}]}`, cfg, layer)
		r := &racing{Metadata: e.meta, afterLinks: func() {
			_, err := e.svc.PutManifest(ctx, "app", registry.Reference{Tag: "v1"}, "application/vnd.oci.image.manifest.v1+json", strings.NewReader(payload), nil)
			e.must(err)
		}}
		e.pass(e.collector(r, true, 2*time.Hour), Report{})
		if r.afterLinks != nil {
			t.Fatal("the collector never proposed the links: the race did not happen")
		}
		if !e.served("app", cfg) || !e.served("app", layer) {
			t.Fatal("a link a manifest came to use while proposed was collected")
		}
	})
	t.Run("linking a proposed blob", func(t *testing.T) {
		e := newEnv(t)
		data := []byte("deleted, then pushed again")
		d := e.pushBlob("old", data)
		e.must(e.svc.DeleteBlob(ctx, "old", d))
		r := &racing{Metadata: e.meta, afterBlobs: func() { e.pushBlob("new", data) }}
		e.pass(e.collector(r, true, 2*time.Hour), Report{})
		if r.afterBlobs != nil {
			t.Fatal("the collector never proposed the blob: the race did not happen")
		}
		if !e.served("new", d) {
			t.Fatal("a blob pushed again while proposed was collected")
		}
	})
}
