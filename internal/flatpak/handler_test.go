package flatpak

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/appstream"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// fixture stores a Flatpak app as a plain image, a runtime inside an OCI index with two
// architectures, and a non-Flatpak image, all with fixed digests.
func fixture(t *testing.T) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	put := func(repo string, m *metadata.Manifest, tags ...string) {
		t.Helper()
		m.CreatedAt = time.Unix(0, 0)
		if m.Payload == nil {
			m.Payload = []byte(m.Digest)
		}
		if m.ConfigDigest != "" {
			if err := s.LinkBlob(ctx, repo, metadata.Blob{Digest: m.ConfigDigest, Size: 1}); err != nil {
				t.Fatal(err)
			}
			m.Blobs = []digest.Digest{m.ConfigDigest}
		}
		m.App, _ = appstream.Extract(m.Labels) // as the registry does at push
		if err := s.PutManifest(ctx, repo, m, tags); err != nil {
			t.Fatal(err)
		}
	}
	img := func(name, arch, ref string) *metadata.Manifest {
		labels := map[string]string{}
		if ref != "" {
			labels["org.flatpak.ref"] = ref
		}
		return &metadata.Manifest{
			Digest: digest.FromString(name), MediaType: "application/vnd.oci.image.manifest.v1+json",
			ConfigDigest: digest.FromString(name + "-config"), ConfigMediaType: "application/vnd.oci.image.config.v1+json",
			OS: "linux", Architecture: arch, Labels: labels, Annotations: map[string]string{"org.opencontainers.image.title": name},
		}
	}
	put("org.example.app", img("app", "amd64", "app/org.example.App/x86_64/stable"), "latest", "1.0")
	amd, arm := img("rt-amd64", "amd64", "runtime/org.example.Platform/x86_64/24"), img("rt-arm64", "arm64", "runtime/org.example.Platform/aarch64/24")
	put("org.example.platform", amd)
	put("org.example.platform", arm)
	put("org.example.platform", &metadata.Manifest{
		Digest: digest.FromString("rt-index"), MediaType: "application/vnd.oci.image.index.v1+json",
		Children: []digest.Digest{amd.Digest, arm.Digest},
	}, "latest")
	put("busybox", img("busybox", "amd64", ""), "latest")
	return s
}

func get(t *testing.T, h http.Handler, target string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest("GET", target, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, got)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Fatalf("%s differs from %s:\n%s", name, path, pretty.Bytes())
	}
}

func newTestHandler(t *testing.T, s *sqlite.Store, visible func(string) bool) *Handler {
	return NewHandler(s, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Visible: visible})
}

func TestIndexAnswers(t *testing.T) {
	h := newTestHandler(t, fixture(t), nil)
	tests := []struct{ name, query string }{
		{"flatpak-remote-ls", "label%3Aorg.flatpak.ref%3Aexists=1&architecture=amd64&os=linux&tag=latest"},
		{"two-architectures", "label:org.flatpak.ref:exists=1&architecture=amd64&architecture=arm64"},
		{"annotation-and-repository", "annotation:org.opencontainers.image.title=busybox&repository=busybox"},
		{"no-match", "os=windows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, endpoint := range []string{"/index/static", "/index/dynamic"} {
				rec := get(t, h, endpoint+"?"+tt.query)
				if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
					t.Fatalf("%s: %d %v", endpoint, rec.Code, rec.Header())
				}
				golden(t, tt.name, rec.Body.Bytes())
			}
		})
	}
}

func TestIndexHidesPrivateRepositories(t *testing.T) {
	h := newTestHandler(t, fixture(t), func(repo string) bool { return repo != "org.example.app" })
	body := get(t, h, "/index/static").Body.String()
	if strings.Contains(body, "org.example.app") || !strings.Contains(body, "org.example.platform") {
		t.Fatalf("visibility not applied: %s", body)
	}
}

