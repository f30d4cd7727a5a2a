package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
)

var hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}}

// source is a deterministic stream of pseudo-random bytes; it never exists in memory.
func source(seed byte, size int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{seed}), size)
}

func digestOf(seed byte, size int64) digest.Digest {
	h := sha256.New()
	_, _ = io.Copy(h, source(seed, size))
	return digest.NewDigest(digest.SHA256, h)
}

func do(method, u string, body io.Reader, size int64, header map[string]string, want int) (*http.Response, error) {
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.ContentLength = size
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %d, want %d: %s", method, u, resp.StatusCode, want, b)
	}
	return resp, nil
}

func drain(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

func absolute(base, loc string) string {
	if strings.HasPrefix(loc, "http") {
		return loc
	}
	return base + loc
}

func withQuery(u, kv string) string {
	if strings.Contains(u, "?") {
		return u + "&" + kv
	}
	return u + "?" + kv
}

// pushBlob pushes size bytes of seed in one request (chunk 0) or in PATCHes of chunk
// bytes, and returns the rate in MB/s.
func pushBlob(base, repo string, seed byte, size, chunk int64, d digest.Digest) (float64, error) {
	start := time.Now()
	ct := map[string]string{"Content-Type": "application/octet-stream"}
	// POST then PUT with the whole body: the monolithic upload every registry accepts
	// (Distribution 2.8 ignores a body on the POST).
	resp, err := do("POST", base+"/v2/"+repo+"/blobs/uploads/", nil, 0, nil, 202)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	loc := absolute(base, resp.Header.Get("Location"))
	if chunk == 0 {
		if err := drain(do("PUT", withQuery(loc, "digest="+d.String()), source(seed, size), size, ct, 201)); err != nil {
			return 0, err
		}
		return float64(size) / 1e6 / time.Since(start).Seconds(), nil
	}
	src := source(seed, size)
	for off := int64(0); off < size; off += chunk {
		n := min(chunk, size-off)
		h := map[string]string{"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("%d-%d", off, off+n-1)}
		resp, err := do("PATCH", loc, io.LimitReader(src, n), n, h, 202)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		loc = absolute(base, resp.Header.Get("Location"))
	}
	if err := drain(do("PUT", withQuery(loc, "digest="+d.String()), nil, 0, nil, 201)); err != nil {
		return 0, err
	}
	return float64(size) / 1e6 / time.Since(start).Seconds(), nil
}

// pullBlob pulls and verifies a blob, returning MB/s.
func pullBlob(base, repo string, d digest.Digest, size int64) (float64, error) {
	start := time.Now()
	resp, err := do("GET", base+"/v2/"+repo+"/blobs/"+d.String(), nil, 0, nil, 200)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	v := d.Verifier()
	n, err := io.Copy(v, resp.Body)
	if err != nil || n != size || !v.Verified() {
		return 0, fmt.Errorf("pull %s: %d bytes, verified=%v, %v", d, n, v.Verified(), err)
	}
	return float64(size) / 1e6 / time.Since(start).Seconds(), nil
}

// parallel runs count operations on clients workers and returns operations per second.
func parallel(clients, count int, op func(i int) error) (float64, error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	start := time.Now()
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= count {
					return
				}
				if err := op(i); err != nil {
					once.Do(func() { first = err })
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(count) / time.Since(start).Seconds(), first
}

// image pushes a tiny config and layer into repo and returns a manifest maker whose
// manifests differ by an annotation.
func image(base, repo string) (func(i int) []byte, error) {
	cfg := []byte(`{"architecture":"amd64","os":"linux","config":{}}`)
	layer := []byte("a layer")
	for _, b := range [][]byte{cfg, layer} {
		if err := putBlob(base, repo, b); err != nil {
			return nil, err
		}
	}
	return func(i int) []byte {
		return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}],"annotations":{"n":"%d"}}`,
			digest.FromBytes(cfg), len(cfg), digest.FromBytes(layer), len(layer), i)
	}, nil
}

var manifestType = map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}

func putManifest(base, repo, ref string, body []byte) error {
	return drain(do("PUT", base+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body), int64(len(body)), manifestType, 201))
}

// listTags fetches every tag of repo, following Link headers from the first URL;
// it returns how many tags and requests it took.
func listTags(base, repo, query string) (tags, requests int, err error) {
	u := base + "/v2/" + repo + "/tags/list" + query
	for u != "" {
		resp, err := do("GET", u, nil, 0, nil, 200)
		if err != nil {
			return 0, 0, err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		requests++
		tags += strings.Count(string(body), `"`) / 2 // every tag is one quoted string
		tags -= 3                                    // "name", the name itself, "tags"
		u = nextLink(base, resp.Header.Get("Link"))
	}
	return tags, requests, nil
}

// nextLink reads <URL>; rel="next" (the registries measured here send one link).
func nextLink(base, h string) string {
	if !strings.Contains(h, `rel="next"`) {
		return ""
	}
	start, end := strings.Index(h, "<"), strings.Index(h, ">")
	if start < 0 || end < start {
		return ""
	}
	u, err := url.Parse(h[start+1 : end])
	if err != nil {
		return ""
	}
	if u.IsAbs() {
		return u.String()
	}
	return base + u.String()
}

// mountInto links the tiny image's blobs into another repository.
func mountInto(base, from, repo string, blobs []digest.Digest) error {
	for _, d := range blobs {
		resp, err := do("POST", base+"/v2/"+repo+"/blobs/uploads/?mount="+d.String()+"&from="+from, nil, 0, nil, 201)
		if err != nil {
			return err
		}
		resp.Body.Close()
	}
	return nil
}

// putBlob uploads a small blob with POST then PUT.
func putBlob(base, repo string, b []byte) error {
	resp, err := do("POST", base+"/v2/"+repo+"/blobs/uploads/", nil, 0, nil, 202)
	if err != nil {
		return err
	}
	resp.Body.Close()
	loc := withQuery(absolute(base, resp.Header.Get("Location")), "digest="+digest.FromBytes(b).String())
	return drain(do("PUT", loc, bytes.NewReader(b), int64(len(b)), map[string]string{"Content-Type": "application/octet-stream"}, 201))
}
