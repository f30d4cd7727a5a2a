package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testenv"
)

// BenchmarkMirror256MiB pulls an image with a 256 MiB layer directly from an upstream
// Berth, then through a cold pull-through cache in front of it (a fresh cache each
// iteration), then through the warm cache, in the same run; each pull fetches the
// manifest by tag, the config and the layer, and verifies every digest. It reports the
// seconds of each pull and the requests the upstream received per cold and warm pull.
//
//	go test -run=^$ -bench=Mirror256MiB -benchtime=3x ./bench/
func BenchmarkMirror256MiB(b *testing.B) {
	const size = 256 << 20
	up := startServer(b)
	proxy := testenv.NewProxy(b, up.URL)
	layer := digestOf(3, size)
	push(b, up.URL, "lib/big", layer, source(3, size), size)
	cfg := []byte(`{"architecture":"amd64","os":"linux"}`)
	push(b, up.URL, "lib/big", digest.FromBytes(cfg), strings.NewReader(string(cfg)), int64(len(cfg)))
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		digest.FromBytes(cfg), len(cfg), layer, size)
	req, _ := http.NewRequest("PUT", up.URL+"/v2/lib/big/manifests/v1", strings.NewReader(manifest))
	req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 201 {
		b.Fatalf("push manifest: %v %v", resp, err)
	}
	conf := filepath.Join(b.TempDir(), "cache.yaml")
	if err := os.WriteFile(conf, []byte("mirrors:\n  - {prefix: up, url: "+proxy.URL+"}\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	var direct, cold, warm time.Duration
	var coldReqs, warmReqs int
	b.SetBytes(3 * size)
	for b.Loop() {
		b.StopTimer()
		cache := startServer(b, "--config", conf)
		b.StartTimer()
		direct += pullImage(b, up.URL, "lib/big")
		proxy.Reset()
		cold += pullImage(b, cache.URL, "up/lib/big")
		coldReqs += len(proxy.Log())
		proxy.Reset()
		warm += pullImage(b, cache.URL, "up/lib/big")
		warmReqs += len(proxy.Log())
	}
	n := float64(b.N)
	b.ReportMetric(direct.Seconds()/n, "direct-s/pull")
	b.ReportMetric(cold.Seconds()/n, "cold-s/pull")
	b.ReportMetric(warm.Seconds()/n, "warm-s/pull")
	b.ReportMetric(float64(coldReqs)/n, "upstream-req/cold-pull")
	b.ReportMetric(float64(warmReqs)/n, "upstream-req/warm-pull")
}

// push uploads size bytes of body as blob d of repo in one streamed POST.
func push(b *testing.B, base, repo string, d digest.Digest, body io.Reader, size int64) {
	b.Helper()
	req, err := http.NewRequest("POST", base+"/v2/"+repo+"/blobs/uploads/?digest="+d.String(), body)
	if err != nil {
		b.Fatal(err)
	}
	req.ContentLength = size
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("push %s: %d", d, resp.StatusCode)
	}
}

// pullImage pulls repo:v1 as a client does and returns how long it took.
func pullImage(b *testing.B, base, repo string) time.Duration {
	b.Helper()
	start := time.Now()
	req, _ := http.NewRequest("GET", base+"/v2/"+repo+"/manifests/v1", nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	var m struct {
		Config struct{ Digest digest.Digest }
		Layers []struct{ Digest digest.Digest }
	}
	err = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("manifest of %s: %d %v", repo, resp.StatusCode, err)
	}
	for _, d := range append([]digest.Digest{m.Config.Digest}, m.Layers[0].Digest) {
		resp, err := http.Get(base + "/v2/" + repo + "/blobs/" + d.String())
		if err != nil {
			b.Fatal(err)
		}
		v := d.Verifier()
		_, err = io.Copy(v, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || !v.Verified() {
			b.Fatalf("blob %s of %s: %d %v verified=%v", d, repo, resp.StatusCode, err, v.Verified())
		}
	}
	return time.Since(start)
}
