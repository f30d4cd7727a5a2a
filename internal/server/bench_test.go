package server

import (
	"bytes"
	"context"
	"fmt"
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
	hs, _ := start(&testing.T{}, nil)
	defer hs.Close()
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
