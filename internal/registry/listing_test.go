package registry_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/registry"
)

var farFuture = time.Now().Add(24 * time.Hour)

// TestCatalogFiltersWhileThePageFills: hidden repositories never appear, a page still
// holds n visible names when that many remain, and More is true only when a visible one
// follows, however many hidden ones lie between (the store is read in batches of the
// maximum page size, 3 here).
func TestCatalogFiltersWhileThePageFills(t *testing.T) {
	svc, _ := newService(t, registry.Options{MaxPageSize: 3})
	var all []string
	for _, r := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		push(t, svc, r, []byte("x"))
		all = append(all, r)
	}
	visible := func(r string) bool { return strings.Contains("a e f j", r) }

	tests := []struct {
		name    string
		p       registry.PageRequest
		visible func(string) bool
		want    string
		more    bool
	}{
		{"everything, no filter", registry.PageRequest{}, nil, strings.Join(all, ","), false},
		{"everything visible", registry.PageRequest{}, visible, "a,e,f,j", false},
		{"a page of two", registry.PageRequest{N: 2, Limited: true}, visible, "a,e", true},
		{"the next page", registry.PageRequest{Last: "e", N: 2, Limited: true}, visible, "f,j", false},
		{"after a hidden name", registry.PageRequest{Last: "b", N: 1, Limited: true}, visible, "e", true},
		{"the last visible one, hidden ones after", registry.PageRequest{Last: "f", N: 1, Limited: true}, visible, "j", false},
		{"n above the maximum is clamped", registry.PageRequest{N: 100, Limited: true}, visible, "a,e,f", true},
		{"n=0", registry.PageRequest{N: 0, Limited: true}, visible, "", false},
		{"nothing visible", registry.PageRequest{}, func(string) bool { return false }, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pg, err := svc.Catalog(ctx, tt.p, tt.visible)
			must(t, err)
			if pg.Items == nil {
				t.Fatal("Items is nil; the JSON would be null")
			}
			if got := strings.Join(pg.Items, ","); got != tt.want || pg.More != tt.more {
				t.Fatalf("Catalog = %q more=%v; want %q more=%v", got, pg.More, tt.want, tt.more)
			}
		})
	}
	if _, err := svc.Catalog(ctx, registry.PageRequest{N: -1, Limited: true}, nil); err == nil {
		t.Fatal("negative n accepted")
	} else {
		isErr(t, "negative n", err, registry.ErrPaginationInvalid)
	}
}

func TestTagsOfUnknownAndEmptyRepositories(t *testing.T) {
	svc, st := newService(t, registry.Options{})
	push(t, svc, "blobs-only", []byte("x"))
	_, err := svc.Tags(ctx, "nothing", registry.PageRequest{})
	isErr(t, "tags of an unknown repository", err, registry.ErrNameUnknown)
	_, err = svc.Tags(ctx, "nothing", registry.PageRequest{N: 0, Limited: true})
	isErr(t, "n=0 of an unknown repository", err, registry.ErrNameUnknown)
	_, err = svc.Tags(ctx, "Bad", registry.PageRequest{})
	isErr(t, "tags of an invalid name", err, registry.ErrNameInvalid)
	for _, p := range []registry.PageRequest{{}, {N: 0, Limited: true}} {
		pg, err := svc.Tags(ctx, "blobs-only", p)
		if err != nil || pg.Items == nil || len(pg.Items) != 0 || pg.More {
			t.Fatalf("tags of a repository without tags (%+v): %+v, %v; want an empty page", p, pg, err)
		}
	}
	if ok, err := st.meta.RepositoryExists(ctx, "blobs-only"); !ok || err != nil {
		t.Fatalf("the repository should exist: %v, %v", ok, err)
	}
	if !slices.Equal([]string{"blobs-only"}, mustCatalog(t, svc)) {
		t.Fatal("catalog does not list the repository")
	}
}

func mustCatalog(t *testing.T, svc *registry.Service) []string {
	t.Helper()
	pg, err := svc.Catalog(ctx, registry.PageRequest{}, nil)
	must(t, err)
	return pg.Items
}
