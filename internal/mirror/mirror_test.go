package mirror_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/bcrypt"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/mirror"
	"github.com/berth-registry/berth/internal/quota"
	"github.com/berth-registry/berth/internal/server"
	"github.com/berth-registry/berth/internal/testenv"
)

var ctx = context.Background()

// serve runs a real Berth on 127.0.0.1 with cfg adjusted by adjust.
func serve(t *testing.T, adjust func(*config.Config)) *httptest.Server {
	t.Helper()
	return serveLogged(t, slog.New(slog.DiscardHandler), adjust)
}

// serveLogged is serve with the server's log (and its audit events) going to log.
func serveLogged(t *testing.T, log *slog.Logger, adjust func(*config.Config)) *httptest.Server {
	t.Helper()
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.GC.Enabled = false
	if adjust != nil {
		adjust(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return hs
}

func hostOf(s string) string { return strings.TrimPrefix(s, "http://") }

// upstream is a Berth with auth on (user "up"), behind a proxy that counts and fails.
func upstream(t *testing.T) (*httptest.Server, *testenv.Proxy, *client.Client) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte("up-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	up := serve(t, func(c *config.Config) {
		c.Auth.Users = []auth.UserConfig{{Name: "up", PasswordHash: string(hash)}}
	})
	proxy := testenv.NewProxy(t, up.URL)
	cl := client.New(client.WithPlainHTTP(true), client.WithCredentials(func(string) (string, string, bool) { return "up", "up-pw", true }))
	return up, proxy, cl
}

// cache is a Berth whose hub/ prefix caches the proxy's registry.
func cache(t *testing.T, proxy *testenv.Proxy, adjust func(*mirror.Config)) *httptest.Server {
	t.Helper()
	mc := mirror.Config{Prefix: "hub", URL: proxy.URL, Library: true, Username: "up", PasswordEnv: "UP_PASSWORD", Timeout: 30 * time.Second}
	if adjust != nil {
		adjust(&mc)
	}
	t.Setenv("UP_PASSWORD", "up-pw")
	return serve(t, func(c *config.Config) { c.Mirrors = []mirror.Config{mc} })
}

type image struct {
	manifest []byte
	digest   digest.Digest
	layers   map[digest.Digest][]byte // config included
}

