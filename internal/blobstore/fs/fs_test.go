package fs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blobstore"
	"github.com/berth-registry/berth/internal/blobstore/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) blobstore.Store {
		s, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestUploadNeverVisibleAsBlob(t *testing.T) {
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("in progress")
	if _, err := s.Append(context.Background(), "up", 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(context.Background(), digest.FromBytes(data)); err == nil {
		t.Fatal("an unfinished upload is served as a blob")
	}
	entries, err := os.ReadDir(filepath.Join(root, "blobs"))
	if err != nil || len(entries) != 0 {
		t.Fatalf("blobs/ holds %v, %v", entries, err)
	}
}

func TestRefusesTraversal(t *testing.T) {
	s, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"../x", "a/b", "", "..", string(make([]byte, 200))} {
		if _, err := s.Append(ctx, id, 0, bytes.NewReader(nil)); err == nil {
			t.Errorf("Append accepted upload id %q", id)
		}
	}
	if _, err := s.Open(ctx, digest.Digest("sha256:../../etc/passwd"), 0, -1); err == nil {
		t.Error("Open accepted a traversing digest")
	}
}

func BenchmarkAppendCommit256MiB(b *testing.B) {
	const size = 256 << 20
	s, err := New(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.SetBytes(size)
	for i := 0; b.Loop(); i++ {
		h := sha256.New()
		src := io.TeeReader(io.LimitReader(rand.NewChaCha8([32]byte{byte(i)}), size), h)
		if _, err := s.Append(ctx, "bench", 0, src); err != nil {
			b.Fatal(err)
		}
		if err := s.Commit(ctx, "bench", size, digest.NewDigest(digest.SHA256, h)); err != nil {
			b.Fatal(err)
		}
	}
}
