package httpapi

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
)

func TestParseRouteSplitsNamesWithSlashesByShape(t *testing.T) {
	tests := []struct {
		path string
		want route
		err  error
	}{
		{"/v2/", route{kind: RoutePing}, nil},
		{"/v2/_catalog", route{kind: RouteCatalog}, nil},
		{"/v2/a/manifests/latest", route{RouteManifest, "a", "latest"}, nil},
		{"/v2/a/b/c/manifests/sha256:abc", route{RouteManifest, "a/b/c", "sha256:abc"}, nil},
		{"/v2/a/manifests/manifests/x", route{RouteManifest, "a/manifests", "x"}, nil},
		{"/v2/a/blobs/sha256:abc", route{RouteBlob, "a", "sha256:abc"}, nil},
		{"/v2/a/blobs/blobs/sha256:abc", route{RouteBlob, "a/blobs", "sha256:abc"}, nil},
		{"/v2/a/blobs/uploads/", route{RouteUploads, "a", ""}, nil},
		{"/v2/a/blobs/uploads", route{RouteUploads, "a", ""}, nil},
		{"/v2/a/blobs/uploads/ID1", route{RouteUpload, "a", "ID1"}, nil},
		{"/v2/x/blobs/uploads/blobs/sha256:abc", route{RouteBlob, "x/blobs/uploads", "sha256:abc"}, nil},
		{"/v2/x/manifests/blobs/uploads/ID", route{RouteUpload, "x/manifests", "ID"}, nil},
		{"/v2/a/tags/list", route{RouteTags, "a", ""}, nil},
		{"/v2/a/manifests/tags/list", route{RouteTags, "a/manifests", ""}, nil},
		{"/v2/a/tags/manifests/list", route{RouteManifest, "a/tags", "list"}, nil},
		{"/v2/a/referrers/sha256:abc", route{RouteReferrers, "a", "sha256:abc"}, nil},
		{"/v2/a/unknown/x", route{}, errNotFound},
		{"/v2/a", route{}, errNotFound},
		{"/v2/_catalog/", route{}, errNotFound},
		{"/v3/a/manifests/x", route{}, errNotFound},
		// The shape is known, the name is not one: the kind stays for metrics and limits.
		{"/v2/A/manifests/x", route{RouteManifest, "A", "x"}, registry.ErrNameInvalid},
		{"/v2//manifests/x", route{RouteManifest, "", "x"}, registry.ErrNameInvalid},
		{"/v2/a//blobs/uploads/", route{RouteUploads, "a/", ""}, registry.ErrNameInvalid},
		{"/v2/../tags/list", route{RouteTags, "..", ""}, registry.ErrNameInvalid},
		// Berth's own API: the tag history, names with slashes split the same way.
		{"/berth/v1/repositories/a/b/tags/v1/history", route{RouteTagHistory, "a/b", "v1"}, nil},
		{"/berth/v1/repositories/a/tags/tags/x/history", route{RouteTagHistory, "a/tags", "x"}, nil},
		{"/berth/v1/repositories/a/tags//history", route{}, errNotFound},
		{"/berth/v1/repositories/a/tags/v1", route{}, errNotFound},
		{"/berth/v1/repositories/tags/v1/history", route{}, errNotFound},
		{"/berth/v1/repositories/A/tags/v1/history", route{RouteTagHistory, "A", "v1"}, registry.ErrNameInvalid},
		{"/berth/v2/repositories/a/tags/v1/history", route{}, errNotFound},
	}
	for _, tt := range tests {
		got, err := parseRoute(tt.path)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("parseRoute(%q) = %+v, %v; want %+v, %v", tt.path, got, err, tt.want, tt.err)
		}
		if k := Classify(tt.path); k != tt.want.kind {
			t.Errorf("Classify(%q) = %v, want %v", tt.path, k, tt.want.kind)
		}
	}
}