// pushImage pushes an image with a config and one layer of layerSize random bytes.
func pushImage(t *testing.T, cl *client.Client, host, repo, tag string, layerSize int, seed uint64) image {
	t.Helper()
	layer := make([]byte, layerSize)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range layer {
		layer[i] = byte(r.Uint32())
	}
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"Labels":{"seed":"%d"}}}`, seed))
	img := image{layers: map[digest.Digest][]byte{digest.FromBytes(layer): layer, digest.FromBytes(cfg): cfg}}
	for d, b := range img.layers {
		if err := cl.BlobPut(ctx, client.Repository{Host: host, Name: repo}, d.String(), int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	img.manifest = []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		digest.FromBytes(cfg), len(cfg), digest.FromBytes(layer), len(layer)))
	img.digest = digest.FromBytes(img.manifest)
	if _, err := cl.ManifestPut(ctx, client.Repository{Host: host, Name: repo}, tag, "application/vnd.oci.image.manifest.v1+json", img.manifest); err != nil {
		t.Fatal(err)
	}
	return img
}

func (img image) layer() digest.Digest {
	var m struct {
		Layers []struct{ Digest digest.Digest }
	}
	_ = json.Unmarshal(img.manifest, &m)
	return m.Layers[0].Digest
}

// get fetches path from base and returns the response with its body read.
func get(t *testing.T, method, url string, h http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	return resp, body
}

func want(t *testing.T, resp *http.Response, body []byte, status int, cache string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	if got := resp.Header.Get("Berth-Cache"); got != cache {
		t.Fatalf("%s %s: Berth-Cache %q, want %q", resp.Request.Method, resp.Request.URL.Path, got, cache)
	}
}

var acceptOCI = http.Header{"Accept": {"application/vnd.oci.image.manifest.v1+json"}}

func TestPullThroughStoresWhatItServes(t *testing.T) {
	up, proxy, cl := upstream(t)
	img := pushImage(t, cl, hostOf(up.URL), "library/alpine", "3", 300_000, 1)
	c := cache(t, proxy, nil)

	// hub/alpine is library/alpine upstream (Docker Hub's official-image names).
	resp, body := get(t, "GET", c.URL+"/v2/hub/alpine/manifests/3", acceptOCI)
	want(t, resp, body, 200, "miss")
	if !bytes.Equal(body, img.manifest) || resp.Header.Get("Docker-Content-Digest") != img.digest.String() {
		t.Fatalf("manifest through the cache differs: %s", body)
	}
	for d, b := range img.layers {
		resp, body := get(t, "GET", c.URL+"/v2/hub/alpine/blobs/"+d.String(), nil)
		// The config was fetched with the manifest, to describe it as a push would.
		status := "miss"
		if len(b) < 1000 {
			status = "hit"
		}
		want(t, resp, body, 200, status)
		if !bytes.Equal(body, b) {
			t.Fatalf("blob %s through the cache: %d bytes that differ", d, len(body))
		}
	}
	proxy.Reset()
	// Everything again: from the store, and the upstream hears nothing (tag TTL 5m).
	resp, body = get(t, "GET", c.URL+"/v2/hub/alpine/manifests/3", acceptOCI)
	want(t, resp, body, 200, "hit")
	resp, body = get(t, "GET", c.URL+"/v2/hub/alpine/manifests/"+img.digest.String(), acceptOCI)
	want(t, resp, body, 200, "hit")
	for d := range img.layers {
		resp, body := get(t, "GET", c.URL+"/v2/hub/alpine/blobs/"+d.String(), nil)
		want(t, resp, body, 200, "hit")
	}
	if n := len(proxy.Log()); n != 0 {
		t.Fatalf("warm pulls sent %d requests upstream: %v", n, proxy.Log())
	}

	// tags/list and the catalog show what is cached.
	resp, body = get(t, "GET", c.URL+"/v2/hub/alpine/tags/list", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"tags":["3"]`) {
		t.Fatalf("tags/list of the cached repository: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, "GET", c.URL+"/v2/_catalog", nil)
	if !strings.Contains(string(body), `"hub/alpine"`) {
		t.Fatalf("catalog: %d %s", resp.StatusCode, body)
	}
}

func TestCachedRepositoriesAreReadOnly(t *testing.T) {
	_, proxy, _ := upstream(t)
	c := cache(t, proxy, nil)
	for _, r := range []struct{ method, path string }{
		{"POST", "/v2/hub/library/x/blobs/uploads/"},
		{"PUT", "/v2/hub/library/x/manifests/v1"},
		{"DELETE", "/v2/hub/library/x/manifests/v1"},
		{"DELETE", "/v2/hub/library/x/blobs/" + digest.FromString("x").String()},
	} {
		resp, body := get(t, r.method, c.URL+r.path, nil)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `"code":"DENIED"`) || !strings.Contains(string(body), "read-only pull-through cache") {
			t.Fatalf("%s %s: %d %s, want 403 DENIED", r.method, r.path, resp.StatusCode, body)
		}
	}
	// Outside the prefix, pushes work.
	resp, body := get(t, "POST", c.URL+"/v2/mine/x/blobs/uploads/", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("push outside the cache: %d %s", resp.StatusCode, body)
	}
	if len(proxy.Log()) != 0 {
		t.Fatalf("refused writes reached the upstream: %v", proxy.Log())
	}
}

