package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

var (
	future = time.Now().Add(time.Hour) // everything is older than this
	past   = time.Unix(1, 0)           // nothing is older than this
)

func testCollectLinksAndBlobs(t *testing.T, s metadata.Store) {
	m := image(t, s, "app", "kept")
	must(t, s.PutManifest(ctx, "app", m, []string{"v1"}))
	loose := dg("loose")
	must(t, s.LinkBlob(ctx, "app", metadata.Blob{Digest: loose, Size: 5}))

	links, err := s.UnreferencedLinks(ctx, future, 100)
	must(t, err)
	if !slices.Equal(links, []metadata.BlobLink{{Repository: "app", Digest: loose}}) {
		t.Fatalf("unreferenced links: %v, want only the loose blob", links)
	}
	if l := checked(s.UnreferencedLinks(ctx, past, 100)).must(t); len(l) != 0 {
		t.Fatalf("links inside the grace period proposed: %v", l)
	}
	// A referenced link is never deleted, whatever a caller asks.
	if ok, err := s.DeleteUnreferencedLink(ctx, metadata.BlobLink{Repository: "app", Digest: m.Blobs[0]}, future); ok || err != nil {
		t.Fatalf("referenced link deleted: %v, %v", ok, err)
	}
	// Still linked: not a blob candidate, and deleting it does nothing.
	if b := checked(s.UnreferencedBlobs(ctx, future, 100)).must(t); len(b) != 0 {
		t.Fatalf("linked blobs proposed: %v", b)
	}
	called := 0
	remove := func() error { called++; return nil }
	if ok := checked(s.DeleteUnreferencedBlob(ctx, loose, future, remove)).must(t); ok || called != 0 {
		t.Fatalf("linked blob deleted (%v), bytes removed %d times", ok, called)
	}

	if ok, err := s.DeleteUnreferencedLink(ctx, links[0], future); !ok || err != nil {
		t.Fatalf("delete unreferenced link: %v, %v", ok, err)
	}
	blobs, err := s.UnreferencedBlobs(ctx, future, 100)
	must(t, err)
	if len(blobs) != 1 || blobs[0].Digest != loose || blobs[0].Size != 5 {
		t.Fatalf("unreferenced blobs: %v", blobs)
	}
	if b := checked(s.UnreferencedBlobs(ctx, past, 100)).must(t); len(b) != 0 {
		t.Fatalf("blobs inside the grace period proposed: %v", b)
	}
	// A failure to remove the bytes keeps the record, so the blob is tried again.
	if ok, err := s.DeleteUnreferencedBlob(ctx, loose, future, func() error { return errors.New("disk gone") }); ok || err == nil {
		t.Fatalf("failed byte removal: %v, %v", ok, err)
	}
	if ok, err := s.DeleteUnreferencedBlob(ctx, loose, future, remove); !ok || err != nil || called != 1 {
		t.Fatalf("delete unreferenced blob: %v, %v, bytes removed %d times", ok, err, called)
	}
	if _, err := s.LinkExistingBlob(ctx, "other", loose); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("link of a collected blob: %v, want ErrNotFound", err)
	}
	// The kept image is intact.
	if _, err := s.RepositoryBlob(ctx, "app", m.Blobs[1]); err != nil {
		t.Fatalf("referenced layer: %v", err)
	}
}

func testLinkExistingBlobRestartsGrace(t *testing.T, s metadata.Store) {
	d := dg("shared")
	must(t, s.LinkBlob(ctx, "a", metadata.Blob{Digest: d, Size: 3}))
	must(t, s.UnlinkBlob(ctx, "a", d))
	cut := time.Now().Add(time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	b, err := s.LinkExistingBlob(ctx, "b", d)
	if err != nil || b.Size != 3 {
		t.Fatalf("LinkExistingBlob: %v, %v", b, err)
	}
	if _, err := s.RepositoryBlob(ctx, "b", d); err != nil {
		t.Fatalf("not linked: %v", err)
	}
	// Linked after the cut-off: neither the link nor the blob is a candidate.
	if l := checked(s.UnreferencedLinks(ctx, cut, 100)).must(t); len(l) != 0 {
		t.Fatalf("fresh link proposed: %v", l)
	}
	if _, err := s.LinkExistingBlob(ctx, "b", dg("never")); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("unknown blob: %v", err)
	}
}

