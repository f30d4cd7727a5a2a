package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// figures is what a repository summary says, without the time of the last push.
type figures struct{ tags, size int64 }

func figuresOf(t *testing.T, s metadata.Store, repo string) figures {
	t.Helper()
	rs := checked(s.RepositorySummary(ctx, repo)).must(t)
	return figures{rs.Tags, rs.Size}
}

func testRepositoryFiguresFollowEveryWrite(t *testing.T, s metadata.Store) {
	if _, err := s.RepositorySummary(ctx, "nope"); err != metadata.ErrNotFound {
		t.Fatalf("unknown repository: %v, want ErrNotFound", err)
	}
	start := time.Now()
	a := image(t, s, "r", "a") // links 10 + 20 bytes
	must(t, s.PutManifest(ctx, "r", a, []string{"v1", "v2"}))
	rs := checked(s.RepositorySummary(ctx, "r")).must(t)
	if rs.Tags != 2 || rs.Size != 30 || rs.PushedAt.Before(start.Add(-time.Second)) {
		t.Fatalf("after one push: %+v", rs)
	}
	// Linking again, pushing again and moving a tag change nothing; a new tag does.
	must(t, s.LinkBlob(ctx, "r", metadata.Blob{Digest: a.Blobs[0], Size: 10}))
	must(t, s.PutManifest(ctx, "r", a, []string{"v1"}))
	b := image(t, s, "r", "b")
	must(t, s.PutManifest(ctx, "r", b, []string{"v2", "v3"}))
	if got := figuresOf(t, s, "r"); got != (figures{3, 60}) {
		t.Fatalf("after retagging: %+v, want 3 tags, 60 bytes", got)
	}
	must(t, s.DeleteTag(ctx, "r", "v3"))
	if got := figuresOf(t, s, "r"); got != (figures{2, 60}) {
		t.Fatalf("after deleting a tag: %+v", got)
	}
	must(t, s.PutManifest(ctx, "r", b, []string{"v3", "v4"}))
	must(t, s.DeleteManifest(ctx, "r", b.Digest)) // v2, v3, v4 go with it
	if got := figuresOf(t, s, "r"); got != (figures{1, 60}) {
		t.Fatalf("after deleting a manifest with three tags: %+v", got)
	}
	must(t, s.UnlinkBlob(ctx, "r", b.Blobs[1]))
	if got := figuresOf(t, s, "r"); got != (figures{1, 40}) {
		t.Fatalf("after unlinking a blob: %+v", got)
	}
	// Collection takes the links it deletes off the figures too.
	if !checked(s.DeleteUnreferencedLink(ctx, metadata.BlobLink{Repository: "r", Digest: b.Blobs[0]}, future)).must(t) {
		t.Fatal("unreferenced link not collected")
	}
	if got := figuresOf(t, s, "r"); got != (figures{1, 30}) {
		t.Fatalf("after collecting a link: %+v", got)
	}
	// A repository with blobs only has figures too.
	must(t, s.LinkBlob(ctx, "blobs-only", metadata.Blob{Digest: dg("x"), Size: 7}))
	if rs := checked(s.RepositorySummary(ctx, "blobs-only")).must(t); rs.Tags != 0 || rs.Size != 7 || !rs.PushedAt.IsZero() {
		t.Fatalf("blobs only: %+v", rs)
	}
}

func testBrowseRepositories(t *testing.T, s metadata.Store) {
	names := []string{"apps/one", "apps/two", "axb", "a_b", "lib/100%", "lib/x", "tools/apps-cli"}
	for _, n := range names {
		must(t, s.LinkBlob(ctx, n, metadata.Blob{Digest: dg("b"), Size: 3}))
	}
	list := func(contains, after string, limit int) []string {
		t.Helper()
		var out []string
		for _, rs := range checked(s.BrowseRepositories(ctx, contains, after, limit)).must(t) {
			if rs.Size != 3 {
				t.Errorf("%s: size %d, want 3", rs.Name, rs.Size)
			}
			out = append(out, rs.Name)
		}
		return out
	}
	want := slices.Clone(names)
	slices.Sort(want)
	if got := list("", "", 100); !slices.Equal(got, want) {
		t.Fatalf("all: %v, want %v", got, want)
	}
	tests := []struct {
		contains string
		want     []string
	}{
		{"apps", []string{"apps/one", "apps/two", "tools/apps-cli"}},
		{"APPS", []string{"apps/one", "apps/two", "tools/apps-cli"}}, // names are lower case; so is the match
		{"_", []string{"a_b"}}, // LIKE's wildcards are literal
		{"%", []string{"lib/100%"}},
		{"a_b", []string{"a_b"}},
		{"nothing", nil},
	}
	for _, tt := range tests {
		if got := list(tt.contains, "", 100); !slices.Equal(got, tt.want) {
			t.Errorf("contains %q: %v, want %v", tt.contains, got, tt.want)
		}
	}
	var walked []string
	for after := ""; ; {
		page := list("apps", after, 2)
		if len(page) == 0 {
			break
		}
		walked = append(walked, page...)
		after = page[len(page)-1]
	}
	if want := []string{"apps/one", "apps/two", "tools/apps-cli"}; !slices.Equal(walked, want) {
		t.Fatalf("paged search: %v, want %v", walked, want)
	}
}

