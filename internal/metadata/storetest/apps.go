package storetest

import (
	"bytes"
	_ "crypto/sha512" // sha512 digests
	"errors"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

func icon(label string, data string) metadata.Icon {
	size := metadata.IconLabels()[label]
	return metadata.Icon{Label: label, Digest: digest.FromString(data), Width: size, Height: size, Data: []byte(data)}
}

// flatpakImage is an image with Flatpak labels and the App facts extracted from them.
func flatpakImage(t *testing.T, s metadata.Store, repo, name, id, arch string, icons ...metadata.Icon) *metadata.Manifest {
	t.Helper()
	m := image(t, s, repo, name)
	m.Architecture = arch
	ref := "app/" + id + "/" + arch + "/stable"
	m.Labels = map[string]string{metadata.LabelFlatpakRef: ref, "name": name}
	for _, ic := range icons {
		m.Labels[ic.Label] = "data:image/png;base64,inline-" + string(ic.Data)
	}
	m.App = &metadata.App{Kind: "app", ID: id, Arch: arch, Branch: "stable", Name: "App " + name, Summary: "sum",
		Version: "1.0", Releases: []metadata.Release{{Version: "1.0", Date: "2024-01-02", Description: "First."}}, Icons: icons}
	return m
}

func indexOf(t *testing.T, s metadata.Store, repo string, m *metadata.Manifest, tags ...string) *metadata.Manifest {
	t.Helper()
	l := &metadata.Manifest{Digest: digest.FromString("list of " + m.Digest.String()), MediaType: "application/vnd.oci.image.index.v1+json",
		Payload: []byte("{}"), Children: []digest.Digest{m.Digest}}
	must(t, s.PutManifest(ctx, repo, l, tags))
	return l
}

func testAppsAndIcons(t *testing.T, s metadata.Store) {
	i64, i128 := icon(metadata.LabelIcon64, "png-64"), icon(metadata.LabelIcon128, "png-128")
	a := flatpakImage(t, s, "apps/a", "a", "org.example.A", "amd64", i64, i128)
	must(t, s.PutManifest(ctx, "apps/a", a, []string{"latest"}))
	// The same icon in another repository, inside a tagged list.
	b := flatpakImage(t, s, "apps/b", "b", "org.example.B", "amd64", i64)
	must(t, s.PutManifest(ctx, "apps/b", b, nil))
	indexOf(t, s, "apps/b", b, "latest")
	untagged := flatpakImage(t, s, "apps/c", "c", "org.example.C", "amd64")
	must(t, s.PutManifest(ctx, "apps/c", untagged, nil))

	if data := checked(s.Icon(ctx, i64.Digest)).must(t); !bytes.Equal(data, i64.Data) {
		t.Fatalf("icon bytes %q", data)
	}
	if _, err := s.Icon(ctx, dg("no icon")); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("unknown icon: %v", err)
	}
	if got := checked(s.IconRepositories(ctx, i64.Digest, "", 10)).must(t); !slices.Equal(got, []string{"apps/a", "apps/b"}) {
		t.Fatalf("repositories of the 64px icon: %v", got)
	}
	if got := checked(s.IconRepositories(ctx, i64.Digest, "apps/a", 10)).must(t); !slices.Equal(got, []string{"apps/b"}) {
		t.Fatalf("after apps/a: %v", got)
	}

	ids, images := apps(t, s, "", 10)
	if !slices.Equal(ids, []string{"org.example.A", "org.example.B"}) || len(images) != 2 {
		t.Fatalf("gallery: %v %+v (the untagged app must not show)", ids, images)
	}
	if im := images[0]; im.Repository != "apps/a" || im.Digest != a.Digest || im.List != "" || im.App.Name != "App a" ||
		len(im.App.Icons) != 2 || im.App.Icons[0].Digest != i64.Digest || im.App.Icons[1].Digest != i128.Digest || im.App.Icons[0].Data != nil {
		t.Fatalf("gallery image of A: %+v", im)
	}
	if im := images[1]; im.Repository != "apps/b" || im.List == "" || im.Digest != b.Digest {
		t.Fatalf("gallery image of B (in a list): %+v", im)
	}
	ids, _ = apps(t, s, "org.example.A", 1)
	if !slices.Equal(ids, []string{"org.example.B"}) {
		t.Fatalf("second page: %v", ids)
	}
	detail := checked(s.AppImages(ctx, "org.example.A")).must(t)
	if len(detail) != 1 || len(detail[0].App.Releases) != 1 || detail[0].App.Releases[0].Description != "First." {
		t.Fatalf("app page: %+v", detail)
	}

	// An icon goes with the last manifest that uses it.
	must(t, s.DeleteManifest(ctx, "apps/a", a.Digest))
	if _, err := s.Icon(ctx, i128.Digest); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("icon no manifest uses is still there: %v", err)
	}
	if data := checked(s.Icon(ctx, i64.Digest)).must(t); !bytes.Equal(data, i64.Data) {
		t.Fatal("icon still used by apps/b is gone")
	}
}

