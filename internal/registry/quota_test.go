package registry_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/quota"
	"github.com/berth-registry/berth/internal/registry"
)

// quotaService is a registry whose namespace q may store 100 bytes and whose
// repository q/tags may have 2 tags.
func quotaService(t *testing.T) (*registry.Service, stores) {
	t.Helper()
	svc, st := newService(t, registry.Options{DeleteEnabled: true})
	p, err := quota.New(quota.Config{Namespaces: []quota.Rule{{Pattern: "q", Storage: 100}}})
	must(t, err)
	if _, err := st.meta.UseQuotaPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	return svc, st
}

func used(t *testing.T, svc *registry.Service, repo string) int64 {
	t.Helper()
	u, err := svc.RepositoryUsage(ctx, repo)
	must(t, err)
	return u.Usage.Bytes
}

// denied checks that err refuses with the quota's message, and that the session (if
// any) is gone: a refused upload leaves nothing half counted behind.
func denied(t *testing.T, what string, svc *registry.Service, err error, session string) {
	t.Helper()
	isErr(t, what, err, registry.ErrDenied)
	var qe *metadata.QuotaError
	if !errors.As(err, &qe) || !strings.Contains(err.Error(), "of 100 B") {
		t.Fatalf("%s: %v does not say the usage and the limit", what, err)
	}
	if session != "" {
		_, err := svc.Upload(ctx, "q/a", session)
		isErr(t, what+": the refused session", err, registry.ErrUploadUnknown)
	}
}

func TestQuotaRefusesPushesBeforeStoringBytes(t *testing.T) {
	svc, st := quotaService(t)
	sixty := bytes.Repeat([]byte("6"), 60)
	fifty := bytes.Repeat([]byte("5"), 50)
	push(t, svc, "q/a", sixty)

	// A monolithic push of a declared size: refused before a session or a byte.
	_, err := svc.PutBlob(ctx, "q/a", digest.FromBytes(fifty), int64(len(fifty)), bytes.NewReader(fifty))
	denied(t, "monolithic push", svc, err, "")
	if _, err := st.blobs.Stat(ctx, digest.FromBytes(fifty)); err == nil {
		t.Fatal("the refused blob's bytes were stored")
	}

	// A chunk whose Content-Length passes the room; a streamed one cut where it would;
	// a chunked upload whose running size passes it.
	for _, tt := range []struct {
		name   string
		chunks []string
		size   func(string) int64
	}{
		{"PATCH with its length", []string{string(fifty)}, func(c string) int64 { return int64(len(c)) }},
		{"streamed PATCH", []string{string(fifty)}, func(string) int64 { return -1 }},
		{"running size", []string{strings.Repeat("a", 30), strings.Repeat("b", 20)}, func(c string) int64 { return int64(len(c)) }},
	} {
		u, err := svc.StartUpload(ctx, "q/a", digest.SHA256)
		must(t, err)
		for i, c := range tt.chunks {
			_, err = svc.AppendUpload(ctx, "q/a", u.ID, -1, tt.size(c), strings.NewReader(c))
			if i < len(tt.chunks)-1 {
				must(t, err)
			}
		}
		denied(t, tt.name, svc, err, u.ID)
	}
	if got := used(t, svc, "q/a"); got != 60 {
		t.Fatalf("usage after refusals: %d, want 60", got)
	}

	// What the namespace holds already costs nothing, even when the push would not fit.
	push(t, svc, "q/b", sixty)
	u, err := svc.StartUpload(ctx, "q/b", digest.SHA256)
	must(t, err)
	if _, err := svc.FinishUpload(ctx, "q/b", u.ID, digest.FromBytes(sixty), -1, 60, bytes.NewReader(sixty)); err != nil {
		t.Fatalf("a blob the namespace holds, pushed again: %v", err)
	}

	// A mount that would pass the limit is refused, not turned into an upload.
	elsewhere := push(t, svc, "other", fifty)
	ok, err := svc.Mount(ctx, "q/c", elsewhere, "other", nil)
	if ok {
		t.Fatal("mounted past the quota")
	}
	denied(t, "mount", svc, err, "")

	// The whole room is usable, and deleting frees it.
	push(t, svc, "q/a", bytes.Repeat([]byte("4"), 40))
	must(t, svc.DeleteBlob(ctx, "q/a", digest.FromBytes(sixty)))
	must(t, svc.DeleteBlob(ctx, "q/b", digest.FromBytes(sixty)))
	if ok, err := svc.Mount(ctx, "q/c", elsewhere, "other", nil); !ok || err != nil {
		t.Fatalf("mount after deletes: %v, %v", ok, err)
	}
	if got := used(t, svc, "q/c"); got != 90 {
		t.Fatalf("usage %d, want 90", got)
	}
}

