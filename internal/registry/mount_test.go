package registry_test

import (
	"errors"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/registry"
)

func TestMountLooksOnlyWhereTheCallerMayRead(t *testing.T) {
	svc, _ := newService(t, registry.Options{})
	shared := push(t, svc, "public", []byte("in public and private"))
	push(t, svc, "private", []byte("in public and private"))
	secret := push(t, svc, "private", []byte("only in private"))
	unknown := digest.FromString("never pushed")
	public := func(repo string) bool { return repo != "private" }

	tests := []struct {
		name    string
		d       digest.Digest
		from    string
		visible func(string) bool
		want    bool
	}{
		{"from a readable repository holding it", shared, "public", public, true},
		{"from a repository that does not hold it", secret, "public", public, false},
		{"from an unreadable repository holding it", secret, "private", public, false},
		{"from an invalid name", shared, "Public", nil, false},
		{"without from, held somewhere readable", shared, "", public, true},
		{"without from, held only where unreadable", secret, "", public, false},
		{"without from, no access control", secret, "", nil, true},
		{"a blob nobody holds", unknown, "", nil, false},
		{"a blob nobody holds, from a repository", unknown, "public", nil, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := "target" + string(rune('a'+i))
			ok, err := svc.Mount(ctx, repo, tt.d, tt.from, tt.visible)
			if err != nil || ok != tt.want {
				t.Fatalf("Mount = %v, %v; want %v", ok, err, tt.want)
			}
			_, err = svc.Blob(ctx, repo, tt.d)
			if tt.want && err != nil {
				t.Fatalf("mounted, but the blob is not in %s: %v", repo, err)
			}
			if !tt.want && !errors.Is(err, registry.ErrBlobUnknown) {
				t.Fatalf("not mounted, but the blob answers %v in %s", err, repo)
			}
		})
	}
}

// TestMountFindsAReadableHolderAmongMany: without from, the holders are paged through
// (in name order) until one the caller may read.
func TestMountFindsAReadableHolderAmongMany(t *testing.T) {
	svc, _ := newService(t, registry.Options{})
	data := []byte("a popular layer")
	var d digest.Digest
	for _, r := range []string{"a1", "a2", "a3", "a4", "z-readable"} {
		d = push(t, svc, r, data)
	}
	ok, err := svc.Mount(ctx, "mine", d, "", func(repo string) bool { return repo == "z-readable" || repo == "mine" })
	if err != nil || !ok {
		t.Fatalf("Mount = %v, %v; want the blob from z-readable", ok, err)
	}
	if got := readBlob(t, svc, "mine", d); string(got) != string(data) {
		t.Fatalf("mounted blob reads %q", got)
	}
}

func TestMountOfACollectedBlobAsksForAnUpload(t *testing.T) {
	svc, st := newService(t, registry.Options{DeleteEnabled: true})
	d := push(t, svc, "old", []byte("soon gone"))
	must(t, svc.DeleteBlob(ctx, "old", d))
	// The blob is linked nowhere; its record goes as garbage collection would take it.
	ok, err := st.meta.DeleteUnreferencedBlob(ctx, d, farFuture, func() error { return st.blobs.Delete(ctx, d) })
	if err != nil || !ok {
		t.Fatalf("collect: %v, %v", ok, err)
	}
	if ok, err := svc.Mount(ctx, "new", d, "old", nil); ok || err != nil {
		t.Fatalf("Mount from the repository it was deleted from = %v, %v; want false", ok, err)
	}
	if ok, err := svc.Mount(ctx, "new", d, "", nil); ok || err != nil {
		t.Fatalf("Mount of a collected blob = %v, %v; want false", ok, err)
	}
}