// TestEndpointTableIsConsistent checks the table itself: one handler per (kind, method),
// every kind reachable, only methods the Allow order knows.
func TestEndpointTableIsConsistent(t *testing.T) {
	seen := map[RouteKind]map[string]bool{}
	for _, e := range endpoints {
		if e.handle == nil {
			t.Errorf("%v %s has no handler", e.kind, e.method)
		}
		if seen[e.kind] == nil {
			seen[e.kind] = map[string]bool{}
		}
		if seen[e.kind][e.method] {
			t.Errorf("%v %s is in the table twice", e.kind, e.method)
		}
		seen[e.kind][e.method] = true
		if !strings.Contains(strings.Join(methodOrder, " "), e.method) {
			t.Errorf("%v %s: method missing from methodOrder", e.kind, e.method)
		}
	}
	for k := RoutePing; k <= RouteTagHistory; k++ {
		if len(seen[k]) == 0 {
			t.Errorf("kind %d (%v) has no endpoint", k, k)
		}
		if k.String() == "" {
			t.Errorf("kind %d has no name", k)
		}
	}
}

func TestAllowListsMethodsInAFixedOrder(t *testing.T) {
	tests := []struct {
		kind RouteKind
		want string
	}{
		{RoutePing, "GET, HEAD"},
		{RouteCatalog, "GET"},
		{RouteManifest, "GET, HEAD, PUT, DELETE"},
		{RouteBlob, "GET, HEAD, DELETE"},
		{RouteUploads, "POST"},
		{RouteUpload, "GET, PUT, PATCH, DELETE"},
		{RouteReferrers, "GET"},
		{RouteTagHistory, "GET, HEAD"},
	}
	for _, tt := range tests {
		for range 20 { // a map-ordered answer would differ between calls
			if _, got, ok := lookup(tt.kind, "OPTIONS"); ok || got != tt.want {
				t.Fatalf("Allow for %v = %q, %v; want %q", tt.kind, got, ok, tt.want)
			}
		}
	}
	if e, _, ok := lookup(RouteManifest, http.MethodPut); !ok || e.need != actPush {
		t.Errorf("PUT manifest: %+v, %v; want a push endpoint", e, ok)
	}
}

// FuzzParseRoute checks the invariants of routing on any path: it never panics; a route
// it accepts names a valid repository (or none, for ping and catalog); a rejection is
// either "nothing here" or an invalid name; and an accepted route written back as a path
// parses to the same route. Its seeds are in testdata/fuzz/FuzzParseRoute.
func FuzzParseRoute(f *testing.F) {
	f.Fuzz(func(t *testing.T, path string) {
		rt, err := parseRoute(path)
		if k := Classify(path); k != rt.kind {
			t.Fatalf("Classify(%q) = %v, parseRoute says %v", path, k, rt.kind)
		}
		if err != nil {
			if !errors.Is(err, errNotFound) && !errors.Is(err, registry.ErrNameInvalid) {
				t.Fatalf("parseRoute(%q): unexpected error %v", path, err)
			}
			if errors.Is(err, errNotFound) && rt != (route{}) {
				t.Fatalf("parseRoute(%q) rejected the path but returned %+v", path, rt)
			}
			return
		}
		switch rt.kind {
		case RoutePing, RouteCatalog:
			if rt.name != "" || rt.arg != "" {
				t.Fatalf("parseRoute(%q) = %+v: ping and catalog have no name", path, rt)
			}
		case RouteNone:
			t.Fatalf("parseRoute(%q) accepted a route of no kind", path)
		default:
			if !oci.ValidRepository(rt.name) {
				t.Fatalf("parseRoute(%q) accepted the invalid name %q", path, rt.name)
			}
		}
		back, err := parseRoute(rt.path())
		if err != nil || back != rt {
			t.Fatalf("parseRoute(%q) = %+v, but its path %q parses as %+v, %v", path, rt, rt.path(), back, err)
		}
	})
}
