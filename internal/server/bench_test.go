package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/client"
)

// BenchmarkManifestPut pushes distinct image manifests from 16 concurrent clients to an
// in-process Berth over loopback HTTP, for profiling the push path:
//
//	go test -run=^$ -bench=ManifestPut -cpuprofile cpu.prof ./internal/server/
func BenchmarkManifestPut(b *testing.B) {
	hs, _ := start(b, nil)
	c := client.New(client.WithPlainHTTP(true))
	repo := client.Repository{Host: host(hs), Name: "bench/m"}
	cfg := []byte(`{"architecture":"amd64","os":"linux","config":{}}`)
	layer := []byte("layer")
	for _, blob := range [][]byte{cfg, layer} {
		if err := c.BlobPut(context.Background(), repo, digest.FromBytes(blob).String(), int64(len(blob)), bytes.NewReader(blob)); err != nil {
			b.Fatal(err)
		}
	}
	var n atomic.Int64
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}],"annotations":{"n":"%d"}}`,
				digest.FromBytes(cfg), len(cfg), digest.FromBytes(layer), len(layer), i)
			req, _ := http.NewRequest("PUT", hs.URL+"/v2/bench/m/manifests/t"+fmt.Sprint(i), strings.NewReader(m))
			req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 201 {
				b.Fatalf("PUT: %d", resp.StatusCode)
			}
		}
	})
}

// BenchmarkTagPage asks for one page of 100 tags at a time out of 10,000, as a client
// walking them with n=100 does: the per-request cost of a walk.
//
//	go test -run=^$ -bench=TagPage -cpuprofile cpu.prof ./internal/server/
func BenchmarkTagPage(b *testing.B) {
	const tags = 10_000
	hs, _ := start(b, nil)
	c := client.New(client.WithPlainHTTP(true))
	repo := client.Repository{Host: host(hs), Name: "bench/t"}
	cfg := []byte(`{}`)
	if err := c.BlobPut(context.Background(), repo, digest.FromBytes(cfg).String(), int64(len(cfg)), bytes.NewReader(cfg)); err != nil {
		b.Fatal(err)
	}
	m := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[]}`, digest.FromBytes(cfg)))
	for i := range tags {
		if _, err := c.ManifestPut(context.Background(), repo, fmt.Sprintf("t%05d", i), "application/vnd.oci.image.manifest.v1+json", m); err != nil {
			b.Fatal(err)
		}
	}
	hc := &http.Client{}
	var i int
	for b.Loop() {
		resp, err := hc.Get(fmt.Sprintf("%s/v2/bench/t/tags/list?n=100&last=t%05d", hs.URL, i%(tags-100)))
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || bytes.Count(body, []byte(`"t0`)) != 100 {
			b.Fatalf("page: %d %s", resp.StatusCode, body)
		}
		i += 100
	}
}
