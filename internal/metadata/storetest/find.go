package storetest

import (
	"reflect"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// findImages collects a whole scan.
func findImages(s metadata.Store, f metadata.ImageFilter) ([]metadata.IndexedImage, []metadata.IndexedList, error) {
	var (
		images []metadata.IndexedImage
		lists  []metadata.IndexedList
	)
	err := s.ScanIndex(ctx, f, metadata.ScanOptions{}, func(e metadata.IndexEntry) error {
		if e.Image != nil {
			images = append(images, *e.Image)
		} else {
			lists = append(lists, *e.List)
		}
		return nil
	})
	return images, lists, err
}

func testFindImages(t *testing.T, s metadata.Store) {
	app := func(repo, name, arch string, labels map[string]string) *metadata.Manifest {
		m := image(t, s, repo, name)
		m.Architecture, m.Labels = arch, labels
		m.Annotations = map[string]string{"ann": name}
		return m
	}
	ref := "org.flatpak.ref"
	a := app("apps/a", "a", "amd64", map[string]string{ref: "app/A/x86_64/stable", "x": "1"})
	must(t, s.PutManifest(ctx, "apps/a", a, []string{"latest", "1.0"}))
	untagged := app("apps/a", "untagged", "amd64", map[string]string{ref: "app/U/x86_64/stable"})
	must(t, s.PutManifest(ctx, "apps/a", untagged, nil))
	plain := app("plain", "plain", "amd64", map[string]string{})
	must(t, s.PutManifest(ctx, "plain", plain, []string{"latest"}))

	amd := app("apps/multi", "m-amd", "amd64", map[string]string{ref: "app/M/x86_64/stable"})
	arm := app("apps/multi", "m-arm", "arm64", map[string]string{ref: "app/M/aarch64/stable"})
	must(t, s.PutManifest(ctx, "apps/multi", amd, nil))
	must(t, s.PutManifest(ctx, "apps/multi", arm, nil))
	list := &metadata.Manifest{
		Digest: digest.FromString("list"), MediaType: "application/vnd.oci.image.index.v1+json",
		Payload: []byte("{}"), Children: []digest.Digest{amd.Digest, arm.Digest},
	}
	must(t, s.PutManifest(ctx, "apps/multi", list, []string{"latest"}))

	type found struct {
		images []string // repo@name-label of images
		lists  []string // repo@child digests
	}
	summarise := func(f metadata.ImageFilter) found {
		t.Helper()
		images, lists, err := findImages(s, f)
		must(t, err)
		var out found
		for _, im := range images {
			out.images = append(out.images, im.Repository+"@"+im.Annotations["ann"])
		}
		for _, l := range lists {
			for _, im := range l.Images {
				if len(im.Tags) != 0 {
					t.Errorf("image inside a list has tags %v", im.Tags)
				}
				out.lists = append(out.lists, l.Repository+"@"+im.Annotations["ann"])
			}
		}
		slices.Sort(out.lists) // images inside a list come in an order of the store's choosing
		return out
	}
	exists := metadata.KeyFilter{Key: ref}
	tests := []struct {
		name string
		f    metadata.ImageFilter
		want found
	}{
		{"everything tagged", metadata.ImageFilter{}, found{[]string{"apps/a@a", "plain@plain"}, []string{"apps/multi@m-amd", "apps/multi@m-arm"}}},
		{"what flatpak asks", metadata.ImageFilter{Tags: []string{"latest"}, OS: []string{"linux"}, Architectures: []string{"amd64"}, Labels: []metadata.KeyFilter{exists}},
			found{[]string{"apps/a@a"}, []string{"apps/multi@m-amd"}}},
		{"any of two architectures", metadata.ImageFilter{Architectures: []string{"arm64", "amd64"}, Labels: []metadata.KeyFilter{exists}},
			found{[]string{"apps/a@a"}, []string{"apps/multi@m-amd", "apps/multi@m-arm"}}},
		{"label value", metadata.ImageFilter{Labels: []metadata.KeyFilter{{Key: ref, Values: []string{"app/M/aarch64/stable", "nope"}}}},
			found{nil, []string{"apps/multi@m-arm"}}},
		{"annotation present", metadata.ImageFilter{Annotations: []metadata.KeyFilter{{Key: "ann", Values: []string{"plain"}}}}, found{[]string{"plain@plain"}, nil}},
		{"tag selects images and lists", metadata.ImageFilter{Tags: []string{"1.0"}}, found{[]string{"apps/a@a"}, nil}},
		{"repository", metadata.ImageFilter{Repositories: []string{"apps/multi"}}, found{nil, []string{"apps/multi@m-amd", "apps/multi@m-arm"}}},
		{"nothing", metadata.ImageFilter{OS: []string{"windows"}}, found{}},
		// Hidden repositories are dropped, and the facts of the rest stay theirs.
		{"visible repositories", metadata.ImageFilter{Visible: func(r string) bool { return r != "apps/a" }},
			found{[]string{"plain@plain"}, []string{"apps/multi@m-amd", "apps/multi@m-arm"}}},
		{"a hidden list", metadata.ImageFilter{Labels: []metadata.KeyFilter{exists}, Visible: func(r string) bool { return r != "apps/multi" }},
			found{[]string{"apps/a@a"}, nil}},
		{"nothing visible", metadata.ImageFilter{Visible: func(string) bool { return false }}, found{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := summarise(tt.f); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	images, lists, err := findImages(s, metadata.ImageFilter{Repositories: []string{"apps/a", "apps/multi"}})
	must(t, err)
	if len(images) != 1 || !reflect.DeepEqual(images[0].Tags, []string{"1.0", "latest"}) || images[0].Labels["x"] != "1" ||
		images[0].OS != "linux" || images[0].MediaType != a.MediaType || images[0].Digest != a.Digest {
		t.Fatalf("image facts: %+v", images)
	}
	if len(lists) != 1 || !reflect.DeepEqual(lists[0].Tags, []string{"latest"}) || lists[0].Digest != list.Digest || len(lists[0].Images) != 2 {
		t.Fatalf("list facts: %+v", lists)
	}
	for _, im := range lists[0].Images {
		if want := map[string]string{"amd64": "app/M/x86_64/stable", "arm64": "app/M/aarch64/stable"}[im.Architecture]; im.Labels[ref] != want {
			t.Fatalf("inner image %s has labels %v", im.Architecture, im.Labels)
		}
	}
}
