package server

import (
	"bytes"
	"encoding/binary"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/config"
)

// BenchmarkBlobPut pushes distinct 4 KiB blobs, each in one POST ?digest=, from 16
// concurrent clients to an in-process Berth over loopback HTTP: with blobs this small the
// cost is the push path's metadata work (session, link, accounting), not the bytes.
//
//	go test -run=^$ -bench=BlobPut -benchtime=3s ./internal/server/
func BenchmarkBlobPut(b *testing.B) { benchBlobPut(b, nil) }

// BenchmarkBlobPutWithQuota is BenchmarkBlobPut into a namespace with a storage limit
// (one that is never reached): the cost of the quota's checks on the push path.
func BenchmarkBlobPutWithQuota(b *testing.B) {
	benchBlobPut(b, func(c *config.Config) { c.Quotas.Storage = 1 << 50 })
}

func benchBlobPut(b *testing.B, adjust func(*config.Config)) {
	hs, _ := start(b, adjust)
	var n atomic.Int64
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.SetParallelism(8)
	b.SetBytes(4096)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		blob := make([]byte, 4096)
		for pb.Next() {
			binary.LittleEndian.PutUint64(blob, uint64(n.Add(1)))
			d := digest.FromBytes(blob)
			req, _ := http.NewRequest("POST", hs.URL+"/v2/bench/b/blobs/uploads/?digest="+d.String(), bytes.NewReader(blob))
			req.Header.Set("Content-Type", "application/octet-stream")
			resp, err := hc.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				b.Fatalf("POST: %d", resp.StatusCode)
			}
		}
	})
}
