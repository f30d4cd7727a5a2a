package bench

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/opencontainers/go-digest"
)

// source is a deterministic stream of size pseudo-random bytes; it never exists in
// memory as a whole, on either side.
func source(seed byte, size int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{seed}), size)
}

func digestOf(seed byte, size int64) digest.Digest {
	h := sha256.New()
	if _, err := io.Copy(h, source(seed, size)); err != nil {
		panic(err)
	}
	return digest.NewDigest(digest.SHA256, h)
}

// BenchmarkBlob1GiB pushes a 1 GiB blob in one streamed request and pulls it back,
// verifying its digest, and reports the server's peak RSS.
//
//	go test -run=^$ -bench=Blob1GiB -benchtime=1x ./bench/
func BenchmarkBlob1GiB(b *testing.B) {
	const size = 1 << 30
	s := startServer(b)
	d := digestOf(1, size)
	_, idle := s.memory(b)
	b.SetBytes(2 * size) // pushed and pulled
	for i := 0; b.Loop(); i++ {
		repo := fmt.Sprintf("bench/blob%d", i)
		push(b, s.URL, repo, d, source(1, size), size)
		resp, err := http.Get(s.URL + "/v2/" + repo + "/blobs/" + d.String())
		if err != nil {
			b.Fatal(err)
		}
		v := d.Verifier()
		n, err := io.Copy(v, resp.Body)
		resp.Body.Close()
		if err != nil || n != size || !v.Verified() {
			b.Fatalf("pull: %d bytes, %v, verified %v", n, err, v.Verified())
		}
	}
	_, peak := s.memory(b)
	b.ReportMetric(float64(idle)/(1<<20), "idle-peak-MiB")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
}
