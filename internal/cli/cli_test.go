package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/server"
	"github.com/berth-registry/berth/internal/testenv"
)

// startRegistry runs a real Berth (SQLite + filesystem) on 127.0.0.1 and returns its
// host:port.
func startRegistry(t *testing.T) string {
	t.Helper()
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.Flatpak.Index = true
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return strings.TrimPrefix(hs.URL, "http://")
}

// berth runs a client subcommand with --plain-http and no stored credentials.
func berth(t *testing.T, args ...string) (string, error) {
	t.Helper()
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	var out, errOut bytes.Buffer
	ok, err := Run(context.Background(), args[0], append(args[1:], "--plain-http"), &out, &errOut)
	if !ok {
		t.Fatalf("%s is not a subcommand", args[0])
	}
	return out.String(), err
}

func mustBerth(t *testing.T, args ...string) string {
	t.Helper()
	out, err := berth(t, args...)
	if err != nil {
		t.Fatalf("berth %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func TestPushPullFilesRoundTrip(t *testing.T) {
	host := startRegistry(t)
	dir := t.TempDir()
	big := bytes.Repeat([]byte("berth"), 700_000)
	must(t, os.WriteFile(filepath.Join(dir, "big.bin"), big, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("hello\n"), 0o644))

	out := mustBerth(t, "push", "--json", "--artifact-type", "application/x-test", "--annotation", "a=b",
		host+"/art/files:v1", filepath.Join(dir, "big.bin"), filepath.Join(dir, "notes.txt"))
	var pushed struct{ Digest string }
	must(t, json.Unmarshal([]byte(out), &pushed))

	manifest := mustBerth(t, "manifest", "get", host+"/art/files:v1")
	for _, want := range []string{`"artifactType":"application/x-test"`, `"org.opencontainers.image.title":"big.bin"`, `"a":"b"`} {
		if !strings.Contains(manifest, want) {
			t.Errorf("manifest lacks %s:\n%s", want, manifest)
		}
	}

	dst := t.TempDir()
	mustBerth(t, "pull", host+"/art/files@"+pushed.Digest, dst)
	for name, want := range map[string][]byte{"big.bin": big, "notes.txt": []byte("hello\n")} {
		got, err := os.ReadFile(filepath.Join(dst, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes, %v; want %d bytes", name, len(got), err, len(want))
		}
	}
}

func TestPullRefusesTitlesOutsideTheDirectory(t *testing.T) {
	host := startRegistry(t)
	ctx := context.Background()
	c := client.New(client.WithPlainHTTP(true))
	repo := client.Repository{Host: host, Name: "evil/art"}
	layer := "owned"
	ld := "sha256:" + sha256hex(layer)
	must(t, c.BlobPut(ctx, repo, ld, int64(len(layer)), strings.NewReader(layer)))
	must(t, c.BlobPut(ctx, repo, "sha256:"+sha256hex("{}"), 2, strings.NewReader("{}")))
	m := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:` + sha256hex("{}") + `","size":2},"layers":[{"mediaType":"application/octet-stream","digest":"` + ld + `","size":5,"annotations":{"org.opencontainers.image.title":"../escaped"}}]}`
	if _, err := c.ManifestPut(ctx, repo, "v1", "application/vnd.oci.image.manifest.v1+json", []byte(m)); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	dst := filepath.Join(parent, "in")
	_, err := berth(t, "pull", host+"/evil/art:v1", dst)
	if err == nil || !strings.Contains(err.Error(), "refusing file name") {
		t.Fatalf("pull of a ../ title: %v, want a refusal", err)
	}
	if _, err := os.Stat(filepath.Join(parent, "escaped")); err == nil {
		t.Fatal("a file was written outside the destination")
	}
}

func TestCopyMultiPlatformAcrossRegistriesAndLayouts(t *testing.T) {
	a, b := startRegistry(t), startRegistry(t)
	want := testenv.PushIndex(t, a+"/src/app:1.0", 4096)

	type result struct {
		Digest       string
		BlobsCopied  int `json:"blobs_copied"`
		BlobsMounted int `json:"blobs_mounted"`
		BlobsSkipped int `json:"blobs_skipped"`
	}
	copyJSON := func(src, dst string) result {
		t.Helper()
		var r result
		must(t, json.Unmarshal([]byte(mustBerth(t, "copy", "--json", src, dst)), &r))
		if r.Digest != want {
			t.Fatalf("copy %s %s: digest %s, want %s", src, dst, r.Digest, want)
		}
		return r
	}

	// Another registry: every blob streamed (2 platforms × (config + 2 layers)).
	if r := copyJSON(a+"/src/app:1.0", b+"/dst/app:1.0"); r.BlobsCopied != 6 {
		t.Errorf("copy to another registry: %+v, want 6 blobs copied", r)
	}
	// The same registry: mounted, not streamed; then a second copy finds them all.
	if r := copyJSON(a+"/src/app:1.0", a+"/other/app:1.0"); r.BlobsMounted != 6 || r.BlobsCopied != 0 {
		t.Errorf("copy within a registry: %+v, want 6 mounted", r)
	}
	if r := copyJSON(a+"/src/app:1.0", a+"/other/app:1.0"); r.BlobsSkipped != 6 {
		t.Errorf("repeated copy: %+v, want 6 skipped", r)
	}
	// Through an OCI layout and back.
	lay := filepath.Join(t.TempDir(), "layout")
	copyJSON(b+"/dst/app:1.0", "oci:"+lay+":1.0")
	copyJSON("oci:"+lay+":1.0", b+"/again/app:2.0")
	index, err := os.ReadFile(filepath.Join(lay, "index.json"))
	if err != nil || !strings.Contains(string(index), `"org.opencontainers.image.ref.name": "1.0"`) {
		t.Errorf("layout index.json: %s, %v", index, err)
	}

	// Every platform arrived: each child manifest pulls from the last destination.
	c := client.New(client.WithPlainHTTP(true))
	_, body, err := c.ManifestGet(context.Background(), client.Repository{Host: b, Name: "again/app"}, "2.0")
	must(t, err)
	var idx struct{ Manifests []client.Descriptor }
	must(t, json.Unmarshal(body, &idx))
	if len(idx.Manifests) != 2 {
		t.Fatalf("index has %d manifests", len(idx.Manifests))
	}
	for _, m := range idx.Manifests {
		if _, err := c.ManifestHead(context.Background(), client.Repository{Host: b, Name: "again/app"}, m.Digest); err != nil {
			t.Errorf("platform %s/%s: %v", m.Platform.OS, m.Platform.Architecture, err)
		}
	}
	// Files from one platform of the index.
	dst := t.TempDir()
	out := mustBerth(t, "pull", "--platform", "linux/arm64", b+"/again/app:2.0", dst)
	if n := len(strings.Fields(out)); n != 2 {
		t.Errorf("pull --platform wrote %d files:\n%s", n, out)
	}
	if _, err := berth(t, "pull", b+"/again/app:2.0", t.TempDir()); err == nil || !strings.Contains(err.Error(), "linux/amd64") {
		t.Errorf("pull of an index without --platform: %v, want the platforms listed", err)
	}
}

func TestCopyReferrers(t *testing.T) {
	a, b := startRegistry(t), startRegistry(t)
	subject := testenv.PushIndex(t, a+"/app:1", 4096)
	ctx := context.Background()
	c := client.New(client.WithPlainHTTP(true))
	repo := client.Repository{Host: a, Name: "app"}
	must(t, c.BlobPut(ctx, repo, "sha256:"+sha256hex("{}"), 2, strings.NewReader("{}")))
	sig := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x-sig","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:` + sha256hex("{}") + `","size":2},"layers":[],"subject":{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"` + subject + `","size":1}}`
	sigDigest, err := c.ManifestPut(ctx, repo, "sha256:"+sha256hex(sig), "application/vnd.oci.image.manifest.v1+json", []byte(sig))
	must(t, err)

	mustBerth(t, "copy", a+"/app:1", b+"/plain:1")
	if refs, _ := c.Referrers(ctx, client.Repository{Host: b, Name: "plain"}, subject, ""); len(refs) != 0 {
		t.Errorf("copy without --referrers copied %d referrers", len(refs))
	}
	mustBerth(t, "copy", "--referrers", a+"/app:1", b+"/signed:1")
	refs, err := c.Referrers(ctx, client.Repository{Host: b, Name: "signed"}, subject, "")
	must(t, err)
	if len(refs) != 1 || refs[0].Digest != sigDigest {
		t.Errorf("referrers after copy --referrers: %+v, want %s", refs, sigDigest)
	}
}

func TestTagsAndCatalogList(t *testing.T) {
	host := startRegistry(t)
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	must(t, os.WriteFile(f, []byte("x"), 0o644))
	var want []string
	for _, tag := range []string{"b", "a", "Z", "10", "9"} {
		mustBerth(t, "push", host+"/r/one:"+tag, f)
		want = append(want, tag)
	}
	mustBerth(t, "push", host+"/r/two:x", f)
	slices.Sort(want)
	if got := strings.Fields(mustBerth(t, "tags", "--page-size", "2", host+"/r/one")); !slices.Equal(got, want) {
		t.Errorf("tags: %q, want %q", got, want)
	}
	var got []string
	must(t, json.Unmarshal([]byte(mustBerth(t, "tags", "--json", host+"/r/one")), &got))
	if !slices.Equal(got, want) {
		t.Errorf("tags --json: %q, want %q", got, want)
	}
	if got := strings.Fields(mustBerth(t, "catalog", host)); !slices.Equal(got, []string{"r/one", "r/two"}) {
		t.Errorf("catalog: %q", got)
	}
	_, err := berth(t, "tags", host+"/r/none")
	if err == nil || !strings.Contains(err.Error(), "check the repository") {
		t.Errorf("tags of a missing repository: %v", err)
	}
}

func TestProgressPlainWritesALinePerBlob(t *testing.T) {
	host := startRegistry(t)
	f := filepath.Join(t.TempDir(), "f")
	must(t, os.WriteFile(f, bytes.Repeat([]byte{1}, 3<<20), 0o644))
	var out, bar bytes.Buffer
	e := &env{cmd: pushHelp, stdout: &out, stderr: &bar, plainHTTP: true, progress: "plain"}
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	dst, ref, err := e.parseEndpoint(host + "/p/files:1")
	must(t, err)
	must(t, e.pushFiles(context.Background(), dst, ref, []string{f}, defaultArtifactType, defaultFileType, nil))
	d := digest.FromBytes(bytes.Repeat([]byte{1}, 3<<20)).Encoded()[:12]
	if s := bar.String(); !strings.Contains(s, "push sha256:"+d+": 3.0 MiB done\n") || !strings.Contains(s, "push: 1 blobs, 3.0 MiB in ") || strings.Contains(s, "\r") {
		t.Errorf("plain progress: %q", s)
	}
	if isTerminal(&out) {
		t.Error("a buffer is not a terminal")
	}
	// auto on a writer that is no terminal draws nothing.
	var stdout, stderr bytes.Buffer
	if _, err := Run(context.Background(), "push", []string{"--plain-http", host + "/p/files:2", f}, &stdout, &stderr); err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Errorf("progress drawn without a terminal: %q", stderr.String())
	}
}

func TestParseInterspersed(t *testing.T) {
	for _, tc := range []struct {
		args []string
		json bool
		pos  []string
	}{
		{[]string{"a", "b"}, false, []string{"a", "b"}},
		{[]string{"--json", "a", "b"}, true, []string{"a", "b"}},
		{[]string{"a", "--json", "b"}, true, []string{"a", "b"}},
		{[]string{"a", "b", "--json"}, true, []string{"a", "b"}},
		{[]string{"a", "--", "--json"}, false, []string{"a", "--json"}},
	} {
		e := &env{cmd: tagsHelp, stderr: io.Discard}
		fs := e.flags(jsonFlag)
		if err := parseInterspersed(fs, tc.args); err != nil {
			t.Fatal(err)
		}
		if e.jsonOut != tc.json || !slices.Equal(fs.Args(), tc.pos) {
			t.Errorf("%q: json=%v args=%q; want %v %q", tc.args, e.jsonOut, fs.Args(), tc.json, tc.pos)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	e := &env{}
	for _, tc := range []struct{ in, want, ref string }{
		{"oci:/tmp/x:v1", "oci:/tmp/x", "v1"},
		{"oci:rel/dir", "oci:rel/dir", ""},
		{"oci:/a:b/c", "oci:/a:b/c", ""},
		{"oci:d@" + testDigest, "oci:d", testDigest},
		{"reg.example:5000/a/b:t", "reg.example:5000/a/b", "t"},
		{"reg.example/a/b", "reg.example/a/b", "latest"},
		{"reg.example/a@" + testDigest, "reg.example/a", testDigest},
		{"reg.example/a:v1@" + testDigest, "reg.example/a", testDigest},
		{"localhost/a", "localhost/a", "latest"},
	} {
		ep, ref, err := e.parseEndpoint(tc.in)
		if err != nil || ep.String() != tc.want || ref != tc.ref {
			t.Errorf("%q: %v %q %v; want %q %q", tc.in, ep, ref, err, tc.want, tc.ref)
		}
	}
	for _, bad := range []string{"oci:", "noslash", "host/", "library/alpine", "reg.example/Upper", "reg.example/a:-tag",
		"reg.example/a@sha256:abc", "reg.example/a@md5:" + testDigest[7:], "oci:d@sha256:abc", "https://reg.example/a", "reg.example:99999/a"} {
		if _, _, err := e.parseEndpoint(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

var testDigest = digest.FromString("x").String()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func sha256hex(s string) string { return digest.FromString(s).Encoded() }

func TestExplainGivesOneHint(t *testing.T) {
	e := &env{}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("get: %w", http.ErrSchemeMismatch), "pass --plain-http, or set BERTH_PLAIN_HTTP"},
		{&client.AuthError{Host: "h", User: "u", Refused: true}, `h refused the password of user "u"; the password ` + "`berth login`" + ` stored for it is no longer accepted`},
		{&client.AuthError{Host: "h", Scope: "repository:a/b:pull,push"}, "h requires credentials to push to a/b; log in with `berth login h`"},
		{&client.AuthError{Host: "h", User: "u", Scope: "repository:a/b:pull"}, `user "u" may not pull a/b on h`},
		{&client.Error{Method: "GET", URL: "u", Status: 404}, "check the repository and reference"},
	} {
		got := e.explain(tc.err, "do").Error()
		if !strings.Contains(got, tc.want) || strings.Count(got, ";") > 1 {
			t.Errorf("explain(%v) = %q, want one hint %q", tc.err, got, tc.want)
		}
	}
}
