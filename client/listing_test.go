package client_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-registry/berth/client"
)

// listings are the paginated listings of the client; each must follow Link pages by
// the same rules.
var listings = []struct {
	name string
	list func(c *client.Client, host string) (int, error) // returns how many items
}{
	{"tags", func(c *client.Client, host string) (int, error) {
		tags, err := c.Tags(context.Background(), client.Repository{Host: host, Name: "r"})
		return len(tags), err
	}},
	{"catalog", func(c *client.Client, host string) (int, error) {
		repos, err := c.Catalog(context.Background(), host)
		return len(repos), err
	}},
	{"usage", func(c *client.Client, host string) (int, error) {
		list, err := c.Usages(context.Background(), host)
		return len(list), err
	}},
	{"referrers", func(c *client.Client, host string) (int, error) {
		refs, err := c.Referrers(context.Background(), client.Repository{Host: host, Name: "r"}, subjectDigest, "")
		return len(refs), err
	}},
}

const subjectDigest = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// pageBody answers a page of whichever listing the path asks for, with the items named.
func pageBody(path string, items ...string) string {
	switch {
	case strings.HasSuffix(path, "/tags/list"):
		return `{"name":"r","tags":["` + strings.Join(items, `","`) + `"]}`
	case strings.HasSuffix(path, "/_catalog"):
		return `{"repositories":["` + strings.Join(items, `","`) + `"]}`
	case path == client.UsagePath:
		return `{"namespaces":[{"namespace":"` + strings.Join(items, `"},{"namespace":"`) + `"}]}`
	}
	ds := make([]string, len(items))
	for i, it := range items {
		ds[i] = fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%x","size":%d}`, sha256.Sum256([]byte(it)), len(it))
	}
	return `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + strings.Join(ds, ",") + `]}`
}

// TestListingsFollowLinksByOneRule runs every listing against a TLS registry whose pages
// link badly: to themselves, to a page with nothing new, off the registry, down to plain
// HTTP on the same host, and on without end. Each listing must stop (or fail) after a
// handful of page requests, never follow a link off the registry's origin, and fail at
// the cap.
func TestListingsFollowLinksByOneRule(t *testing.T) {
	cases := []struct {
		name string
		// link is the Link target a page sends, given the request's URL and the count of
		// requests so far; items are the page's items.
		link    func(r *http.Request, n int64) string
		items   func(n int64) []string
		wantErr string
		want    int   // items, when no error
		maxReqs int64 // requests the listing may make
	}{
		{"link to itself", func(r *http.Request, _ int64) string { return r.URL.RequestURI() },
			func(int64) []string { return []string{"a", "b"} }, "", 2, 1},
		{"link to a page with nothing new", func(r *http.Request, n int64) string { return fmt.Sprintf("%s?again=%d", r.URL.Path, n) },
			func(int64) []string { return []string{"a", "b"} }, "", 2, 2},
		{"link off the registry", func(r *http.Request, _ int64) string { return "https://evil.example" + r.URL.Path + "?p=2" },
			func(int64) []string { return []string{"a"} }, "not following it off the registry", 0, 1},
		{"link down to plain HTTP", func(r *http.Request, _ int64) string { return "http://" + r.Host + r.URL.Path + "?p=2" },
			func(int64) []string { return []string{"a"} }, "not following it off the registry", 0, 1},
		{"links without end", func(r *http.Request, n int64) string { return fmt.Sprintf("%s?page=%d", r.URL.Path, n) },
			func(n int64) []string { return []string{fmt.Sprintf("p%d", n)} }, "more than 20 pages", 0, 20},
	}
	for _, l := range listings {
		for _, tt := range cases {
			t.Run(l.name+"/"+tt.name, func(t *testing.T) {
				var reqs atomic.Int64
				srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/v2/" {
						return // the client's scheme probe of a loopback host, not a page
					}
					n := reqs.Add(1)
					w.Header().Set("Link", "<"+tt.link(r, n)+`>; rel="next"`)
					fmt.Fprint(w, pageBody(r.URL.Path, tt.items(n)...))
				}))
				defer srv.Close()
				c := client.New(client.WithHTTPClient(srv.Client()), client.WithMaxPages(20))
				got, err := l.list(c, srv.Listener.Addr().String())
				switch {
				case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				case tt.wantErr == "" && (err != nil || got != tt.want):
					t.Errorf("got %d items, %v; want %d", got, err, tt.want)
				}
				if n := reqs.Load(); n > tt.maxReqs {
					t.Errorf("%d requests, want at most %d", n, tt.maxReqs)
				}
			})
		}
	}
}
