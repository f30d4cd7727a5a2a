package httpapi_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/httpapi"
	"github.com/berth-registry/berth/internal/lifecycle"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/testenv"
)

// newImmutableServer runs the API with deletes on and tags v* of every repository
// immutable.
func newImmutableServer(t *testing.T) client {
	t.Helper()
	meta, blobs := testenv.EmbeddedStores(t)
	im, err := lifecycle.NewImmutable([]lifecycle.ImmutableRule{{Name: "releases", Repositories: []string{"**"}, Tags: []string{"v*"}}})
	if err != nil {
		t.Fatal(err)
	}
	meta.UseImmutableRules(im)
	log := slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(httpapi.New(registry.New(meta, blobs, log, registry.Options{DeleteEnabled: true, MaxPageSize: 3}), log, nil))
	t.Cleanup(srv.Close)
	return client{t, srv.URL}
}

type historyPage struct {
	Name, Tag string
	History   []struct {
		ID             int64
		Old, New       digest.Digest
		Actor, Replica string
		Time           string
	}
}

func (c client) history(path string) (historyPage, string) {
	c.t.Helper()
	resp := c.do("GET", path, nil)
	expect(c.t, resp, 200, "")
	var p historyPage
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &p); err != nil || resp.Header.Get("Content-Type") != "application/json" {
		c.t.Fatalf("%s: %v %q", path, err, raw)
	}
	if p.History == nil {
		c.t.Fatalf("%s: history is null: %s", path, raw)
	}
	return p, resp.Header.Get("Link")
}

// TestUntagRemovesTheTagOnly: DELETE of a tag (the distribution-spec's "delete tag")
// leaves the manifest, its other tags and its digest reference alone.
func TestUntagRemovesTheTagOnly(t *testing.T) {
	c := newImmutableServer(t)
	d, body := c.pushImage("r", "latest", "")
	expect(t, c.do("PUT", "/v2/r/manifests/"+d.String()+"?tag=stable", body, "Content-Type", "application/vnd.oci.image.manifest.v1+json"), 201, "")
	expect(t, c.do("DELETE", "/v2/r/manifests/latest", nil), 202, "")
	expect(t, c.do("GET", "/v2/r/manifests/latest", nil), 404, "MANIFEST_UNKNOWN")
	expect(t, c.do("GET", "/v2/r/manifests/"+d.String(), nil), 200, "")
	expect(t, c.do("GET", "/v2/r/manifests/stable", nil), 200, "")
	if tags, _ := tagsPage(t, c, "/v2/r/tags/list"); strings.Join(tags, ",") != "stable" {
		t.Fatalf("tags after the untag: %v", tags)
	}
	expect(t, c.do("DELETE", "/v2/r/manifests/latest", nil), 404, "MANIFEST_UNKNOWN")
	p, _ := c.history("/berth/v1/repositories/r/tags/latest/history")
	if len(p.History) != 2 || p.History[0].New != "" || p.History[0].Old != d || p.History[1].New != d {
		t.Fatalf("history of the untagged tag: %+v", p)
	}
}

func TestImmutableTagRefusalsAre409Denied(t *testing.T) {
	c := newImmutableServer(t)
	d, _ := c.pushImage("apps/web", "v1.0", "")
	c.pushImage("apps/web", "v1.0", "") // the same bytes again: no move, accepted
	_, other := c.pushImage("apps/web", "latest", `,"annotations":{"build":"2"}`)
	for _, req := range []struct{ method, path string }{
		{"PUT", "/v2/apps/web/manifests/v1.0"},
		{"DELETE", "/v2/apps/web/manifests/v1.0"},
		{"DELETE", "/v2/apps/web/manifests/" + d.String()},
	} {
		var body []byte
		if req.method == "PUT" {
			body = other
		}
		resp := c.do(req.method, req.path, body, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
		if resp.StatusCode != 409 {
			t.Fatalf("%s %s: %d, want 409", req.method, req.path, resp.StatusCode)
		}
		var e struct {
			Errors []struct{ Code, Message string }
		}
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || len(e.Errors) != 1 || e.Errors[0].Code != "DENIED" ||
			!strings.Contains(e.Errors[0].Message, "rule releases") || !strings.Contains(e.Errors[0].Message, d.String()) {
			t.Fatalf("%s %s: %+v, want DENIED naming the rule and the digest kept", req.method, req.path, e)
		}
	}
	expect(t, c.do("GET", "/v2/apps/web/manifests/v1.0", nil), 200, "")
	// The override needs an admin, and without access control there is none.
	expect(t, c.do("DELETE", "/v2/apps/web/manifests/v1.0?override=immutable", nil), 403, "DENIED")
	expect(t, c.do("DELETE", "/v2/apps/web/manifests/v1.0?override=everything", nil), 400, "UNSUPPORTED")
}

func TestTagHistoryPagesNewestFirstWithALink(t *testing.T) {
	c := newImmutableServer(t)
	var pushed []digest.Digest
	for i := range 5 {
		d, _ := c.pushImage("team/app", "latest", fmt.Sprintf(`,"annotations":{"build":"%d"}`, i))
		pushed = append(pushed, d)
	}
	// No n: the maximum page (3 here), and a Link to the rest.
	var got []digest.Digest
	path := "/berth/v1/repositories/team/app/tags/latest/history"
	for pages := 0; path != ""; pages++ {
		if pages > 3 {
			t.Fatal("the Link never ends")
		}
		p, link := c.history(path)
		if p.Name != "team/app" || p.Tag != "latest" {
			t.Fatalf("page of %s:%s", p.Name, p.Tag)
		}
		for _, h := range p.History {
			got = append(got, h.New)
		}
		path = ""
		if link != "" {
			path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
		}
	}
	if len(got) != 5 {
		t.Fatalf("walked %d changes, want 5", len(got))
	}
	for i, d := range got {
		if d != pushed[4-i] {
			t.Fatalf("change %d took %s, want %s (newest first)", i, d, pushed[4-i])
		}
	}
	p, link := c.history("/berth/v1/repositories/team/app/tags/latest/history?n=2")
	if len(p.History) != 2 || link != fmt.Sprintf(`</berth/v1/repositories/team/app/tags/latest/history?last=%d&n=2>; rel="next"`, p.History[1].ID) {
		t.Fatalf("n=2: %d changes, Link %q", len(p.History), link)
	}
	if p, link := c.history("/berth/v1/repositories/team/app/tags/never/history"); len(p.History) != 0 || link != "" {
		t.Fatalf("a tag that never existed: %+v %q", p, link)
	}
	if p, _ := c.history("/berth/v1/repositories/team/app/tags/latest/history?n=0"); len(p.History) != 0 {
		t.Fatalf("n=0: %+v", p)
	}
	expect(t, c.do("GET", "/berth/v1/repositories/team/none/tags/latest/history", nil), 404, "NAME_UNKNOWN")
	expect(t, c.do("GET", "/berth/v1/repositories/Team/tags/latest/history", nil), 400, "NAME_INVALID")
	expect(t, c.do("GET", "/berth/v1/repositories/team/app/tags/latest/history?last=x", nil), 400, "UNSUPPORTED")
	expect(t, c.do("GET", "/berth/v1/repositories/team/app/tags/.bad/history", nil), 404, "MANIFEST_UNKNOWN")
	expect(t, c.do("DELETE", "/berth/v1/repositories/team/app/tags/latest/history", nil), 405, "UNSUPPORTED")
	expect(t, c.do("GET", "/berth/v1/repositories/team/app/tags/latest", nil), 404, "UNSUPPORTED")
}