func TestStaticCachingAndRevalidation(t *testing.T) {
	s := fixture(t)
	h := newTestHandler(t, s, nil)
	const q = "/index/static?label:org.flatpak.ref:exists=1"
	first := get(t, h, q)
	etag := first.Header().Get("ETag")
	if etag == "" || first.Header().Get("Cache-Control") != "public, no-cache" {
		t.Fatalf("static headers %v", first.Header())
	}
	if rec := get(t, h, q, "If-None-Match", etag); rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Fatalf("revalidation: %d", rec.Code)
	}
	// Same query, parameters in another order: same cached answer.
	if rec := get(t, h, "/index/static?label%3Aorg.flatpak.ref%3Aexists=1", "If-None-Match", etag); rec.Code != http.StatusNotModified {
		t.Fatalf("normalised query missed the cache: %d", rec.Code)
	}
	zipped := get(t, h, q, "Accept-Encoding", "gzip")
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil || zipped.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("gzip: %v %v", err, zipped.Header())
	}
	if plain, _ := io.ReadAll(zr); !bytes.Equal(plain, first.Body.Bytes()) {
		t.Fatal("gzipped answer differs")
	}
	// A change to content is visible in the next answer.
	if err := s.DeleteTag(context.Background(), "org.example.app", "latest"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTag(context.Background(), "org.example.app", "1.0"); err != nil {
		t.Fatal(err)
	}
	after := get(t, h, q, "If-None-Match", etag)
	if after.Code != 200 || strings.Contains(after.Body.String(), "org.example.app") {
		t.Fatalf("stale answer after a delete: %d %s", after.Code, after.Body)
	}
	if dyn := get(t, h, "/index/dynamic"); dyn.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("dynamic Cache-Control %q", dyn.Header().Get("Cache-Control"))
	}
	if rec := get(t, h, "/index/other"); rec.Code != 404 {
		t.Fatalf("unknown index path: %d", rec.Code)
	}
}