// optimistic reports unlimited room to every check before bytes are stored, as a
// replica would see it just before another took the last of the room: the link's own
// check must still refuse, and nothing may stay half done.
type optimistic struct{ registry.Metadata }

func (optimistic) StorageRoom(_ context.Context, repo string, _ digest.Digest) (metadata.Room, error) {
	return metadata.Room{Namespace: repo}, nil
}

func TestQuotaRefusalAfterTheBytesAreStoredLeavesThemToCollection(t *testing.T) {
	_, st := quotaService(t)
	svc := registry.New(optimistic{st.meta}, st.blobs, slog.New(slog.DiscardHandler), registry.Options{})
	big := bytes.Repeat([]byte("x"), 101)
	d := digest.FromBytes(big)
	u, err := svc.StartUpload(ctx, "q/a", digest.SHA256)
	must(t, err)
	_, err = svc.FinishUpload(ctx, "q/a", u.ID, d, -1, int64(len(big)), bytes.NewReader(big))
	denied(t, "link after commit", svc, err, u.ID)
	if _, err := svc.Blob(ctx, "q/a", d); !errors.Is(err, registry.ErrBlobUnknown) {
		t.Fatalf("refused blob served: %v", err)
	}
	cands, err := st.meta.UnreferencedBlobs(ctx, farFuture, 10)
	must(t, err)
	if len(cands) != 1 || cands[0].Digest != d {
		t.Fatalf("collection candidates %v, want the refused blob, whose bytes are stored", cands)
	}
	if ok, err := st.meta.DeleteUnreferencedBlob(ctx, d, farFuture, func() error { return st.blobs.Delete(ctx, d) }); !ok || err != nil {
		t.Fatalf("collect the refused blob: %v, %v", ok, err)
	}
}

func TestQuotaOnManifestsAndTags(t *testing.T) {
	svc, st := newService(t, registry.Options{})
	p, err := quota.New(quota.Config{Namespaces: []quota.Rule{{Pattern: "small", Storage: 1000, Tags: 2}}})
	must(t, err)
	if _, err := st.meta.UseQuotaPolicy(ctx, p); err != nil {
		t.Fatal(err)
	}
	cfg := push(t, svc, "small", []byte(`{}`))
	manifest := func(pad int) string {
		return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[],"annotations":{"p":"%s"}}`,
			cfg, strings.Repeat("x", pad))
	}
	put := func(repo, tag, m string) error {
		_, err := svc.PutManifest(ctx, repo, registry.Reference{Tag: tag}, "application/vnd.oci.image.manifest.v1+json", strings.NewReader(m), nil)
		return err
	}
	isErr(t, "a manifest past the storage limit", put("small", "v1", manifest(1000)), registry.ErrDenied)
	must(t, put("small", "v1", manifest(0)))
	must(t, put("small", "v2", manifest(0)))
	err = put("small", "v3", manifest(0))
	isErr(t, "a third tag", err, registry.ErrDenied)
	if !strings.Contains(err.Error(), "has 2 tags") {
		t.Fatalf("tag refusal %q does not give the count", err)
	}
	must(t, put("small", "v1", manifest(1))) // moving a tag is no new tag
}
