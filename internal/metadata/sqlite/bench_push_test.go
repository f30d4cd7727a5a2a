package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// BenchmarkPutNewManifest stores a new manifest with a new tag per iteration, one
// writer at a time: the metadata work of a manifest push, without HTTP or contention.
//
//	go test -run='^$' -bench='PutNewManifest|LinkNewBlob' -count=5 ./internal/metadata/sqlite/
func BenchmarkPutNewManifest(b *testing.B) {
	s := open(b)
	ctx := context.Background()
	cfg, layer := digest.FromString("cfg"), digest.FromString("layer")
	for _, d := range []digest.Digest{cfg, layer} {
		if err := s.LinkBlob(ctx, "bench/m", metadata.Blob{Digest: d, Size: 100}); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		payload := []byte(fmt.Sprintf(`{"n":%d}`, i))
		m := &metadata.Manifest{Digest: digest.FromBytes(payload), MediaType: "application/vnd.oci.image.manifest.v1+json",
			ConfigDigest: cfg, Payload: payload, CreatedAt: time.Now(), Blobs: []digest.Digest{cfg, layer},
			Annotations: map[string]string{"n": fmt.Sprint(i)}}
		if err := s.PutManifest(ctx, "bench/m", m, []string{fmt.Sprintf("t%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLinkNewBlob records and links a new blob per iteration: the metadata work of
// a blob push.
func BenchmarkLinkNewBlob(b *testing.B) {
	s := open(b)
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		if err := s.LinkBlob(ctx, "bench/b", metadata.Blob{Digest: digest.FromString(fmt.Sprint(i)), Size: 4096}); err != nil {
			b.Fatal(err)
		}
	}
}