func TestInstallFiles(t *testing.T) {
	h := NewFilesHandler(fixture(t), FilesOptions{Title: "Test"})
	repo := get(t, h, "http://reg.example:5000/flatpak/repo.flatpakrepo")
	if repo.Code != 200 || repo.Body.String() != "[Flatpak Repo]\nTitle=Test\nUrl=oci+http://reg.example:5000\nSuggestRemoteName=test\n" {
		t.Fatalf("flatpakrepo: %d %q", repo.Code, repo.Body)
	}
	ref := get(t, h, "http://reg.example:5000/flatpak/org.example.App.flatpakref")
	want := "[Flatpak Ref]\nName=org.example.App\nBranch=stable\nTitle=org.example.App\nUrl=oci+http://reg.example:5000\nIsRuntime=false\nSuggestRemoteName=test\nRuntimeRepo=http://reg.example:5000/flatpak/repo.flatpakrepo\n"
	if ref.Code != 200 || ref.Body.String() != want {
		t.Fatalf("flatpakref: %d %q", ref.Code, ref.Body)
	}
	rt := get(t, h, "http://reg.example:5000/flatpak/org.example.Platform.flatpakref?branch=24")
	if !strings.Contains(rt.Body.String(), "IsRuntime=true") || !strings.Contains(rt.Body.String(), "Branch=24") {
		t.Fatalf("runtime flatpakref: %q", rt.Body)
	}
	for _, p := range []string{"/flatpak/org.example.Missing.flatpakref", "/flatpak/../x.flatpakref", "/flatpak/x", "/flatpak/org.example.App.flatpakref?branch=beta"} {
		if rec := get(t, h, "http://reg.example:5000"+p); rec.Code != 404 {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
}

// An image with a delta manifest carries its URL among its labels, in the answer only:
// the stored labels stay as pushed. Images without one, and answers with DeltaURLs off,
// have none.
func TestIndexNamesDeltaManifests(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	dm := &metadata.Manifest{Digest: digest.FromString("delta-manifest"), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Payload: []byte("dm"), CreatedAt: time.Unix(0, 0)}
	for _, repo := range []string{"org.example.app", "org.example.platform"} {
		if err := s.PutManifest(ctx, repo, dm, nil); err != nil {
			t.Fatal(err)
		}
	}
	app, arm := digest.FromString("app"), digest.FromString("rt-arm64")
	if err := s.RecordDeltas(ctx, "org.example.app", app, nil, &metadata.DeltaManifest{Manifest: dm.Digest, Size: 2}); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordDeltas(ctx, "org.example.platform", arm, nil, &metadata.DeltaManifest{Manifest: dm.Digest, Size: 2}); err != nil {
		t.Fatal(err)
	}
	labels := func(h *Handler) map[string]string {
		var idx struct {
			Results []struct {
				Images []struct {
					Digest string
					Labels map[string]string
				}
				Lists []struct {
					Images []struct {
						Digest string
						Labels map[string]string
					}
				}
			}
		}
		if err := json.Unmarshal(get(t, h, "/index/static?label:org.flatpak.ref:exists=1&architecture=amd64&architecture=arm64").Body.Bytes(), &idx); err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range idx.Results {
			for _, im := range r.Images {
				out[im.Digest] = im.Labels[DeltaURLLabel]
			}
			for _, l := range r.Lists {
				for _, im := range l.Images {
					out[im.Digest] = im.Labels[DeltaURLLabel]
				}
			}
		}
		return out
	}
	on := NewHandler(s, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Registry: "https://r.example/", DeltaURLs: true})
	got := labels(on)
	want := map[string]string{
		app.String():                           "https://r.example/v2/org.example.app/manifests/" + dm.Digest.String(),
		arm.String():                           "https://r.example/v2/org.example.platform/manifests/" + dm.Digest.String(),
		digest.FromString("rt-amd64").String(): "",
	}
	for d, url := range want {
		if got[d] != url {
			t.Errorf("image %s: DeltaUrl %q, want %q", d, got[d], url)
		}
	}
	if m, _ := s.Manifest(ctx, "org.example.app", app); m.Labels[DeltaURLLabel] != "" {
		t.Error("the stored labels were changed")
	}
	for d, url := range labels(newTestHandler(t, s, nil)) {
		if url != "" {
			t.Errorf("DeltaURLs off, yet image %s has %q", d, url)
		}
	}
}

// Delta manifests are looked up a batch of images at a time while the answer streams:
// across batch boundaries every image still gets its own delta manifest, and only its.
func TestIndexNamesDeltaManifestsAcrossBatches(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	const n = 3*deltaBatchSize + 5
	want := map[string]string{}
	for i := range n {
		repo := fmt.Sprintf("apps/a%03d", i)
		m := &metadata.Manifest{Digest: digest.FromString(repo), MediaType: "application/vnd.oci.image.manifest.v1+json",
			OS: "linux", Architecture: "amd64", Labels: map[string]string{"org.flatpak.ref": "app/org.example.A" + fmt.Sprint(i) + "/x86_64/stable"},
			Payload: []byte(repo), CreatedAt: time.Unix(0, 0)}
		if err := s.PutManifest(ctx, repo, m, []string{"latest"}); err != nil {
			t.Fatal(err)
		}
		want[m.Digest.String()] = ""
		if i%3 != 0 {
			continue
		}
		dm := &metadata.Manifest{Digest: digest.FromString("delta of " + repo), MediaType: "application/vnd.oci.image.manifest.v1+json",
			Payload: []byte("delta of " + repo), CreatedAt: time.Unix(0, 0)}
		if err := s.PutManifest(ctx, repo, dm, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordDeltas(ctx, repo, m.Digest, nil, &metadata.DeltaManifest{Manifest: dm.Digest, Size: 1}); err != nil {
			t.Fatal(err)
		}
		want[m.Digest.String()] = "/v2/" + repo + "/manifests/" + dm.Digest.String()
	}
	h := NewHandler(s, slog.New(slog.NewTextHandler(io.Discard, nil)), Options{Registry: "/", DeltaURLs: true})
	var idx struct {
		Results []struct {
			Images []struct {
				Digest string
				Labels map[string]string
			}
		}
	}
	if err := json.Unmarshal(get(t, h, "/index/static?label:org.flatpak.ref:exists=1").Body.Bytes(), &idx); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, r := range idx.Results {
		for _, im := range r.Images {
			seen++
			if got := im.Labels[DeltaURLLabel]; got != want[im.Digest] {
				t.Errorf("image %s: DeltaUrl %q, want %q", im.Digest, got, want[im.Digest])
			}
		}
	}
	if seen != n {
		t.Fatalf("%d images in the answer, want %d", seen, n)
	}
}