func testAppBackfill(t *testing.T, s metadata.Store) {
	if !checked(s.BackfillPending(ctx, metadata.BackfillAppsName)).must(t) {
		t.Fatal("a new store has no pending backfill of apps")
	}
	old := flatpakImage(t, s, "apps/old", "old", "org.example.Old", "amd64")
	app := old.App
	old.App = nil // pushed before Berth extracted apps
	must(t, s.PutManifest(ctx, "apps/old", old, []string{"latest"}))
	must(t, s.PutManifest(ctx, "plain", image(t, s, "plain", "p"), []string{"latest"}))
	srcs := checked(s.AppSources(ctx, metadata.ManifestRef{}, 10)).must(t)
	if len(srcs) != 1 || srcs[0].Ref != (metadata.ManifestRef{Repository: "apps/old", Digest: old.Digest}) ||
		srcs[0].Labels[metadata.LabelFlatpakRef] != old.Labels[metadata.LabelFlatpakRef] {
		t.Fatalf("sources: %+v", srcs)
	}
	if more := checked(s.AppSources(ctx, srcs[0].Ref, 10)).must(t); len(more) != 0 {
		t.Fatalf("after the last source: %+v", more)
	}
	gen := checked(s.Generation(ctx)).must(t)
	must(t, s.PutApp(ctx, srcs[0].Ref, app))
	must(t, s.PutApp(ctx, srcs[0].Ref, app)) // again: a no-op
	if checked(s.Generation(ctx)).must(t) == gen {
		t.Fatal("PutApp changes index answers but not the generation")
	}
	if err := s.PutApp(ctx, metadata.ManifestRef{Repository: "apps/old", Digest: dg("gone")}, app); !errors.Is(err, metadata.ErrNotFound) {
		t.Fatalf("PutApp of a missing manifest: %v", err)
	}
	if left := checked(s.AppSources(ctx, metadata.ManifestRef{}, 10)).must(t); len(left) != 0 {
		t.Fatalf("sources after the backfill: %+v", left)
	}
	if ids, _ := apps(t, s, "", 10); !slices.Equal(ids, []string{"org.example.Old"}) {
		t.Fatalf("gallery after the backfill: %v", ids)
	}
	must(t, s.FinishBackfill(ctx, metadata.BackfillAppsName))
	if checked(s.BackfillPending(ctx, metadata.BackfillAppsName)).must(t) {
		t.Fatal("backfill still pending after FinishBackfill")
	}
}

// entry is what a test compares of one scanned entry.
type entry struct {
	repo, kind, name string // kind "image" or "list"; name: the images' "name" labels
}

func scan(t *testing.T, s metadata.Store, f metadata.ImageFilter, opts metadata.ScanOptions) ([]entry, []metadata.IndexedImage) {
	t.Helper()
	var out []entry
	var images []metadata.IndexedImage
	must(t, s.ScanIndex(ctx, f, opts, func(e metadata.IndexEntry) error {
		if e.Image != nil {
			out = append(out, entry{e.Image.Repository, "image", e.Image.Labels["name"]})
			images = append(images, *e.Image)
			return nil
		}
		names := ""
		for _, im := range e.List.Images {
			names += im.Labels["name"] + " "
			images = append(images, im)
		}
		out = append(out, entry{e.List.Repository, "list", names})
		return nil
	}))
	return out, images
}