func testCollectUntaggedManifests(t *testing.T, s metadata.Store) {
	tagged := image(t, s, "r", "tagged")
	must(t, s.PutManifest(ctx, "r", tagged, []string{"t"}))
	child := image(t, s, "r", "child")
	must(t, s.PutManifest(ctx, "r", child, nil))
	idx := &metadata.Manifest{Digest: dg("index"), MediaType: "application/vnd.oci.image.index.v1+json", Payload: []byte("{}"),
		CreatedAt: tagged.CreatedAt, Children: []digest.Digest{child.Digest}, Labels: map[string]string{}, Annotations: map[string]string{}}
	must(t, s.PutManifest(ctx, "r", idx, []string{"list"}))
	sig := image(t, s, "r", "signature")
	sig.Subject = tagged.Digest
	must(t, s.PutManifest(ctx, "r", sig, nil))
	orphanSig := image(t, s, "r", "orphan-signature")
	orphanSig.Subject = dg("gone")
	must(t, s.PutManifest(ctx, "r", orphanSig, nil))
	loose := image(t, s, "r", "loose")
	must(t, s.PutManifest(ctx, "r", loose, nil))

	got, err := s.UntaggedManifests(ctx, future, 100)
	must(t, err)
	want := []digest.Digest{orphanSig.Digest, loose.Digest}
	var gotD []digest.Digest
	for _, m := range got {
		gotD = append(gotD, m.Digest)
	}
	slices.Sort(gotD)
	slices.Sort(want)
	if !slices.Equal(gotD, want) {
		t.Fatalf("untagged manifests: %v, want the loose one and the signature of a missing subject %v", gotD, want)
	}
	if m := checked(s.UntaggedManifests(ctx, past, 100)).must(t); len(m) != 0 {
		t.Fatalf("manifests inside the grace period proposed: %v", m)
	}
	if ok := checked(s.DeleteUntaggedManifest(ctx, metadata.ManifestRef{Repository: "r", Digest: child.Digest}, future)).must(t); ok {
		t.Fatal("a child of a tagged index was deleted")
	}
	gen := checked(s.Generation(ctx)).must(t)
	if ok, err := s.DeleteUntaggedManifest(ctx, metadata.ManifestRef{Repository: "r", Digest: loose.Digest}, future); !ok || err != nil {
		t.Fatalf("delete untagged: %v, %v", ok, err)
	}
	if g := checked(s.Generation(ctx)).must(t); g == gen {
		t.Error("deleting a manifest did not move the generation")
	}
	// Untagging the index frees it, and then its child.
	must(t, s.DeleteTag(ctx, "r", "list"))
	if ok := checked(s.DeleteUntaggedManifest(ctx, metadata.ManifestRef{Repository: "r", Digest: idx.Digest}, future)).must(t); !ok {
		t.Fatal("untagged index not deleted")
	}
	if ok := checked(s.DeleteUntaggedManifest(ctx, metadata.ManifestRef{Repository: "r", Digest: child.Digest}, future)).must(t); !ok {
		t.Fatal("child of a deleted index not deleted")
	}
}

func testExpiredUploads(t *testing.T, s metadata.Store) {
	old := time.Now().Add(-time.Hour)
	must(t, s.CreateUpload(ctx, metadata.Upload{ID: "old", Repository: "r", Algorithm: digest.SHA256, HashState: []byte{1}, StartedAt: old, UpdatedAt: old}))
	now := time.Now()
	must(t, s.CreateUpload(ctx, metadata.Upload{ID: "new", Repository: "r", Algorithm: digest.SHA256, HashState: []byte{1}, StartedAt: now, UpdatedAt: now}))
	got, err := s.ExpiredUploads(ctx, time.Now().Add(-time.Minute), 10)
	must(t, err)
	if len(got) != 1 || got[0].ID != "old" || got[0].Repository != "r" {
		t.Fatalf("expired uploads: %+v", got)
	}
}
