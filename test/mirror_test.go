package e2e_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"
	"golang.org/x/crypto/bcrypt"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/testenv"
)

// crane is go-containerregistry's CLI at the version go.mod requires, which
// scripts/install-deps.sh builds into the tools cache.
func crane(t *testing.T, args ...string) string {
	t.Helper()
	tools := os.Getenv("BERTH_TOOLS")
	if tools == "" {
		home, _ := os.UserHomeDir()
		tools = filepath.Join(home, ".cache", "berth-tools")
	}
	raw, _ := os.ReadFile("../go.mod")
	version := ""
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "github.com/google/go-containerregistry" {
			version = f[1]
		}
	}
	bin := filepath.Join(tools, "bin", "crane-"+version)
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("BERTH_E2E_ALLOW_SKIP") == "1" {
			t.Skipf("%s not installed", bin)
		}
		t.Fatalf("%s not installed: run scripts/install-deps.sh", bin)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("crane %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// startCache starts a Berth whose config file holds the given mirrors: YAML (a list).
func startCache(t *testing.T, mirrors string, args ...string) *berth {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte("mirrors:\n"+mirrors), 0o600); err != nil {
		t.Fatal(err)
	}
	return startBerth(t, filepath.Join(dir, "data"), append([]string{"--config", path}, args...)...)
}

