package flatpak

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/appstream"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

func TestAcceptsGzip(t *testing.T) {
	tests := map[string]bool{
		"":                      false,
		"gzip":                  true,
		"GZIP":                  true,
		"x-gzip":                true,
		"deflate, gzip;q=0.5":   true,
		"gzip;q=0":              false,
		"gzip;q=0.0":            false,
		"gzip;Q=0":              false,
		"gzip; q=0.000":         false,
		"gzip ; q = 0":          false,
		"gzip;q=0.001":          true,
		"gzip;q=1.0":            true,
		"gzip;q=2":              false, // not a qvalue
		"gzip;q=abc":            false,
		"gzip;q=NaN":            false,
		"*":                     true,
		"*;q=0":                 false,
		"gzip;q=0, *":           false, // named beats *
		"identity, *;q=0.1":     true,
		"br, deflate":           false,
		"gzip;level=1":          true,
		"gzip;q=0, x-gzip;q=1":  true,
		"compress, gzip;q=0.00": false,
	}
	for header, want := range tests {
		if got := acceptsGzip([]string{header}); got != want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", header, got, want)
		}
	}
	if !acceptsGzip([]string{"br", "gzip"}) {
		t.Error("a second Accept-Encoding header is not read")
	}
}

// FuzzRequestHeaders feeds the two request headers the index parses itself. Whatever
// arrives, gzip is chosen only where the header names it (or "*"), and a tag the client
// sends back, weak or strong, matches its own answer.
func FuzzRequestHeaders(f *testing.F) {
	for _, s := range []string{"gzip", "gzip;q=0.0", "gzip;Q=0", "*;q=0.5, gzip;q=0", "x-gzip; q=1.000", "gzip;q=", ";;,,", `W/"a", "b"`, "*"} {
		f.Add(s, `"0123abcd"`)
	}
	f.Fuzz(func(t *testing.T, header, etag string) {
		if acceptsGzip([]string{header}) {
			if l := strings.ToLower(header); !strings.Contains(l, "gzip") && !strings.Contains(l, "*") {
				t.Fatalf("gzip chosen for Accept-Encoding %q", header)
			}
		}
		etagMatch([]string{header}, etag) // must not panic on anything
		if tag := `"` + strings.Map(func(r rune) rune {
			if r == '"' || r == ',' || r == ' ' || r < 0x21 || r == 0x7f {
				return -1
			}
			return r
		}, etag) + `"`; !etagMatch([]string{tag}, tag) || !etagMatch([]string{"W/" + tag}, tag) {
			t.Fatalf("the tag %s does not match itself", tag)
		}
	})
}

func TestGzipAnswersHaveTheirOwnETagAnd304sRepeatHeaders(t *testing.T) {
	h := newTestHandler(t, fixture(t), nil)
	const q = "/index/static?label:org.flatpak.ref:exists=1"
	plain := get(t, h, q)
	zipped := get(t, h, q, "Accept-Encoding", "gzip")
	pe, ze := plain.Header().Get("ETag"), zipped.Header().Get("ETag")
	if pe == "" || ze == "" || pe == ze || zipped.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("ETags %q (identity) and %q (gzip)", pe, ze)
	}
	if refused := get(t, h, q, "Accept-Encoding", "gzip;q=0.0"); refused.Header().Get("Content-Encoding") != "" ||
		refused.Header().Get("ETag") != pe || !bytes.Equal(refused.Body.Bytes(), plain.Body.Bytes()) {
		t.Fatalf("gzip;q=0.0 got %v", refused.Header())
	}
	if plain.Header().Get("Content-Length") != strconv.Itoa(plain.Body.Len()) {
		t.Fatalf("Content-Length %s for %d bytes", plain.Header().Get("Content-Length"), plain.Body.Len())
	}
	zr, err := gzip.NewReader(zipped.Body)
	if err != nil {
		t.Fatal(err)
	}
	if unzipped, _ := io.ReadAll(zr); !bytes.Equal(unzipped, plain.Body.Bytes()) {
		t.Fatal("the gzip form is not the same document")
	}
	for _, tt := range []struct {
		name, inm, encoding, etag string
	}{
		{"identity", pe, "", pe},
		{"gzip", ze, "gzip", ze},
		{"weak, as proxies send it", "W/" + ze, "gzip", ze},
		{"one of a list", `"other", ` + pe, "", pe},
	} {
		rec := get(t, h, q, "If-None-Match", tt.inm, "Accept-Encoding", tt.encoding)
		if rec.Code != http.StatusNotModified || rec.Header().Get("ETag") != tt.etag ||
			rec.Header().Get("Cache-Control") != "public, no-cache" || rec.Body.Len() != 0 {
			t.Errorf("%s: %d, headers %v", tt.name, rec.Code, rec.Header())
		}
	}
	// The identity form's tag does not validate the gzip form, nor the other way round.
	if rec := get(t, h, q, "If-None-Match", pe, "Accept-Encoding", "gzip"); rec.Code != http.StatusOK {
		t.Errorf("identity ETag matched a gzip answer: %d", rec.Code)
	}
	if rec := get(t, h, "/index/dynamic?label:org.flatpak.ref:exists=1", "If-None-Match", pe); rec.Code != http.StatusNotModified ||
		rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("dynamic 304: %d %v", rec.Code, rec.Header())
	}
}

