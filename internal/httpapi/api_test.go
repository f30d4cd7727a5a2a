package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/httpapi"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/testenv"
)

// newServer runs the API over real stores in a temporary directory.
func newServer(t *testing.T, opts registry.Options) *httptest.Server {
	t.Helper()
	meta, blobs := testenv.EmbeddedStores(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := httptest.NewServer(httpapi.New(registry.New(meta, blobs, log, opts), log, nil))
	t.Cleanup(srv.Close)
	return srv
}

type client struct {
	t   *testing.T
	url string
}

func (c client) do(method, path string, body []byte, headers ...string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func expect(t *testing.T, resp *http.Response, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: status %d, want %d (%s)", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, b)
	}
	if code == "" {
		return
	}
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || len(e.Errors) == 0 || e.Errors[0].Code != code {
		t.Fatalf("%s %s: error body %+v (%v), want code %s", resp.Request.Method, resp.Request.URL.Path, e, err, code)
	}
}

// pushBlob uploads data monolithically into repo.
func (c client) pushBlob(repo string, data []byte) digest.Digest {
	c.t.Helper()
	d := digest.FromBytes(data)
	expect(c.t, c.do("POST", "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), data), 201, "")
	return d
}

// pushImage pushes a config and layer and a manifest referring to them under ref.
func (c client) pushImage(repo, ref string, extra string) (digest.Digest, []byte) {
	c.t.Helper()
	cfg := c.pushBlob(repo, []byte(`{"os":"linux","architecture":"amd64","config":{"Labels":{"k":"v"}}}`))
	layer := c.pushBlob(repo, []byte("layer of "+ref))
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":66},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":10}]%s}`, cfg, layer, extra))
	expect(c.t, c.do("PUT", "/v2/"+repo+"/manifests/"+ref, m, "Content-Type", "application/vnd.oci.image.manifest.v1+json"), 201, "")
	return digest.FromBytes(m), m
}

func TestChunkedUploadEnforcesOrderAndSurvives416(t *testing.T) {
	c := client{t, newServer(t, registry.Options{}).URL}
	resp := c.do("POST", "/v2/a/blobs/uploads/", nil)
	expect(t, resp, 202, "")
	loc := resp.Header.Get("Location")
	if resp.Header.Get("Range") != "0-0" || !strings.HasPrefix(loc, "/v2/a/blobs/uploads/") {
		t.Fatalf("start: Location %q Range %q", loc, resp.Header.Get("Range"))
	}
	resp = c.do("PATCH", loc, []byte("hello "), "Content-Range", "0-5", "Content-Type", "application/octet-stream")
	expect(t, resp, 202, "")
	if resp.Header.Get("Range") != "0-5" {
		t.Fatalf("Range after first chunk %q", resp.Header.Get("Range"))
	}
	// A chunk that skips ahead is refused, and the session keeps its state.
	resp = c.do("PATCH", loc, []byte("world"), "Content-Range", "10-14")
	expect(t, resp, 416, "BLOB_UPLOAD_INVALID")
	if resp.Header.Get("Range") != "0-5" || resp.Header.Get("Location") == "" {
		t.Fatalf("416 without resumable state: %v", resp.Header)
	}
	resp = c.do("GET", loc, nil)
	expect(t, resp, 204, "")
	if resp.Header.Get("Range") != "0-5" {
		t.Fatalf("status Range %q", resp.Header.Get("Range"))
	}
	// Content-Range disagreeing with the body length is refused too.
	expect(t, c.do("PATCH", loc, []byte("wor"), "Content-Range", "6-10"), 416, "BLOB_UPLOAD_INVALID")
	expect(t, c.do("PATCH", loc, []byte("world"), "Content-Range", "6-10"), 202, "")
	want := digest.FromString("hello world")
	expect(t, c.do("PUT", loc+"?digest="+digest.FromString("wrong").String(), nil), 400, "DIGEST_INVALID")
	// The wrong digest ended the session.
	expect(t, c.do("GET", loc, nil), 404, "BLOB_UPLOAD_UNKNOWN")

	resp = c.do("POST", "/v2/a/blobs/uploads/", nil)
	loc = resp.Header.Get("Location")
	expect(t, c.do("PATCH", loc, []byte("hello "), "Content-Range", "0-5"), 202, "")
	resp = c.do("PUT", loc+"?digest="+want.String(), []byte("world"), "Content-Range", "6-10")
	expect(t, resp, 201, "")
	if resp.Header.Get("Docker-Content-Digest") != want.String() || resp.Header.Get("Location") != "/v2/a/blobs/"+want.String() {
		t.Fatalf("finish headers %v", resp.Header)
	}
	resp = c.do("GET", "/v2/a/blobs/"+want.String(), nil)
	expect(t, resp, 200, "")
	if b, _ := io.ReadAll(resp.Body); string(b) != "hello world" {
		t.Fatalf("blob %q", b)
	}
}

func TestStreamedUploadWithSha512(t *testing.T) {
	c := client{t, newServer(t, registry.Options{}).URL}
	data := []byte("sha512 streamed content")
	d := digest.SHA512.FromBytes(data)
	// The session is hashed with sha256 (nothing said otherwise); finishing with a sha512
	// digest still verifies.
	resp := c.do("POST", "/v2/a/blobs/uploads/", nil)
	loc := resp.Header.Get("Location")
	expect(t, c.do("PATCH", loc, data), 202, "")
	expect(t, c.do("PUT", loc+"?digest="+d.String(), nil), 201, "")
	resp = c.do("HEAD", "/v2/a/blobs/"+d.String(), nil)
	expect(t, resp, 200, "")
	if resp.ContentLength != int64(len(data)) || resp.Header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("HEAD %d %v", resp.ContentLength, resp.Header)
	}
	resp = c.do("POST", "/v2/a/blobs/uploads/?digest-algorithm=sha512", nil)
	expect(t, resp, 202, "")
	expect(t, c.do("POST", "/v2/a/blobs/uploads/?digest-algorithm=md5", nil), 400, "DIGEST_INVALID")
}

func TestBlobRanges(t *testing.T) {
	c := client{t, newServer(t, registry.Options{}).URL}
	d := c.pushBlob("a", []byte("0123456789"))
	tests := []struct {
		rng, body, contentRange string
		status                  int
	}{
		{"bytes=2-4", "234", "bytes 2-4/10", 206},
		{"bytes=7-", "789", "bytes 7-9/10", 206},
		{"bytes=-2", "89", "bytes 8-9/10", 206},
		{"bytes=10-", "", "bytes */10", 416},
		{"bytes=5-1", "", "bytes */10", 416},
		{"lines=1-2", "0123456789", "", 200},
	}
	for _, tt := range tests {
		resp := c.do("GET", "/v2/a/blobs/"+d.String(), nil, "Range", tt.rng)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tt.status || resp.Header.Get("Content-Range") != tt.contentRange || (tt.status != 416 && string(b) != tt.body) {
			t.Errorf("Range %s: %d %q %q", tt.rng, resp.StatusCode, resp.Header.Get("Content-Range"), b)
		}
		if tt.status == 416 && !bytes.Contains(b, []byte(`"errors"`)) {
			t.Errorf("Range %s: 416 without an error body", tt.rng)
		}
	}
}

func TestMountWithAndWithoutFrom(t *testing.T) {
	c := client{t, newServer(t, registry.Options{}).URL}
	d := c.pushBlob("src", []byte("shared"))
	resp := c.do("POST", "/v2/dst/blobs/uploads/?mount="+d.String()+"&from=src", nil)
	expect(t, resp, 201, "")
	if resp.Header.Get("Location") != "/v2/dst/blobs/"+d.String() {
		t.Fatalf("mount Location %q", resp.Header.Get("Location"))
	}
	expect(t, c.do("POST", "/v2/other/blobs/uploads/?mount="+d.String(), nil), 201, "")
	// A blob the source does not hold: a normal upload session instead.
	expect(t, c.do("POST", "/v2/dst2/blobs/uploads/?mount="+d.String()+"&from=nothere", nil), 202, "")
	expect(t, c.do("POST", "/v2/dst2/blobs/uploads/?mount="+digest.FromString("unknown").String(), nil), 202, "")
}

func TestManifestsExactBytesTagsAndSubject(t *testing.T) {
	c := client{t, newServer(t, registry.Options{DeleteEnabled: true}).URL}
	d, body := c.pushImage("r", "v1", "")
	resp := c.do("GET", "/v2/r/manifests/v1", nil)
	expect(t, resp, 200, "")
	got, _ := io.ReadAll(resp.Body)
	if !bytes.Equal(got, body) || resp.Header.Get("Content-Type") != "application/vnd.oci.image.manifest.v1+json" ||
		resp.Header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("GET manifest: %q %v", got, resp.Header)
	}
	resp = c.do("HEAD", "/v2/r/manifests/"+d.String(), nil)
	expect(t, resp, 200, "")
	if resp.ContentLength != int64(len(body)) {
		t.Fatalf("HEAD Content-Length %d", resp.ContentLength)
	}
	// Push by digest with tags as parameters.
	resp = c.do("PUT", "/v2/r/manifests/"+d.String()+"?tag=a&tag=b", body, "Content-Type", "application/vnd.oci.image.manifest.v1+json")
	expect(t, resp, 201, "")
	if tags := resp.Header.Values("OCI-Tag"); strings.Join(tags, ",") != "a,b" {
		t.Fatalf("OCI-Tag %v", tags)
	}
	// A referrer with a subject.
	sig, _ := c.pushImage("r", "sig", fmt.Sprintf(`,"artifactType":"application/x-sig","subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d}`, d, len(body)))
	resp = c.do("GET", "/v2/r/referrers/"+d.String()+"?artifactType=application/x-sig", nil)
	expect(t, resp, 200, "")
	var idx struct {
		Manifests []struct {
			Digest       digest.Digest
			ArtifactType string
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil || len(idx.Manifests) != 1 || idx.Manifests[0].Digest != sig ||
		resp.Header.Get("OCI-Filters-Applied") != "artifactType" || resp.Header.Get("Content-Type") != "application/vnd.oci.image.index.v1+json" {
		t.Fatalf("referrers %+v %v %v", idx, err, resp.Header)
	}
	// Deletes are visible at once.
	expect(t, c.do("DELETE", "/v2/r/manifests/a", nil), 202, "")
	expect(t, c.do("GET", "/v2/r/manifests/a", nil), 404, "MANIFEST_UNKNOWN")
	expect(t, c.do("DELETE", "/v2/r/manifests/"+d.String(), nil), 202, "")
	expect(t, c.do("GET", "/v2/r/manifests/v1", nil), 404, "MANIFEST_UNKNOWN")
	expect(t, c.do("GET", "/v2/r/manifests/"+d.String(), nil), 404, "MANIFEST_UNKNOWN")
}

// A config known (and cached) from one repository does not let a manifest of another
// repository that lacks the blob through.
func TestManifestConfigOfAnotherRepository(t *testing.T) {
	c := client{t, newServer(t, registry.Options{}).URL}
	_, m := c.pushImage("a", "v1", "")
	c.pushBlob("b", []byte("layer of v1")) // the layer, not the config
	expect(t, c.do("PUT", "/v2/b/manifests/v1", m, "Content-Type", "application/vnd.oci.image.manifest.v1+json"), 400, "MANIFEST_BLOB_UNKNOWN")
	expect(t, c.do("GET", "/v2/b/manifests/v1", nil), 404, "MANIFEST_UNKNOWN")
}

func TestManifestErrors(t *testing.T) {
	c := client{t, newServer(t, registry.Options{}).URL}
	missing := fmt.Sprintf(`{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[]}`, digest.FromString("absent"))
	ct := []string{"Content-Type", "application/vnd.oci.image.manifest.v1+json"}
	expect(t, c.do("PUT", "/v2/r/manifests/t", []byte(missing), ct...), 400, "MANIFEST_BLOB_UNKNOWN")
	expect(t, c.do("PUT", "/v2/r/manifests/t", []byte(`{"schemaVersion":2}`), ct...), 400, "MANIFEST_INVALID")
	expect(t, c.do("PUT", "/v2/r/manifests/"+digest.FromString("x").String(), []byte(missing), ct...), 400, "DIGEST_INVALID")
	expect(t, c.do("PUT", "/v2/r/manifests/.bad", []byte(missing), ct...), 400, "MANIFEST_INVALID")
	big := append([]byte(`{"schemaVersion":2,"x":"`), bytes.Repeat([]byte("a"), 4<<20)...)
	expect(t, c.do("PUT", "/v2/r/manifests/t", big, ct...), 413, "SIZE_INVALID")
	expect(t, c.do("GET", "/v2/r/manifests/.bad", nil), 404, "MANIFEST_UNKNOWN")
	expect(t, c.do("GET", "/v2/r/manifests/sha256:zz", nil), 400, "DIGEST_INVALID")
	expect(t, c.do("GET", "/v2/r/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", nil), 400, "DIGEST_INVALID")
	expect(t, c.do("GET", "/v2/Upper/tags/list", nil), 400, "NAME_INVALID")
	expect(t, c.do("GET", "/v2/nope/tags/list", nil), 404, "NAME_UNKNOWN")
	expect(t, c.do("GET", "/v2/r/blobs/"+digest.FromString("x").String(), nil), 404, "BLOB_UNKNOWN")
	expect(t, c.do("PATCH", "/v2/r/blobs/uploads/nosuchsession", []byte("x")), 404, "BLOB_UPLOAD_UNKNOWN")
	expect(t, c.do("POST", "/v2/r/manifests/t", nil), 405, "UNSUPPORTED")
	// Deletes are off in these options.
	expect(t, c.do("DELETE", "/v2/r/manifests/t", nil), 405, "UNSUPPORTED")
	expect(t, c.do("DELETE", "/v2/r/blobs/"+digest.FromString("x").String(), nil), 405, "UNSUPPORTED")
}

func tagsPage(t *testing.T, c client, path string) ([]string, string) {
	t.Helper()
	resp := c.do("GET", path, nil)
	expect(t, resp, 200, "")
	var body struct{ Tags []string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.Tags == nil {
		t.Fatalf("%s: tags is null", path)
	}
	return body.Tags, resp.Header.Get("Link")
}

func TestTagsPagination(t *testing.T) {
	c := client{t, newServer(t, registry.Options{MaxPageSize: 4}).URL}
	_, body := c.pushImage("r", "t0", "")
	d := digest.FromBytes(body)
	var query []string
	for _, tag := range []string{"b", "a", "B", "_z", "c1", "c2"} {
		query = append(query, "tag="+tag)
	}
	expect(t, c.do("PUT", "/v2/r/manifests/"+d.String()+"?"+strings.Join(query, "&"), body, "Content-Type", "application/vnd.oci.image.manifest.v1+json"), 201, "")
	all := "B,_z,a,b,c1,c2,t0"
	tests := []struct {
		path, tags, link string
	}{
		{"/v2/r/tags/list", all, ""}, // no n: everything, no Link, whatever the page limit
		{"/v2/r/tags/list?n=2", "B,_z", `</v2/r/tags/list?last=_z&n=2>; rel="next"`},
		{"/v2/r/tags/list?n=2&last=_z", "a,b", `</v2/r/tags/list?last=b&n=2>; rel="next"`},
		{"/v2/r/tags/list?n=100", "B,_z,a,b", `</v2/r/tags/list?last=b&n=4>; rel="next"`}, // clamped, with Link
		{"/v2/r/tags/list?n=3&last=b", "c1,c2,t0", ""},                                    // exactly full final page: no Link
		{"/v2/r/tags/list?n=0", "", ""},
		{"/v2/r/tags/list?last=c", "c1,c2,t0", ""}, // last need not be a tag
		{"/v2/r/tags/list?last=zzz&n=5", "", ""},
	}
	for _, tt := range tests {
		tags, link := tagsPage(t, c, tt.path)
		if strings.Join(tags, ",") != tt.tags || link != tt.link {
			t.Errorf("%s: tags %v link %q; want %s, %q", tt.path, tags, link, tt.tags, tt.link)
		}
	}
	expect(t, c.do("GET", "/v2/r/tags/list?n=-1", nil), 400, "UNSUPPORTED")
	expect(t, c.do("GET", "/v2/r/tags/list?n=ten", nil), 400, "UNSUPPORTED")

	resp := c.do("GET", "/v2/_catalog?n=1", nil)
	expect(t, resp, 200, "")
	if resp.Header.Get("Link") != "" {
		t.Fatalf("one repository, one page: Link %q", resp.Header.Get("Link"))
	}
}

// TestPathsThatAddressNothingAnswer404WithASpecCode: no code outside the spec's list
// (Berth once answered NOT_FOUND), and the same answer for every method and shape.
func TestPathsThatAddressNothingAnswer404WithASpecCode(t *testing.T) {
	c := client{t, newServer(t, registry.Options{}).URL}
	for _, p := range []string{"/v2/r", "/v2/r/unknown/x", "/v2/_catalog/x", "/v2/_oci/ext/discover", "/v2/r/blobs"} {
		for _, m := range []string{"GET", "HEAD", "PUT", "DELETE"} {
			resp := c.do(m, p, nil)
			if m == "HEAD" {
				expect(t, resp, 404, "")
				continue
			}
			expect(t, resp, 404, "UNSUPPORTED")
		}
	}
}

func TestMethodNotAllowedListsTheRouteMethodsInOrder(t *testing.T) {
	c := client{t, newServer(t, registry.Options{}).URL}
	tests := []struct{ method, path, allow string }{
		{"POST", "/v2/r/manifests/t", "GET, HEAD, PUT, DELETE"},
		{"PATCH", "/v2/r/blobs/" + digest.FromString("x").String(), "GET, HEAD, DELETE"},
		{"GET", "/v2/r/blobs/uploads/", "POST"},
		{"POST", "/v2/r/blobs/uploads/some-id", "GET, PUT, PATCH, DELETE"},
		{"DELETE", "/v2/", "GET, HEAD"},
		{"PUT", "/v2/r/tags/list", "GET"},
	}
	for _, tt := range tests {
		for range 5 {
			resp := c.do(tt.method, tt.path, nil)
			expect(t, resp, 405, "UNSUPPORTED")
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Fatalf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.allow)
			}
		}
	}
}