func testBrowseTags(t *testing.T, s metadata.Store) {
	var pushed []string // oldest first
	for i, name := range []string{"b", "a", "d", "c", "e"} {
		m := image(t, s, "r", name)
		m.Architecture = []string{"amd64", "arm64"}[i%2]
		must(t, s.PutManifest(ctx, "r", m, []string{name}))
		pushed = append(pushed, name)
		time.Sleep(2 * time.Millisecond) // distinct push times, whatever the clock's grain
	}
	walk := func(order metadata.TagOrder, limit int) []string {
		t.Helper()
		var out []string
		var from metadata.TagCursor
		for {
			page := checked(s.BrowseTags(ctx, "r", order, from, limit)).must(t)
			if len(page) == 0 {
				return out
			}
			for _, ts := range page {
				out = append(out, ts.Name)
				if ts.Manifest.Digest == "" || ts.Manifest.MediaType == "" || len(ts.Manifest.Payload) == 0 || ts.UpdatedAt.IsZero() {
					t.Fatalf("tag %s without its manifest: %+v", ts.Name, ts)
				}
			}
			last := page[len(page)-1]
			from = metadata.TagCursor{Name: last.Name, UpdatedAt: last.UpdatedAt}
		}
	}
	if got := walk(metadata.TagsByName, 2); !slices.Equal(got, []string{"a", "b", "c", "d", "e"}) {
		t.Fatalf("by name: %v", got)
	}
	newest := slices.Clone(pushed)
	slices.Reverse(newest)
	if got := walk(metadata.TagsNewest, 2); !slices.Equal(got, newest) {
		t.Fatalf("newest first: %v, want %v", got, newest)
	}
	// Moving a tag makes it the newest.
	must(t, s.PutManifest(ctx, "r", image(t, s, "r", "moved"), []string{"b"}))
	if got := checked(s.BrowseTags(ctx, "r", metadata.TagsNewest, metadata.TagCursor{}, 1)).must(t); got[0].Name != "b" {
		t.Fatalf("after moving b, the newest is %s", got[0].Name)
	}
	// Tags pushed together share their time: the name breaks the tie, across pages too.
	must(t, s.PutManifest(ctx, "same", image(t, s, "same", "x"), []string{"t1", "t2", "t3", "t4"}))
	var got []string
	var from metadata.TagCursor
	for {
		page := checked(s.BrowseTags(ctx, "same", metadata.TagsNewest, from, 3)).must(t)
		if len(page) == 0 {
			break
		}
		for _, ts := range page {
			got = append(got, ts.Name)
		}
		from = metadata.TagCursor{Name: page[len(page)-1].Name, UpdatedAt: page[len(page)-1].UpdatedAt}
	}
	if !slices.Equal(got, []string{"t4", "t3", "t2", "t1"}) {
		t.Fatalf("ties: %v", got)
	}
	if page := checked(s.BrowseTags(ctx, "unknown", metadata.TagsByName, metadata.TagCursor{}, 10)).must(t); len(page) != 0 {
		t.Fatalf("unknown repository: %v", page)
	}
}

func testListChildren(t *testing.T, s metadata.Store) {
	amd, arm := image(t, s, "r", "amd"), image(t, s, "r", "arm")
	arm.Architecture, arm.Variant = "arm64", "v8"
	must(t, s.PutManifest(ctx, "r", amd, nil))
	must(t, s.PutManifest(ctx, "r", arm, nil))
	list := &metadata.Manifest{Digest: digest.FromString("list"), MediaType: "application/vnd.oci.image.index.v1+json",
		Payload: []byte("{}"), Children: []digest.Digest{amd.Digest, arm.Digest}}
	must(t, s.PutManifest(ctx, "r", list, []string{"latest"}))
	got := checked(s.ListChildren(ctx, "r", []digest.Digest{list.Digest, amd.Digest, dg("unknown")})).must(t)
	if len(got) != 1 || len(got[list.Digest]) != 2 {
		t.Fatalf("children: %+v", got)
	}
	want := []digest.Digest{amd.Digest, arm.Digest}
	slices.Sort(want)
	var platforms []string
	for i, c := range got[list.Digest] {
		if c.Digest != want[i] {
			t.Fatalf("children not by digest: %+v", got[list.Digest])
		}
		platforms = append(platforms, c.OS+"/"+c.Architecture+c.Variant)
	}
	slices.Sort(platforms)
	if !reflect.DeepEqual(platforms, []string{"linux/amd64", "linux/arm64v8"}) {
		t.Fatalf("platforms %v", platforms)
	}
	if other := checked(s.ListChildren(ctx, "elsewhere", []digest.Digest{list.Digest})).must(t); len(other) != 0 {
		t.Fatalf("another repository's list: %+v", other)
	}
}