func testScanIndex(t *testing.T, s metadata.Store) {
	i64 := icon(metadata.LabelIcon64, "png")
	// Repositories interleave images and lists; more entries than one batch of facts.
	var want []entry
	for _, repo := range []string{"r/b", "r/a", "r/c"} {
		im := flatpakImage(t, s, repo, repo+"-img", "org.example.I", "amd64", i64)
		must(t, s.PutManifest(ctx, repo, im, []string{"image"}))
		child := flatpakImage(t, s, repo, repo+"-child", "org.example.L", "amd64", i64)
		must(t, s.PutManifest(ctx, repo, child, nil))
		indexOf(t, s, repo, child, "latest")
	}
	for _, repo := range []string{"r/a", "r/b", "r/c"} {
		want = append(want, entry{repo, "image", repo + "-img"}, entry{repo, "list", repo + "-child "})
	}
	for i := range 300 {
		repo := "s/many"
		m := image(t, s, repo, "many"+digest.FromString(string(rune(i))).Encoded()[:8])
		m.Labels = map[string]string{"name": m.Digest.String()}
		must(t, s.PutManifest(ctx, repo, m, []string{"t" + m.Digest.Encoded()[:12]}))
	}
	got, _ := scan(t, s, metadata.ImageFilter{Repositories: []string{"r/a", "r/b", "r/c"}}, metadata.ScanOptions{})
	if !slices.Equal(got, want) {
		t.Fatalf("scan order:\n got %v\nwant %v", got, want)
	}
	many, images := scan(t, s, metadata.ImageFilter{Repositories: []string{"s/many"}}, metadata.ScanOptions{})
	if len(many) != 300 || !slices.IsSortedFunc(images, func(a, b metadata.IndexedImage) int { return cmpStr(a.Digest.String(), b.Digest.String()) }) {
		t.Fatalf("300 images: got %d, sorted %v", len(many), len(images))
	}
	for _, im := range images {
		if len(im.Tags) != 1 || im.Labels["name"] != im.Digest.String() {
			t.Fatalf("facts of another image: %+v", im)
		}
	}

	// Icons by digest: icon labels of images with App facts are left out.
	plain := image(t, s, "r/plain", "plain")
	plain.Labels = map[string]string{metadata.LabelIcon64: "data:image/png;base64,kept", "name": "plain"}
	must(t, s.PutManifest(ctx, "r/plain", plain, []string{"latest"}))
	f := metadata.ImageFilter{Repositories: []string{"r/a", "r/plain"}}
	for _, byDigest := range []bool{false, true} {
		_, images := scan(t, s, f, metadata.ScanOptions{IconsByDigest: byDigest})
		for _, im := range images {
			isApp := im.Labels["name"] != "plain"
			_, inline := im.Labels[metadata.LabelIcon64]
			switch {
			case !byDigest && (!inline || im.Icons != nil):
				t.Errorf("%s: without IconsByDigest labels %v icons %v", im.Labels["name"], im.Labels, im.Icons)
			case byDigest && isApp && (inline || im.Icons[metadata.LabelIcon64] != i64.Digest):
				t.Errorf("%s: by digest, labels %v icons %v", im.Labels["name"], im.Labels, im.Icons)
			case byDigest && !isApp && (!inline || im.Icons != nil):
				t.Errorf("image without App facts: labels %v icons %v", im.Labels, im.Icons)
			}
		}
	}

	// sha512 manifests are left out when the filter asks for sha256.
	m512 := image(t, s, "r/a", "sha512")
	m512.Digest = digest.SHA512.FromBytes(m512.Payload)
	m512.Labels = map[string]string{"name": "sha512"}
	must(t, s.PutManifest(ctx, "r/a", m512, []string{"v512"}))
	f = metadata.ImageFilter{Repositories: []string{"r/a"}, Tags: []string{"v512", "latest"}}
	all, _ := scan(t, s, f, metadata.ScanOptions{})
	f.Algorithm = "sha256"
	only256, _ := scan(t, s, f, metadata.ScanOptions{})
	if len(all) != 2 || len(only256) != 1 || slices.Contains(only256, entry{"r/a", "image", "sha512"}) {
		t.Fatalf("all %v, sha256 only %v", all, only256)
	}
}

func testIndexDuplicates(t *testing.T, s metadata.Store) {
	// org.example.D on amd64: tagged in two repositories and inside a list in a third.
	one := flatpakImage(t, s, "d/one", "one", "org.example.D", "amd64")
	must(t, s.PutManifest(ctx, "d/one", one, []string{"latest"}))
	two := flatpakImage(t, s, "d/two", "two", "org.example.D", "amd64")
	must(t, s.PutManifest(ctx, "d/two", two, []string{"latest"}))
	three := flatpakImage(t, s, "d/three", "three", "org.example.D", "amd64")
	must(t, s.PutManifest(ctx, "d/three", three, nil))
	list := indexOf(t, s, "d/three", three, "latest")
	// The same ref on another architecture, and a unique app: no duplicates.
	must(t, s.PutManifest(ctx, "d/arm", flatpakImage(t, s, "d/arm", "arm", "org.example.D", "arm64"), []string{"latest"}))
	must(t, s.PutManifest(ctx, "d/solo", flatpakImage(t, s, "d/solo", "solo", "org.example.Solo", "amd64"), []string{"latest"}))

	dups := checked(s.IndexDuplicates(ctx, metadata.ImageFilter{Tags: []string{"latest"}}, metadata.LabelFlatpakRef)).must(t)
	var got []string
	for _, k := range dups {
		if k.Value != "app/org.example.D/amd64/stable" || k.Architecture != "amd64" || k.TaggedAt == 0 {
			t.Fatalf("duplicate %+v", k)
		}
		got = append(got, k.Repository+"@"+k.List.String()+"@"+k.Image.String())
	}
	want := []string{"d/one@@" + one.Digest.String(), "d/three@" + list.Digest.String() + "@" + three.Digest.String(), "d/two@@" + two.Digest.String()}
	if !slices.Equal(got, want) {
		t.Fatalf("duplicates:\n got %v\nwant %v", got, want)
	}
	if d := checked(s.IndexDuplicates(ctx, metadata.ImageFilter{Repositories: []string{"d/one", "d/arm"}}, metadata.LabelFlatpakRef)).must(t); len(d) != 0 {
		t.Fatalf("no duplicates within the filter, got %+v", d)
	}
}

// apps is a checked call of Apps.
func apps(t *testing.T, s metadata.Store, after string, limit int) ([]string, []metadata.AppImage) {
	t.Helper()
	ids, images, err := s.Apps(ctx, after, limit)
	must(t, err)
	return ids, images
}