// manifestGet fetches a manifest from a Berth by HTTP, for its headers.
func manifestGet(t *testing.T, b *berth, repo, ref string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.URL+"/v2/"+repo+"/manifests/"+ref, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// TestMirrorWithRealClients puts a cache in front of a Berth with auth on and a Debian
// docker-registry, pulls through it with skopeo, crane and the berth CLI, then stops the
// Berth upstream and pulls again: served stale, and said so.
func TestMirrorWithRealClients(t *testing.T) {
	needTool(t, "skopeo", "docker-registry")
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd, pwFile := filepath.Join(dir, "htpasswd"), filepath.Join(dir, "password")
	if err := os.WriteFile(htpasswd, []byte("alice:"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pwFile, []byte("alice-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	up := startBerth(t, filepath.Join(dir, "up"), "--htpasswd", htpasswd)
	dist := startDistribution(t)

	img := ociImage(t, 2)
	want, _ := img.Digest()
	if err := remote.Write(ref(t, up, "team/app:v1"), img, remote.WithAuth(&authn.Basic{Username: "alice", Password: "alice-pw"})); err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref(t, dist, "library/tool:v1"), img); err != nil {
		t.Fatal(err)
	}
	cache := startCache(t, fmt.Sprintf(`  - {prefix: up, url: %s, username: alice, password_file: %s, tag_ttl: 1ms}
  - {prefix: dist, url: %s, library: true}
`, up.URL, pwFile, dist.URL))

	layout := filepath.Join(dir, "layout")
	skopeo(t, "copy", "--src-tls-verify=false", "docker://"+cache.Addr+"/up/team/app:v1", "oci:"+layout+":v1")
	if got := crane(t, "digest", "--insecure", cache.Addr+"/up/team/app:v1"); got != want.String() {
		t.Fatalf("crane digest through the cache: %s, want %s", got, want)
	}
	crane(t, "pull", "--insecure", cache.Addr+"/dist/tool:v1", filepath.Join(dir, "tool.tar")) // library/tool upstream
	if out := runCLI(t, "tags", "--plain-http", cache.Addr+"/up/team/app"); strings.TrimSpace(out) != "v1" {
		t.Fatalf("berth tags of the cached repository: %q", out)
	}
	if out := crane(t, "catalog", "--insecure", cache.Addr); !strings.Contains(out, "up/team/app") || !strings.Contains(out, "dist/tool") {
		t.Fatalf("catalog of the cache: %q", out)
	}

	// The upstream goes away: what is cached is served, marked stale.
	up.Stop(t)
	resp, _ := manifestGet(t, cache, "up/team/app", "v1")
	if resp.StatusCode != 200 || resp.Header.Get("Berth-Cache") != "stale" || resp.Header.Get("Warning") != `110 - "Response is Stale"` {
		t.Fatalf("with the upstream stopped: %d, Berth-Cache %q, Warning %q", resp.StatusCode, resp.Header.Get("Berth-Cache"), resp.Header.Get("Warning"))
	}
	skopeo(t, "copy", "--src-tls-verify=false", "docker://"+cache.Addr+"/up/team/app:v1", "oci:"+filepath.Join(dir, "stale")+":v1")
	if got := crane(t, "digest", "--insecure", cache.Addr+"/up/team/app:v1"); got != want.String() {
		t.Fatalf("crane digest, stale: %s", got)
	}
	start := time.Now()
	resp, body := manifestGet(t, cache, "up/team/app", "never-pulled")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "UNAVAILABLE") || time.Since(start) > 3*time.Second {
		t.Fatalf("an uncached tag with the upstream stopped: %d %s after %s", resp.StatusCode, body, time.Since(start))
	}
	// Pushing to the cache is refused with a reason.
	if out, err := exec.Command("skopeo", "copy", "--dest-tls-verify=false", "oci:"+layout+":v1", "docker://"+cache.Addr+"/up/team/app:mine").CombinedOutput(); err == nil || !strings.Contains(string(out), "read-only pull-through cache") {
		t.Fatalf("push to the cache: err %v\n%s", err, out)
	}
	log := staleLog(cache.log.String())
	if !strings.Contains(log, `"path":"/v2/up/team/app/manifests/v1","query":"","status":200`) || !strings.Contains(log, `"cache":"stale"`) {
		t.Fatalf("no stale answer in the cache's request log:\n%s", log)
	}
	t.Logf("cache request log while the upstream was stopped:\n%s", log)
}

// staleLog keeps the access lines and the cache's warnings of a Berth log.
func staleLog(log string) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, `"msg":"request"`) || strings.Contains(line, "upstream failed") {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// seeded is n bytes of a seeded PRNG: a large blob that is never held in memory, and
// never committed.
func seeded(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

func seededDigest(t *testing.T, seed uint64, n int64) digest.Digest {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, seeded(seed, n)); err != nil {
		t.Fatal(err)
	}
	return digest.NewDigestFromEncoded(digest.SHA256, hex.EncodeToString(h.Sum(nil)))
}

func pushSeeded(t *testing.T, host, repo string, seed uint64, n int64) digest.Digest {
	t.Helper()
	d := seededDigest(t, seed, n)
	cl := client.New(client.WithPlainHTTP(true))
	if err := cl.BlobPut(t.Context(), client.Repository{Host: host, Name: repo}, d.String(), n, seeded(seed, n)); err != nil {
		t.Fatal(err)
	}
	return d
}

// pullAll has n clients GET one blob at once from base and checks each one's bytes
// by digest as they stream.
func pullAll(t *testing.T, base, repo string, d digest.Digest, size int64, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(base + "/v2/" + repo + "/blobs/" + d.String())
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			v := d.Verifier()
			got, err := io.Copy(v, resp.Body)
			if err != nil || resp.StatusCode != 200 || got != size || !v.Verified() {
				errs[i] = fmt.Errorf("client %d: status %d, %d bytes, verified %v, err %v", i, resp.StatusCode, got, v.Verified(), err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestMirrorSixteenClientsOneColdBlob: 16 clients pull the same cold 256 MiB blob at
// once; the upstream sends it once, and every client gets verified bytes.
func TestMirrorSixteenClientsOneColdBlob(t *testing.T) {
	const size = 256 << 20
	up := startBerth(t, t.TempDir())
	proxy := testenv.NewProxy(t, up.URL)
	d := pushSeeded(t, up.Addr, "big/blob", 1, size)
	cache := startCache(t, fmt.Sprintf("  - {prefix: up, url: %s}\n", proxy.URL))
	proxy.Reset()
	start := time.Now()
	pullAll(t, cache.URL, "up/big/blob", d, size, 16)
	t.Logf("16 clients × 256 MiB through a cold cache: %s", time.Since(start).Round(time.Millisecond))
	if n := proxy.Count("GET", "blob"); n != 1 {
		t.Fatalf("16 concurrent cold pulls made %d upstream blob GETs, want 1", n)
	}
}

// TestMirrorUpstream429AndTruncation: an upstream that answers 429 leaves the cached
// copy served stale and an uncached blob refused with 429; one that cuts a blob mid-way
// leaves nothing in the blob store, and the next pull fetches it whole.
func TestMirrorUpstream429AndTruncation(t *testing.T) {
	up := startBerth(t, t.TempDir())
	proxy := testenv.NewProxy(t, up.URL)
	img := ociImage(t, 1)
	if err := remote.Write(ref(t, up, "r/app:v1"), img); err != nil {
		t.Fatal(err)
	}
	d := pushSeeded(t, up.Addr, "r/app", 2, 8<<20)
	cache := startCache(t, fmt.Sprintf("  - {prefix: up, url: %s, tag_ttl: 1ms}\n", proxy.URL))
	if resp, body := manifestGet(t, cache, "up/r/app", "v1"); resp.StatusCode != 200 {
		t.Fatalf("first pull: %d %s", resp.StatusCode, body)
	}

	proxy.SetMode(testenv.Proxy429)
	resp, _ := manifestGet(t, cache, "up/r/app", "v1")
	if resp.StatusCode != 200 || resp.Header.Get("Berth-Cache") != "stale" {
		t.Fatalf("manifest with the upstream at 429: %d, Berth-Cache %q", resp.StatusCode, resp.Header.Get("Berth-Cache"))
	}
	r, err := http.Get(cache.URL + "/v2/up/r/app/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("uncached blob with the upstream at 429: %d", r.StatusCode)
	}

	proxy.SetMode(testenv.ProxyTruncate)
	r, err = http.Get(cache.URL + "/v2/up/r/app/blobs/" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r.Body)
	r.Body.Close()
	if err == nil || n >= 8<<20 {
		t.Fatalf("truncated upstream transfer: the client got %d bytes, err %v", n, err)
	}
	time.Sleep(100 * time.Millisecond) // the cache's log line and cleanup follow the cut
	blobFile := filepath.Join(cache.Data, "blobs", "sha256", d.Encoded()[:2], d.Encoded())
	if _, err := os.Stat(blobFile); !os.IsNotExist(err) {
		t.Fatalf("after a truncated transfer the blob file exists (err %v)", err)
	}
	proxy.SetMode(testenv.ProxyPass)
	proxy.Reset()
	pullAll(t, cache.URL, "up/r/app", d, 8<<20, 1)
	if _, err := os.Stat(blobFile); err != nil {
		t.Fatalf("after a whole transfer: %v", err)
	}
}

// TestMirrorTwoReplicasFetchOnce runs two caches on one PostgreSQL database and one S3
// prefix behind a round-robin proxy: concurrent first pulls of one blob through both
// fetch it from the upstream once (the lease in the metadata store), and the blob is
// then served by each replica. Manifests are fetched at most once per replica.
func TestMirrorTwoReplicasFetchOnce(t *testing.T) {
	dsn, bucket := testenv.PostgresURL(t), testenv.S3URL(t)
	up := startBerth(t, t.TempDir())
	proxy := testenv.NewProxy(t, up.URL)
	img := ociImage(t, 1)
	if err := remote.Write(ref(t, up, "r/app:v1"), img); err != nil {
		t.Fatal(err)
	}
	const size = 32 << 20
	d := pushSeeded(t, up.Addr, "r/app", 3, size)
	mirrors := fmt.Sprintf("  - {prefix: up, url: %s}\n", proxy.URL)
	a := startCache(t, mirrors, "--metadata", dsn, "--blobs", bucket)
	b := startCache(t, mirrors, "--metadata", dsn, "--blobs", bucket)
	lb := roundRobin(t, a, b)
	proxy.Reset()

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, body := manifestGet(t, &berth{URL: lb.URL}, "up/r/app", "v1"); resp.StatusCode != 200 {
				t.Errorf("manifest through two replicas: %d %s", resp.StatusCode, body)
			}
		}()
	}
	wg.Wait()
	pullAll(t, lb.URL, "up/r/app", d, size, 8)
	blobGets, manifestGets := proxy.Count("GET", "blob"), proxy.Count("GET", "manifest")
	t.Logf("two replicas, 8 concurrent first pulls each of a manifest and a 32 MiB blob: upstream GETs: %d blob (config included), %d manifest; HEADs: %d manifest",
		blobGets, manifestGets, proxy.Count("HEAD", "manifest"))
	// The config blob comes with the manifest (once per replica at worst), the layer once.
	if blobGets > 3 || manifestGets > 2 {
		t.Fatalf("upstream GETs: %d blob, %d manifest; want the layer once, the manifest and config at most once per replica", blobGets, manifestGets)
	}
	layerGets := 0
	for _, line := range proxy.Log() {
		if strings.HasPrefix(line, "GET ") && strings.Contains(line, d.String()) {
			layerGets++
		}
	}
	if layerGets != 1 {
		t.Fatalf("the 32 MiB layer was fetched %d times from the upstream, want once", layerGets)
	}
	for _, r := range []*berth{a, b} {
		pullAll(t, r.URL, "up/r/app", d, size, 1)
	}
}
