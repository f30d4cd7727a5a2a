package httpapi

import "testing"

func TestParseRouteSplitsNamesWithSlashesByShape(t *testing.T) {
	tests := []struct {
		path string
		want route
		ok   bool
	}{
		{"/v2/", route{kind: "ping"}, true},
		{"/v2/_catalog", route{kind: "catalog"}, true},
		{"/v2/a/manifests/latest", route{"manifest", "a", "latest"}, true},
		{"/v2/a/b/c/manifests/sha256:abc", route{"manifest", "a/b/c", "sha256:abc"}, true},
		{"/v2/a/manifests/manifests/x", route{"manifest", "a/manifests", "x"}, true},
		{"/v2/a/blobs/sha256:abc", route{"blob", "a", "sha256:abc"}, true},
		{"/v2/a/blobs/blobs/sha256:abc", route{"blob", "a/blobs", "sha256:abc"}, true},
		{"/v2/a/blobs/uploads/", route{"upload", "a", ""}, true},
		{"/v2/a/blobs/uploads", route{"upload", "a", ""}, true},
		{"/v2/a/blobs/uploads/ID1", route{"upload", "a", "ID1"}, true},
		{"/v2/x/blobs/uploads/blobs/sha256:abc", route{"blob", "x/blobs/uploads", "sha256:abc"}, true},
		{"/v2/x/manifests/blobs/uploads/ID", route{"upload", "x/manifests", "ID"}, true},
		{"/v2/a/tags/list", route{"tags", "a", ""}, true},
		{"/v2/a/manifests/tags/list", route{"tags", "a/manifests", ""}, true},
		{"/v2/a/tags/manifests/list", route{"manifest", "a/tags", "list"}, true},
		{"/v2/a/referrers/sha256:abc", route{"referrers", "a", "sha256:abc"}, true},
		{"/v2/a/unknown/x", route{}, false},
		{"/v2/a", route{}, false},
		{"/v3/a/manifests/x", route{}, false},
	}
	for _, tt := range tests {
		got, ok := parseRoute(tt.path)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseRoute(%q) = %+v, %v; want %+v, %v", tt.path, got, ok, tt.want, tt.ok)
		}
	}
}