func TestTagTimeToLiveAsksWithHeadFirst(t *testing.T) {
	up, proxy, cl := upstream(t)
	pushImage(t, cl, hostOf(up.URL), "team/app", "v1", 1000, 1)
	c := cache(t, proxy, func(m *mirror.Config) { m.TagTTL = time.Nanosecond })
	resp, body := get(t, "GET", c.URL+"/v2/hub/team/app/manifests/v1", acceptOCI)
	want(t, resp, body, 200, "miss")

	proxy.Reset()
	resp, body = get(t, "GET", c.URL+"/v2/hub/team/app/manifests/v1", acceptOCI)
	want(t, resp, body, 200, "revalidated")
	if n, all := proxy.Count("GET", "manifest"), proxy.Count("HEAD", "manifest"); n != 0 || all != 1 {
		t.Fatalf("an unchanged tag cost %d manifest GETs and %d HEADs upstream, want 0 and 1", n, all)
	}

	// The tag moves upstream: the next pull follows it.
	moved := pushImage(t, cl, hostOf(up.URL), "team/app", "v1", 1000, 2)
	resp, body = get(t, "GET", c.URL+"/v2/hub/team/app/manifests/v1", acceptOCI)
	want(t, resp, body, 200, "miss")
	if resp.Header.Get("Docker-Content-Digest") != moved.digest.String() {
		t.Fatalf("moved tag served as %s, want %s", resp.Header.Get("Docker-Content-Digest"), moved.digest)
	}

	// Gone upstream: gone from the cache.
	if err := cl.ManifestDelete(ctx, client.Repository{Host: hostOf(up.URL), Name: "team/app"}, "v1"); err != nil {
		t.Fatal(err)
	}
	resp, body = get(t, "GET", c.URL+"/v2/hub/team/app/manifests/v1", acceptOCI)
	if resp.StatusCode != 404 || !strings.Contains(string(body), "MANIFEST_UNKNOWN") {
		t.Fatalf("tag deleted upstream: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, "GET", c.URL+"/v2/hub/team/app/tags/list", nil)
	if strings.Contains(string(body), `"v1"`) {
		t.Fatalf("tag deleted upstream still listed: %s", body)
	}
}

func TestStaleWhenTheUpstreamFails(t *testing.T) {
	up, proxy, cl := upstream(t)
	img := pushImage(t, cl, hostOf(up.URL), "library/busybox", "latest", 5000, 3)
	c := cache(t, proxy, func(m *mirror.Config) { m.TagTTL = time.Nanosecond; m.Timeout = time.Second })
	resp, body := get(t, "GET", c.URL+"/v2/hub/busybox/manifests/latest", acceptOCI)
	want(t, resp, body, 200, "miss")

	for _, mode := range []string{testenv.ProxyDown, testenv.Proxy503, testenv.Proxy429, testenv.ProxyHang} {
		t.Run(mode, func(t *testing.T) {
			proxy.SetMode(mode)
			defer proxy.SetMode(testenv.ProxyPass)
			start := time.Now()
			resp, body := get(t, "GET", c.URL+"/v2/hub/busybox/manifests/latest", acceptOCI)
			want(t, resp, body, 200, "stale")
			if !bytes.Equal(body, img.manifest) || resp.Header.Get("Warning") != `110 - "Response is Stale"` {
				t.Fatalf("stale answer: Warning %q, body %s", resp.Header.Get("Warning"), body)
			}
			// What was never cached is a clear error, not a hang.
			resp, body = get(t, "GET", c.URL+"/v2/hub/busybox/manifests/other", acceptOCI)
			wantStatus, wantCode := http.StatusServiceUnavailable, "UNAVAILABLE"
			if mode == testenv.Proxy429 {
				wantStatus, wantCode = http.StatusTooManyRequests, "TOOMANYREQUESTS"
			}
			if resp.StatusCode != wantStatus || !strings.Contains(string(body), wantCode) || (mode == testenv.Proxy429 && resp.Header.Get("Retry-After") == "") {
				t.Fatalf("uncached tag with the upstream failing (%s): %d %s", mode, resp.StatusCode, body)
			}
			resp, body = get(t, "GET", c.URL+"/v2/hub/busybox/blobs/"+img.layer().String(), nil)
			if resp.StatusCode != wantStatus {
				t.Fatalf("uncached blob with the upstream failing (%s): %d %s\n%v", mode, resp.StatusCode, body, proxy.Log())
			}
			// Bounded by the timeout, not by the hanging proxy's minute.
			if d := time.Since(start); d > 30*time.Second {
				t.Fatalf("answers took %s with the upstream failing", d)
			}
		})
	}
	// Back up: fresh again.
	resp, body = get(t, "GET", c.URL+"/v2/hub/busybox/manifests/latest", acceptOCI)
	want(t, resp, body, 200, "revalidated")
}

// TestCutOrStalledTransferLeavesNothingCached: an upstream that cuts a blob mid-way,
// or stops sending it (cut after the timeout), fails the client's transfer short of the
// whole blob and leaves nothing cached: the next pull fetches it again, whole.
func TestCutOrStalledTransferLeavesNothingCached(t *testing.T) {
	for i, mode := range []string{testenv.ProxyTruncate, testenv.ProxyStall} {
		t.Run(mode, func(t *testing.T) {
			up, proxy, cl := upstream(t)
			img := pushImage(t, cl, hostOf(up.URL), "library/big", "1", 4<<20, uint64(4+10*i))
			c := cache(t, proxy, func(m *mirror.Config) { m.Timeout = time.Second })
			resp, body := get(t, "GET", c.URL+"/v2/hub/big/manifests/1", acceptOCI)
			want(t, resp, body, 200, "miss")

			proxy.SetMode(mode)
			layer := img.layer()
			start := time.Now()
			r, err := http.Get(c.URL + "/v2/hub/big/blobs/" + layer.String())
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(r.Body)
			r.Body.Close()
			if err == nil || int64(len(got)) >= int64(len(img.layers[layer])) {
				t.Fatalf("the client got %d of %d bytes, err %v: the cut did not reach it", len(got), len(img.layers[layer]), err)
			}
			// Cut by the timeout, not by the stalling proxy's minute.
			if d := time.Since(start); d > 30*time.Second {
				t.Fatalf("a stalled transfer ended after %s", d)
			}
			proxy.SetMode(testenv.ProxyPass)
			proxy.Reset()
			resp, body = get(t, "GET", c.URL+"/v2/hub/big/blobs/"+layer.String(), nil)
			want(t, resp, body, 200, "miss")
			if !bytes.Equal(body, img.layers[layer]) || proxy.Count("GET", "blob") != 1 {
				t.Fatalf("retry: %d bytes, %d upstream GETs", len(body), proxy.Count("GET", "blob"))
			}
		})
	}
}

func TestConcurrentPullsShareOneFetch(t *testing.T) {
	up, proxy, cl := upstream(t)
	img := pushImage(t, cl, hostOf(up.URL), "library/shared", "1", 8<<20, 5)
	c := cache(t, proxy, nil)
	resp, body := get(t, "GET", c.URL+"/v2/hub/shared/manifests/1", acceptOCI)
	want(t, resp, body, 200, "miss")
	layer := img.layer()
	proxy.Reset()
	const clients = 16
	var wg sync.WaitGroup
	errs := make([]error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", c.URL+"/v2/hub/shared/blobs/"+layer.String(), nil)
			if i%4 == 3 {
				req.Header.Set("Range", "bytes=1000-")
			}
			r, err := http.DefaultClient.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer r.Body.Close()
			got, err := io.ReadAll(r.Body)
			wantBytes := img.layers[layer]
			if i%4 == 3 {
				wantBytes = wantBytes[1000:]
			}
			if err != nil || !bytes.Equal(got, wantBytes) {
				errs[i] = fmt.Errorf("client %d: %d bytes (status %d), err %v", i, len(got), r.StatusCode, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := proxy.Count("GET", "blob"); n != 1 {
		t.Fatalf("%d clients caused %d upstream blob GETs, want 1", clients, n)
	}
}

func TestBlobOfAnotherRepositoryIsLinkedNotFetched(t *testing.T) {
	up, proxy, cl := upstream(t)
	img := pushImage(t, cl, hostOf(up.URL), "library/a", "1", 100_000, 6)
	// The same layer under another name upstream.
	for d, b := range img.layers {
		if err := cl.BlobPut(ctx, client.Repository{Host: hostOf(up.URL), Name: "library/b"}, d.String(), int64(len(b)), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	c := cache(t, proxy, nil)
	layer := img.layer()
	resp, body := get(t, "GET", c.URL+"/v2/hub/a/blobs/"+layer.String(), nil)
	want(t, resp, body, 200, "miss")
	proxy.Reset()
	resp, body = get(t, "GET", c.URL+"/v2/hub/b/blobs/"+layer.String(), nil)
	want(t, resp, body, 200, "miss")
	// One HEAD, sent twice: the first draws the token challenge for the new name.
	if !bytes.Equal(body, img.layers[layer]) || proxy.Count("GET", "blob") != 0 || proxy.Count("HEAD", "blob") != 2 {
		t.Fatalf("%d bytes; upstream GETs %d, HEADs %d; want the store's bytes after one HEAD", len(body), proxy.Count("GET", "blob"), proxy.Count("HEAD", "blob"))
	}
	// Not upstream under that name: not served under it either.
	resp, body = get(t, "GET", c.URL+"/v2/hub/c/blobs/"+layer.String(), nil)
	if resp.StatusCode != 404 || !strings.Contains(string(body), "BLOB_UNKNOWN") {
		t.Fatalf("blob absent upstream under hub/c: %d %s", resp.StatusCode, body)
	}
}

// TestCachedContentCountsAndIsAudited: what the cache stores counts in its namespace's
// quota like pushed content (a blob with no room is refused with DENIED, not cached,
// not a 500), and the tags it moves are audit events of the actor "mirror".
func TestCachedContentCountsAndIsAudited(t *testing.T) {
	up, proxy, cl := upstream(t)
	img := pushImage(t, cl, hostOf(up.URL), "library/alpine", "3", 300_000, 7)
	var log testenv.SyncBuffer
	t.Setenv("UP_PASSWORD", "up-pw")
	c := serveLogged(t, slog.New(slog.NewJSONHandler(&log, nil)), func(c *config.Config) {
		c.Mirrors = []mirror.Config{{Prefix: "hub", URL: proxy.URL, Library: true, Username: "up", PasswordEnv: "UP_PASSWORD"}}
		c.Quotas = quota.Config{Namespaces: []quota.Rule{{Pattern: "hub", Storage: 100_000}}}
	})
	resp, body := get(t, "GET", c.URL+"/v2/hub/alpine/manifests/3", acceptOCI)
	want(t, resp, body, 200, "miss") // manifest and config fit
	for range 2 {
		resp, body = get(t, "GET", c.URL+"/v2/hub/alpine/blobs/"+img.layer().String(), nil)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `"code":"DENIED"`) || !strings.Contains(string(body), "100000") && !strings.Contains(string(body), "97.7 KiB") {
			t.Fatalf("a layer over the namespace's quota: %d %s", resp.StatusCode, body)
		}
	}
	if n := proxy.Count("GET", "blob"); n != 3 {
		t.Fatalf("upstream blob GETs %d, want 3 (the config, and the refused layer twice: nothing was cached)", n)
	}
	var moved bool
	for _, line := range strings.Split(log.String(), "\n") {
		var ev struct{ Msg, Type, Actor, Subject string }
		if json.Unmarshal([]byte(line), &ev) == nil && ev.Msg == "audit" && ev.Type == "io.berth.tag.moved" {
			if ev.Actor != mirror.Actor || ev.Subject != "hub/alpine:3" {
				t.Fatalf("the cache's tag move audited as %+v", ev)
			}
			moved = true
		}
	}
	if !moved {
		t.Fatalf("no audit event for the cached tag in:\n%s", log.String())
	}
}

// TestRefusedCredentialsSaySo: an upstream refusing the cache's password is an upstream
// failure (served stale when there is a copy), and the error names the user, never the
// password.
func TestRefusedCredentialsSaySo(t *testing.T) {
	up, proxy, cl := upstream(t)
	pushImage(t, cl, hostOf(up.URL), "library/alpine", "3", 1000, 8)
	t.Setenv("WRONG_PASSWORD", "not-it")
	c := cache(t, proxy, func(m *mirror.Config) { m.PasswordEnv = "WRONG_PASSWORD" })
	resp, body := get(t, "GET", c.URL+"/v2/hub/alpine/manifests/3", acceptOCI)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `refused the password of user \"up\"`) || strings.Contains(string(body), "not-it") {
		t.Fatalf("with a refused password: %d %s", resp.StatusCode, body)
	}
}

// TestAccessControlComesBeforeTheUpstream: the rules apply to cached repositories by
// pattern as to any other, and a caller who may not pull causes no upstream request.
func TestAccessControlComesBeforeTheUpstream(t *testing.T) {
	up, proxy, cl := upstream(t)
	img := pushImage(t, cl, hostOf(up.URL), "library/alpine", "3", 1000, 9)
	var users []auth.UserConfig
	for _, name := range []string{"alice", "bob"} {
		hash, err := bcrypt.GenerateFromPassword([]byte(name+"-pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, auth.UserConfig{Name: name, PasswordHash: string(hash)})
	}
	t.Setenv("UP_PASSWORD", "up-pw")
	c := serve(t, func(c *config.Config) {
		c.Mirrors = []mirror.Config{{Prefix: "hub", URL: proxy.URL, Library: true, Username: "up", PasswordEnv: "UP_PASSWORD"}}
		c.Auth.Users = users
		c.Auth.Rules = []auth.Rule{{Repositories: []string{"hub/**"}, Subjects: []string{"alice"}, Actions: []string{"pull"}}}
	})
	as := func(name string) *client.Client {
		return client.New(client.WithPlainHTTP(true), client.WithRetries(0, 0), client.WithCredentials(func(string) (string, string, bool) {
			return name, name + "-pw", true
		}))
	}
	repo := client.Repository{Host: hostOf(c.URL), Name: "hub/alpine"}
	proxy.Reset()
	if resp, body := get(t, "GET", c.URL+"/v2/hub/alpine/manifests/3", acceptOCI); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous pull of a cached repository: %d %s", resp.StatusCode, body)
	}
	if _, _, err := as("bob").ManifestGet(ctx, repo, "3"); err == nil {
		t.Fatal("bob, whom no rule lets pull hub/**, pulled through the cache")
	}
	if n := len(proxy.Log()); n != 0 {
		t.Fatalf("callers who may not pull caused %d upstream requests: %v", n, proxy.Log())
	}
	if _, payload, err := as("alice").ManifestGet(ctx, repo, "3"); err != nil || !bytes.Equal(payload, img.manifest) {
		t.Fatalf("alice's pull through the cache: %v", err)
	}
}

// TestMultiPlatformIndexPullsThrough: Docker Hub's official images are indexes. The
// index is cached by tag before any of its children (a client asks for the one of its
// platform next, by digest), and each child comes when asked for, once.
func TestMultiPlatformIndexPullsThrough(t *testing.T) {
	up, proxy, cl := upstream(t)
	host := hostOf(up.URL)
	a := pushImage(t, cl, host, "library/multi", "amd64", 2000, 11)
	b := pushImage(t, cl, host, "library/multi", "arm64", 2000, 12)
	index := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[`+
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"platform":{"architecture":"amd64","os":"linux"}},`+
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"platform":{"architecture":"arm64","os":"linux"}}]}`,
		a.digest, len(a.manifest), b.digest, len(b.manifest)))
	if _, err := cl.ManifestPut(ctx, client.Repository{Host: host, Name: "library/multi"}, "latest", "application/vnd.oci.image.index.v1+json", index); err != nil {
		t.Fatal(err)
	}
	c := cache(t, proxy, nil)
	acceptIndex := http.Header{"Accept": {"application/vnd.oci.image.index.v1+json"}}

	resp, body := get(t, "GET", c.URL+"/v2/hub/multi/manifests/latest", acceptIndex)
	want(t, resp, body, 200, "miss")
	if !bytes.Equal(body, index) || resp.Header.Get("Content-Type") != "application/vnd.oci.image.index.v1+json" {
		t.Fatalf("index through the cache: %s %s", resp.Header.Get("Content-Type"), body)
	}
	proxy.Reset()
	// The arm64 client: its manifest by digest, its layer.
	resp, body = get(t, "GET", c.URL+"/v2/hub/multi/manifests/"+b.digest.String(), acceptOCI)
	want(t, resp, body, 200, "miss")
	if !bytes.Equal(body, b.manifest) {
		t.Fatalf("child manifest through the cache: %s", body)
	}
	resp, body = get(t, "GET", c.URL+"/v2/hub/multi/blobs/"+b.layer().String(), nil)
	want(t, resp, body, 200, "miss")
	if !bytes.Equal(body, b.layers[b.layer()]) {
		t.Fatal("child layer through the cache differs")
	}
	// By digest: one GET, no HEAD (content-addressed, never revalidated).
	if n := proxy.Count("GET", "manifest") + proxy.Count("HEAD", "manifest"); n != 1 {
		t.Fatalf("the arm64 pull asked the upstream for manifests %d times, want 1: %v", n, proxy.Log())
	}
	// The amd64 child was not fetched: the cache holds the index and what was asked for.
	proxy.Reset()
	resp, body = get(t, "GET", c.URL+"/v2/hub/multi/manifests/"+b.digest.String(), acceptOCI)
	want(t, resp, body, 200, "hit")
	resp, body = get(t, "GET", c.URL+"/v2/hub/multi/manifests/"+a.digest.String(), acceptOCI)
	want(t, resp, body, 200, "miss")
	if n := proxy.Count("GET", "manifest"); n != 1 {
		t.Fatalf("the amd64 manifest: %d upstream GETs, want 1: %v", n, proxy.Log())
	}
}