func TestIgnoredParametersAreNamed(t *testing.T) {
	h := newTestHandler(t, fixture(t), nil)
	rec := get(t, h, "/index/static?architectur=amd64&tag=latest")
	if got := rec.Header().Get("Berth-Ignored-Parameters"); got != "architectur" {
		t.Fatalf("Berth-Ignored-Parameters %q", got)
	}
	if rec := get(t, h, "/index/static?label%3Aorg.flatpak.ref%3Aexists=1&architecture=amd64&os=linux&tag=latest"); rec.Header().Get("Berth-Ignored-Parameters") != "" {
		t.Fatal("the real client's query names ignored parameters")
	}
}

func pngOf(t *testing.T, size int) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// store is an empty embedded store with a helper that pushes a Flatpak image as the
// registry records it.
type store struct {
	*sqlite.Store
	t *testing.T
}

func newStore(t *testing.T) *store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &store{s, t}
}

// push stores an amd64 image with labels; extract says whether its App facts are
// extracted (false: as pushed before Berth did). It returns the digest.
func (s *store) push(repo, name string, labels map[string]string, extract bool, alg digest.Algorithm, tags ...string) digest.Digest {
	s.t.Helper()
	ctx := context.Background()
	cfg := digest.FromString(name + "-config")
	if err := s.LinkBlob(ctx, repo, metadata.Blob{Digest: cfg, Size: 1}); err != nil {
		s.t.Fatal(err)
	}
	m := &metadata.Manifest{
		Digest: alg.FromString(name), MediaType: "application/vnd.oci.image.manifest.v1+json", ConfigDigest: cfg,
		ConfigMediaType: "application/vnd.oci.image.config.v1+json", OS: "linux", Architecture: "amd64",
		Labels: labels, Payload: []byte(name), CreatedAt: time.Unix(0, 0), Blobs: []digest.Digest{cfg},
	}
	if extract {
		m.App, _ = appstream.Extract(labels)
	}
	if err := s.PutManifest(ctx, repo, m, tags); err != nil {
		s.t.Fatal(err)
	}
	return m.Digest
}

// results reads an index answer as repository → image digests.
func results(t *testing.T, body []byte) map[string][]string {
	t.Helper()
	var idx struct {
		Results []struct {
			Name   string
			Images []struct{ Digest string }
			Lists  []struct{ Images []struct{ Digest string } }
		}
	}
	if err := json.Unmarshal(body, &idx); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	out := map[string][]string{}
	for _, r := range idx.Results {
		for _, im := range r.Images {
			out[r.Name] = append(out[r.Name], im.Digest)
		}
		for _, l := range r.Lists {
			for _, im := range l.Images {
				out[r.Name] = append(out[r.Name], "list:"+im.Digest)
			}
		}
	}
	return out
}

