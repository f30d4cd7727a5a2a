package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// push helpers for seeding: small configs and manifests over the real API.
func pushBlob(b *testing.B, c *http.Client, base, repo string, data []byte) (digest.Digest, int) {
	d := digest.FromBytes(data)
	resp, err := c.Post(base+"/v2/"+repo+"/blobs/uploads/?digest="+d.String(), "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("push blob: %d", resp.StatusCode)
	}
	return d, len(data)
}

func putManifest(b *testing.B, c *http.Client, base, repo, ref, mediaType string, body []byte) digest.Digest {
	req, _ := http.NewRequest("PUT", base+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body))
	req.Header.Set("Content-Type", mediaType)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b.Fatalf("put manifest %s:%s: %d", repo, ref, resp.StatusCode)
	}
	return digest.FromBytes(body)
}

// image pushes a config with labels and a manifest without layers; it returns the
// manifest's digest and size.
func image(b *testing.B, c *http.Client, base, repo, arch string, labels map[string]string, tag string) (digest.Digest, int) {
	cfg, _ := json.Marshal(map[string]any{"os": "linux", "architecture": arch, "config": map[string]any{"Labels": labels}, "rootfs": map[string]any{"type": "layers", "diff_ids": []string{}}})
	cd, cs := pushBlob(b, c, base, repo, cfg)
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[]}`, cd, cs))
	ref := tag
	if ref == "" {
		ref = digest.FromBytes(m).String()
	}
	return putManifest(b, c, base, repo, ref, "application/vnd.oci.image.manifest.v1+json", m), len(m)
}

// seedIndex fills the registry with n repositories: every other one a Flatpak app as an
// OCI index of amd64 and arm64 images with Flatpak labels, the rest plain images.
func seedIndex(b *testing.B, base string, n int) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				repo := fmt.Sprintf("apps/app%05d", i)
				if i%2 == 1 {
					image(b, c, base, repo, "amd64", map[string]string{"org.opencontainers.image.title": repo}, "latest")
					continue
				}
				var entries []string
				for _, arch := range []string{"amd64", "arm64"} {
					id := fmt.Sprintf("org.example.App%05d", i)
					labels := map[string]string{
						"org.flatpak.ref":            fmt.Sprintf("app/%s/%s/stable", id, map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[arch]),
						"org.flatpak.metadata":       "[Application]\nname=" + id + "\nruntime=org.example.Platform/x86_64/24\ncommand=app\n",
						"org.flatpak.commit":         digest.FromString(id + arch).Encoded(),
						"org.flatpak.download-size":  "1048576",
						"org.flatpak.installed-size": "4194304",
					}
					d, size := image(b, c, base, repo, arch, labels, "")
					entries = append(entries, fmt.Sprintf(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"%s","size":%d,"platform":{"os":"linux","architecture":"%s"}}`, d, size, arch))
				}
				idx := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` + entries[0] + "," + entries[1] + `]}`)
				putManifest(b, c, base, repo, "latest", "application/vnd.oci.image.index.v1+json", idx)
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

// flatpakQuery is the index query the real client sends (flatpak 1.14).
const flatpakQuery = "?label%3Aorg.flatpak.ref%3Aexists=1&architecture=amd64&os=linux&tag=latest"

// BenchmarkFlatpakIndex measures the index over 10,000 repositories as flatpak queries
// it: cold (the uncached /index/dynamic, a full query every time), cached (/index/static,
// the same query again), revalidated (304), and cached from 8 clients at once.
//
//	go test -run=^$ -bench=FlatpakIndex -benchtime=3s ./bench/
func BenchmarkFlatpakIndex(b *testing.B) {
	s := startServer(b, "--flatpak-index")
	start := time.Now()
	seedIndex(b, s.URL, 10_000)
	b.Logf("seeded 10,000 repositories in %s", time.Since(start).Round(time.Millisecond))
	const query = flatpakQuery

	get := func(b *testing.B, path string, headers ...string) (int, int, string) {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		for i := 0; i+1 < len(headers); i += 2 {
			req.Header.Set(headers[i], headers[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, int(n), resp.Header.Get("ETag")
	}
	var index struct {
		Results []struct{ Lists []struct{ Images []any } }
	}
	req, _ := http.NewRequest("GET", s.URL+"/index/dynamic"+query, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil || len(index.Results) != 5000 {
		b.Fatalf("index has %d results (%v), want 5000", len(index.Results), err)
	}
	resp.Body.Close()

	b.Run("cold-dynamic", func(b *testing.B) {
		for b.Loop() {
			if code, _, _ := get(b, "/index/dynamic"+query); code != 200 {
				b.Fatal(code)
			}
		}
	})
	b.Run("cached-static", func(b *testing.B) {
		var size int
		for b.Loop() {
			_, size, _ = get(b, "/index/static"+query)
		}
		b.ReportMetric(float64(size), "bytes/answer")
	})
	b.Run("cached-static-gzip", func(b *testing.B) {
		var size int
		tr := &http.Transport{DisableCompression: true}
		c := &http.Client{Transport: tr}
		for b.Loop() {
			req, _ := http.NewRequest("GET", s.URL+"/index/static"+query, nil)
			req.Header.Set("Accept-Encoding", "gzip")
			resp, err := c.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			size = int(n)
		}
		b.ReportMetric(float64(size), "bytes/answer")
	})
	b.Run("revalidate-304", func(b *testing.B) {
		_, _, etag := get(b, "/index/static"+query)
		for b.Loop() {
			if code, _, _ := get(b, "/index/static"+query, "If-None-Match", etag); code != http.StatusNotModified {
				b.Fatal(code)
			}
		}
	})
	b.Run("cached-static-8-clients", func(b *testing.B) {
		b.SetParallelism(4) // 4 × GOMAXPROCS(2) = 8 clients
		b.RunParallel(func(pb *testing.PB) {
			c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			for pb.Next() {
				req, _ := http.NewRequest("GET", s.URL+"/index/static"+query, nil)
				req.Header.Set("Accept-Encoding", "gzip")
				resp, err := c.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	})
}
