package e2e_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testenv"
)

// roundRobin is a load balancer in front of replicas: each request goes to the next one,
// so the requests of one upload land on different replicas.
func roundRobin(t *testing.T, backends ...*berth) *httptest.Server {
	t.Helper()
	var proxies []*httputil.ReverseProxy
	for _, b := range backends {
		u, _ := url.Parse(b.URL)
		p := httputil.NewSingleHostReverseProxy(u)
		p.FlushInterval = -1
		proxies = append(proxies, p)
	}
	var n atomic.Uint64
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		proxies[n.Add(1)%uint64(len(proxies))].ServeHTTP(w, r)
	}))
	t.Cleanup(lb.Close)
	return lb
}

// TestTwoReplicasShareOnePostgresAndOneBucket runs two `berth serve` processes on one
// PostgreSQL database and one S3 prefix behind a round-robin proxy: concurrent pushes
// through the proxy (each upload split across both), an upload driven by hand across the
// replicas, every image pulled back from each replica, and a tag moved on one replica
// seen in the other's Flatpak index at once.
func TestTwoReplicasShareOnePostgresAndOneBucket(t *testing.T) {
	dsn, bucket := testenv.PostgresURL(t), testenv.S3URL(t)
	args := []string{"--metadata", dsn, "--blobs", bucket, "--flatpak-index"}
	a, b := startBerth(t, t.TempDir(), args...), startBerth(t, t.TempDir(), args...)
	lb := roundRobin(t, a, b)
	lbHost := strings.TrimPrefix(lb.URL, "http://")

	// Concurrent pushes through the balancer.
	images := make([]v1.Image, 8)
	var wg sync.WaitGroup
	errs := make([]error, len(images))
	for i := range images {
		img, err := random.Image(200_000, 3)
		if err != nil {
			t.Fatal(err)
		}
		images[i] = img
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = remote.Write(refAt(t, lbHost, fmt.Sprintf("scaled/app%d:v1", i%3)), img)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("push %d through the balancer: %v", i, err)
		}
	}
	// Every image, from each replica directly.
	for _, r := range []*berth{a, b} {
		for i, img := range images {
			want, _ := img.Digest()
			got, err := remote.Image(refAt(t, r.Addr, fmt.Sprintf("scaled/app%d@%s", i%3, want)))
			if err != nil {
				t.Fatalf("pull image %d from %s: %v", i, r.Addr, err)
			}
			sameLayers(t, img, got)
		}
	}

	// One chunked upload: started on A, a chunk on B, a chunk on A, finished on B.
	blob := bytes.Repeat([]byte("0123456789abcdef"), 40_000)
	d := digest.FromBytes(blob)
	loc := mustDo(t, http.MethodPost, a.URL+"/v2/scaled/chunks/blobs/uploads/", nil, nil, http.StatusAccepted).Header.Get("Location")
	half := len(blob) / 2
	for i, step := range []struct {
		base        string
		from, until int
	}{{b.URL, 0, half}, {a.URL, half, len(blob)}} {
		h := http.Header{"Content-Range": {fmt.Sprintf("%d-%d", step.from, step.until-1)}, "Content-Type": {"application/octet-stream"}}
		resp := mustDo(t, http.MethodPatch, step.base+loc, blob[step.from:step.until], h, http.StatusAccepted)
		loc = resp.Header.Get("Location")
		if i == 0 && resp.Header.Get("Range") != fmt.Sprintf("0-%d", half-1) {
			t.Fatalf("Range after the first chunk on B: %q", resp.Header.Get("Range"))
		}
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	mustDo(t, http.MethodPut, b.URL+loc+sep+"digest="+d.String(), nil, nil, http.StatusCreated)
	for _, r := range []*berth{a, b} {
		resp := mustDo(t, http.MethodGet, r.URL+"/v2/scaled/chunks/blobs/"+d.String(), nil, nil, http.StatusOK)
		body, _ := io.ReadAll(resp.Body)
		if digest.FromBytes(body) != d {
			t.Fatalf("blob from %s: %d bytes that do not match", r.Addr, len(body))
		}
	}

	// A tag moved on A shows in B's (cached) Flatpak index within a second.
	push := func(version string) string {
		return pushFlatpakLike(t, a.Addr, "scaled/flatpak", version)
	}
	first := push("1")
	index := func() string {
		resp := mustDo(t, http.MethodGet, b.URL+"/index/static?label:org.flatpak.ref:exists=1&tag=latest", nil, nil, http.StatusOK)
		body, _ := io.ReadAll(resp.Body)
		return string(body)
	}
	if !strings.Contains(index(), first) {
		t.Fatalf("B's index lacks the first push %s", first)
	}
	second := push("2")
	deadline := time.Now().Add(time.Second)
	for !strings.Contains(index(), second) {
		if time.Now().After(deadline) {
			t.Fatalf("B's index still lacks %s a second after A moved the tag", second)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pushFlatpakLike pushes a one-layer image labelled as a Flatpak app to host, tagged
// latest, and returns its manifest digest.
func pushFlatpakLike(t *testing.T, host, repo, version string) string {
	t.Helper()
	return pushFlatpakLikeTag(t, host, repo, version, "latest")
}

// pushFlatpakLikeTag is pushFlatpakLike with another tag.
func pushFlatpakLikeTag(t *testing.T, host, repo, version, tag string) string {
	t.Helper()
	m := pushFlatpakLikeManifest(t, host, repo, version)
	mustDo(t, http.MethodPut, "http://"+host+"/v2/"+repo+"/manifests/"+tag, []byte(m), http.Header{"Content-Type": {"application/vnd.oci.image.manifest.v1+json"}}, http.StatusCreated)
	return digest.FromString(m).String()
}

// pushFlatpakLikeManifest pushes the blobs of that image and returns its manifest,
// unpushed.
func pushFlatpakLikeManifest(t *testing.T, host, repo, version string) string {
	t.Helper()
	base := "http://" + host + "/v2/" + repo
	layer := []byte("layer " + version)
	cfg := []byte(`{"architecture":"amd64","os":"linux","config":{"Labels":{"org.flatpak.ref":"app/org.example.Scaled/x86_64/stable","version":"` + version + `"}}}`)
	for _, b := range [][]byte{layer, cfg} {
		mustDo(t, http.MethodPost, base+"/blobs/uploads/?digest="+digest.FromBytes(b).String(), b,
			http.Header{"Content-Type": {"application/octet-stream"}}, http.StatusCreated)
	}
	return fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		digest.FromBytes(cfg), len(cfg), digest.FromBytes(layer), len(layer))
}

func refAt(t *testing.T, host, s string) nameRef {
	t.Helper()
	return parseRef(t, host+"/"+s)
}

func mustDo(t *testing.T, method, u string, body []byte, h http.Header, want int) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, u, bytes.NewReader(body))
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
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: %d, want %d: %s", method, u, resp.StatusCode, want, b)
	}
	return resp
}
