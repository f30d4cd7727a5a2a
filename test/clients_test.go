package e2e_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func ref(t *testing.T, b *berth, s string) name.Reference {
	t.Helper()
	return parseRef(t, b.Addr+"/"+s)
}

// nameRef is a reference to an image on a plain-HTTP registry.
type nameRef = name.Reference

func parseRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// sameLayers checks that every layer of got has the bytes of the same layer of want.
func sameLayers(t *testing.T, want, got v1.Image) {
	t.Helper()
	wl, _ := want.Layers()
	gl, err := got.Layers()
	if err != nil || len(gl) != len(wl) {
		t.Fatalf("layers: %d, %v; want %d", len(gl), err, len(wl))
	}
	for i := range wl {
		wd, _ := wl[i].Digest()
		rc, err := gl[i].Compressed()
		if err != nil {
			t.Fatal(err)
		}
		h, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil || h != wd {
			t.Fatalf("layer %d: pulled bytes hash to %s, want %s (%v)", i, h, wd, err)
		}
	}
}

func TestGoContainerRegistryPushPullDelete(t *testing.T) {
	b := startBerth(t, t.TempDir())
	img, err := random.Image(2048, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, b, "e2e/ggcr:img"), img); err != nil {
		t.Fatal(err)
	}
	idx, err := random.Index(1024, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(ref(t, b, "e2e/ggcr:idx"), idx); err != nil {
		t.Fatal(err)
	}

	got, err := remote.Image(ref(t, b, "e2e/ggcr:img"))
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := img.Digest()
	if gd, _ := got.Digest(); gd != wd {
		t.Fatalf("image digest %s, want %s", gd, wd)
	}
	sameLayers(t, img, got)

	gotIdx, err := remote.Index(ref(t, b, "e2e/ggcr:idx"))
	if err != nil {
		t.Fatal(err)
	}
	wantIM, _ := idx.IndexManifest()
	gotIM, err := gotIdx.IndexManifest()
	if err != nil || len(gotIM.Manifests) != len(wantIM.Manifests) {
		t.Fatalf("index manifest: %v", err)
	}
	for _, desc := range wantIM.Manifests {
		want, _ := idx.Image(desc.Digest)
		child, err := gotIdx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		sameLayers(t, want, child)
	}

	tags, err := remote.List(ref(t, b, "e2e/ggcr:img").Context())
	if err != nil || !slices.Equal(tags, []string{"idx", "img"}) {
		t.Fatalf("tags %v, %v", tags, err)
	}
	if err := remote.Delete(ref(t, b, "e2e/ggcr@"+wd.String())); err != nil {
		t.Fatal(err)
	}
	_, err = remote.Image(ref(t, b, "e2e/ggcr:img"))
	var terr *transport.Error
	if !errors.As(err, &terr) || terr.StatusCode != http.StatusNotFound {
		t.Fatalf("after delete: %v", err)
	}
}

// ociImage is a random image with OCI media types throughout, which skopeo writes back
// to an OCI layout unchanged (a Docker-typed one it would convert, changing its digest).
func ociImage(t *testing.T, layers int) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for range layers {
		l, err := random.Layer(4096, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		if img, err = mutate.AppendLayers(img, l); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func skopeo(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("skopeo", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestSkopeoCopyInAndOut(t *testing.T) {
	needTool(t, "skopeo")
	b := startBerth(t, t.TempDir())
	src := filepath.Join(t.TempDir(), "src")
	p, err := layout.Write(src, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	img := ociImage(t, 2)
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	want, _ := img.Digest()
	dest := "docker://" + b.Addr + "/e2e/skopeo:v1"
	// The layout has one image; skopeo addresses it by its only manifest.
	skopeo(t, "copy", "--dest-tls-verify=false", "oci:"+src, dest)
	out := filepath.Join(t.TempDir(), "out")
	skopeo(t, "copy", "--src-tls-verify=false", dest, "oci:"+out+":v1")
	back, err := layout.ImageIndexFromPath(out)
	if err != nil {
		t.Fatal(err)
	}
	im, err := back.IndexManifest()
	if err != nil || len(im.Manifests) != 1 || im.Manifests[0].Digest != want {
		t.Fatalf("copied back %+v, want digest %s (%v)", im, want, err)
	}

	var tags struct{ Tags []string }
	if err := json.Unmarshal([]byte(skopeo(t, "list-tags", "--tls-verify=false", "docker://"+b.Addr+"/e2e/skopeo")), &tags); err != nil || !slices.Equal(tags.Tags, []string{"v1"}) {
		t.Fatalf("list-tags %v, %v", tags, err)
	}
	var inspect struct{ Digest string }
	if err := json.Unmarshal([]byte(skopeo(t, "inspect", "--tls-verify=false", dest)), &inspect); err != nil || inspect.Digest != want.String() {
		t.Fatalf("inspect digest %q, want %s (%v)", inspect.Digest, want, err)
	}
}