func TestIndexKeepsOneImagePerArchitectureAndRef(t *testing.T) {
	s := newStore(t)
	ref := map[string]string{metadata.LabelFlatpakRef: "app/org.example.Dup/x86_64/stable"}
	s.push("dup/old", "old", ref, true, digest.SHA256, "latest")
	time.Sleep(2 * time.Millisecond)
	newer := s.push("dup/new", "new", ref, true, digest.SHA256, "latest")
	time.Sleep(2 * time.Millisecond)
	s.push("dup/private", "private", ref, true, digest.SHA256, "latest") // the newest, but hidden
	other := s.push("other", "other", map[string]string{metadata.LabelFlatpakRef: "app/org.example.Other/x86_64/stable"}, true, digest.SHA256, "latest")
	h := NewHandler(s, slog.New(slog.DiscardHandler), Options{Visible: func(r string) bool { return r != "dup/private" }})
	got := results(t, get(t, h, "/index/static?label:org.flatpak.ref:exists=1&tag=latest").Body.Bytes())
	want := map[string][]string{"dup/new": {newer.String()}, "other": {other.String()}}
	if !jsonEqual(got, want) {
		t.Fatalf("answer %v, want %v", got, want)
	}
}

func TestIndexLeavesOutSha512Images(t *testing.T) {
	s := newStore(t)
	ref := func(id string) map[string]string {
		return map[string]string{metadata.LabelFlatpakRef: "app/" + id + "/x86_64/stable"}
	}
	s.push("apps/a", "a512", ref("org.example.A512"), true, digest.SHA512, "latest")
	b := s.push("apps/b", "b256", ref("org.example.B"), true, digest.SHA256, "latest")
	got := results(t, get(t, NewHandler(s, slog.New(slog.DiscardHandler), Options{}), "/index/dynamic").Body.Bytes())
	if want := map[string][]string{"apps/b": {b.String()}}; !jsonEqual(got, want) {
		t.Fatalf("answer %v, want %v", got, want)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestIndexIconsByURLOrInline(t *testing.T) {
	s := newStore(t)
	icon := pngOf(t, 64)
	labels := map[string]string{
		metadata.LabelFlatpakRef: "app/org.example.Icons/x86_64/stable",
		metadata.LabelIcon64:     appstream.DataURI(icon),
		metadata.LabelIcon128:    "data:image/png;base64,bm90IGEgcG5n", // not a PNG: dropped at push
	}
	s.push("apps/extracted", "x", labels, true, digest.SHA256, "latest")
	legacy := map[string]string{metadata.LabelFlatpakRef: "app/org.example.Legacy/x86_64/stable", metadata.LabelIcon64: appstream.DataURI(icon)}
	s.push("apps/legacy", "y", legacy, false, digest.SHA256, "latest") // before extraction: kept inline
	iconPath := appstream.IconPath(digest.FromBytes(icon))

	labelsOf := func(h *Handler) map[string]map[string]string {
		var idx struct {
			Results []struct {
				Name   string
				Images []struct{ Labels map[string]string }
			}
		}
		if err := json.Unmarshal(get(t, h, "/index/static").Body.Bytes(), &idx); err != nil {
			t.Fatal(err)
		}
		out := map[string]map[string]string{}
		for _, r := range idx.Results {
			out[r.Name] = r.Images[0].Labels
		}
		return out
	}
	log := slog.New(slog.DiscardHandler)
	byURL := labelsOf(NewHandler(s, log, Options{}))
	if got := byURL["apps/extracted"]; got[metadata.LabelIcon64] != iconPath || got[metadata.LabelIcon128] != "" || got[metadata.LabelFlatpakRef] == "" {
		t.Fatalf("icons by URL: %v", got)
	}
	if got := byURL["apps/legacy"][metadata.LabelIcon64]; got != appstream.DataURI(icon) {
		t.Fatalf("an image without extracted icons lost its inline icon: %q", got)
	}
	abs := labelsOf(NewHandler(s, log, Options{Registry: "https://registry.example/"}))
	if got := abs["apps/extracted"][metadata.LabelIcon64]; got != "https://registry.example"+iconPath {
		t.Fatalf("icon URL under a public URL: %q", got)
	}
	inline := labelsOf(NewHandler(s, log, Options{Icons: IconsInline}))
	if got := inline["apps/extracted"]; got[metadata.LabelIcon64] != appstream.DataURI(icon) || got[metadata.LabelIcon128] != labels[metadata.LabelIcon128] {
		t.Fatalf("inline icons are the labels as pushed: %v", got)
	}
}

func TestIconHandler(t *testing.T) {
	s := newStore(t)
	pub, priv := pngOf(t, 64), pngOf(t, 128)
	s.push("public/app", "p", map[string]string{metadata.LabelFlatpakRef: "app/org.example.P/x86_64/stable", metadata.LabelIcon64: appstream.DataURI(pub)}, true, digest.SHA256, "latest")
	s.push("private/app", "q", map[string]string{metadata.LabelFlatpakRef: "app/org.example.Q/x86_64/stable", metadata.LabelIcon128: appstream.DataURI(priv)}, true, digest.SHA256, "latest")
	public := func(repo string) bool { return strings.HasPrefix(repo, "public/") }
	mayPull := func(r *http.Request, repo string) bool { return public(repo) || r.Header.Get("X-User") == "alice" }
	h := NewIconHandler(s, slog.New(slog.DiscardHandler), public, mayPull)
	serve := func(path string, headers ...string) *httptest.ResponseRecorder {
		return get(t, h, path, headers...)
	}
	pubPath, privPath := appstream.IconPath(digest.FromBytes(pub)), appstream.IconPath(digest.FromBytes(priv))
	rec := serve(pubPath)
	if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), pub) || rec.Header().Get("Content-Type") != "image/png" ||
		rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Cache-Control") != "public, max-age=31536000, immutable" ||
		rec.Header().Get("ETag") == "" {
		t.Fatalf("public icon: %d %v", rec.Code, rec.Header())
	}
	if again := serve(pubPath, "If-None-Match", rec.Header().Get("ETag")); again.Code != http.StatusNotModified || again.Header().Get("Cache-Control") == "" {
		t.Fatalf("revalidation: %d %v", again.Code, again.Header())
	}
	// A private icon answers exactly as one never pushed, unless the caller may pull.
	hidden, missing := serve(privPath), serve(appstream.IconPath(digest.FromString("never pushed")))
	if hidden.Code != 404 || hidden.Body.String() != missing.Body.String() || !jsonEqual(hidden.Header(), missing.Header()) {
		t.Fatalf("private icon %d %v %q, missing %d %v %q", hidden.Code, hidden.Header(), hidden.Body, missing.Code, missing.Header(), missing.Body)
	}
	if mine := serve(privPath, "X-User", "alice"); mine.Code != 200 || !bytes.Equal(mine.Body.Bytes(), priv) ||
		mine.Header().Get("Cache-Control") != "private, max-age=31536000, immutable" {
		t.Fatalf("private icon for its user: %d %v", mine.Code, mine.Header())
	}
	for _, p := range []string{"/icons/", "/icons/abc.png", "/icons/" + digest.FromBytes(pub).Encoded(), "/icons/x/" + digest.FromBytes(pub).Encoded() + ".png"} {
		if rec := serve(p); rec.Code != 404 {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
}

func TestChunksKeepBytesInOrder(t *testing.T) {
	var c chunks
	var want []byte
	for i := range 3000 {
		p := bytes.Repeat([]byte{byte(i)}, i%97)
		want = append(want, p...)
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatal(n, err)
		}
	}
	var out bytes.Buffer
	if _, err := c.WriteTo(&out); err != nil || !bytes.Equal(out.Bytes(), want) || c.Len() != int64(len(want)) {
		t.Fatalf("WriteTo: %d bytes of %d (%v)", out.Len(), len(want), err)
	}
	for range 2 { // readers are independent
		got, _ := io.ReadAll(c.Reader())
		if !bytes.Equal(got, want) {
			t.Fatalf("Reader: %d bytes of %d", len(got), len(want))
		}
	}
	c.seal()
	if len(c.parts) != 1 || cap(c.parts[0]) != len(want) || c.Len() != int64(len(want)) {
		t.Fatalf("sealed into %d pieces", len(c.parts))
	}
	if got, _ := io.ReadAll(c.Reader()); !bytes.Equal(got, want) {
		t.Fatalf("sealed: %d bytes of %d", len(got), len(want))
	}
}

func TestSealKeepsLargeAnswersInChunks(t *testing.T) {
	var c chunks
	want := bytes.Repeat([]byte("0123456789abcdef"), (maxContiguous+chunkSize/2)/16)
	_, _ = c.Write(want)
	c.seal()
	last := c.parts[len(c.parts)-1]
	if len(c.parts) < 2 || cap(last) != len(last) {
		t.Fatalf("%d pieces, the last with %d of %d bytes used", len(c.parts), len(last), cap(last))
	}
	var out bytes.Buffer
	if _, err := c.WriteTo(&out); err != nil || !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("WriteTo: %d bytes of %d (%v)", out.Len(), len(want), err)
	}
}
