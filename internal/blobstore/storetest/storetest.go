// Package storetest is the contract every blobstore.Store implementation must pass. An
// implementation's tests call Run with a constructor of fresh, empty stores.
package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	_ "crypto/sha512" // registers sha512 with go-digest
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blobstore"
)

// Run runs the contract suite.
func Run(t *testing.T, newStore func(t *testing.T) blobstore.Store) {
	tests := []struct {
		name string
		fn   func(*testing.T, blobstore.Store)
	}{
		{"MissingBlobIsNotFound", testMissing},
		{"AppendCommitOpen", testAppendCommitOpen},
		{"OpenRanges", testOpenRanges},
		{"AppendPastStoredDataIsOffsetError", testAppendGap},
		{"AppendDropsTailOfFailedAppend", testAppendDropsTail},
		{"CommitCutsToSize", testCommitCutsToSize},
		{"CommitWithoutDataIsEmptyBlob", testEmptyBlob},
		{"CommitOfExistingBlobReplacesIt", testCommitReplaces},
		{"AbortIsIdempotent", testAbort},
		{"OpenUploadStreamsReceivedBytes", testOpenUpload},
		{"ConcurrentCommitsOfOneDigest", testConcurrentCommits},
		{"Sha512", testSha512},
		{"LargeBlobStreams", testLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore(t)) })
	}
}

func put(t *testing.T, s blobstore.Store, id string, data []byte) digest.Digest {
	t.Helper()
	ctx := context.Background()
	if n, err := s.Append(ctx, id, 0, bytes.NewReader(data)); err != nil || n != int64(len(data)) {
		t.Fatalf("Append = %d, %v", n, err)
	}
	d := digest.FromBytes(data)
	if err := s.Commit(ctx, id, int64(len(data)), d); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	return d
}

func read(t *testing.T, s blobstore.Store, d digest.Digest, off, n int64) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), d, off, n)
	if err != nil {
		t.Fatalf("Open(%s, %d, %d): %v", d, off, n, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testMissing(t *testing.T, s blobstore.Store) {
	ctx, d := context.Background(), digest.FromString("nothing")
	if _, err := s.Stat(ctx, d); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Stat: %v", err)
	}
	if _, err := s.Open(ctx, d, 0, -1); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Open: %v", err)
	}
	if err := s.Delete(ctx, d); !errors.Is(err, blobstore.ErrNotFound) {
		t.Errorf("Delete: %v", err)
	}
}

func testAppendCommitOpen(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	parts := [][]byte{[]byte("hello "), []byte("blob "), []byte("world")}
	var off int64
	for _, p := range parts {
		n, err := s.Append(ctx, "u1", off, bytes.NewReader(p))
		if err != nil {
			t.Fatal(err)
		}
		off += n
	}
	want := bytes.Join(parts, nil)
	d := digest.FromBytes(want)
	if err := s.Commit(ctx, "u1", off, d); err != nil {
		t.Fatal(err)
	}
	if size, err := s.Stat(ctx, d); err != nil || size != int64(len(want)) {
		t.Fatalf("Stat = %d, %v", size, err)
	}
	if got := read(t, s, d, 0, -1); !bytes.Equal(got, want) {
		t.Fatalf("read %q", got)
	}
	if err := s.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Stat(ctx, d); !errors.Is(err, blobstore.ErrNotFound) {
		t.Fatalf("Stat after Delete: %v", err)
	}
}

func testOpenRanges(t *testing.T, s blobstore.Store) {
	d := put(t, s, "r", []byte("0123456789"))
	for _, tc := range []struct {
		off, n int64
		want   string
	}{{0, -1, "0123456789"}, {3, 4, "3456"}, {7, -1, "789"}, {10, 0, ""}, {9, 1, "9"}} {
		if got := string(read(t, s, d, tc.off, tc.n)); got != tc.want {
			t.Errorf("Open(%d, %d) = %q, want %q", tc.off, tc.n, got, tc.want)
		}
	}
}

func testAppendGap(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	if _, err := s.Append(ctx, "g", 0, bytes.NewReader([]byte("abc"))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "g", 5, bytes.NewReader([]byte("x"))); !errors.Is(err, blobstore.ErrOffset) {
		t.Fatalf("Append past the end: %v", err)
	}
	if _, err := s.Append(ctx, "never", 5, bytes.NewReader([]byte("x"))); !errors.Is(err, blobstore.ErrOffset) {
		t.Fatalf("Append to an upload that does not exist: %v", err)
	}
}

type failingReader struct {
	data []byte
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, errors.New("client went away")
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func testAppendDropsTail(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	if _, err := s.Append(ctx, "t", 0, bytes.NewReader([]byte("good"))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "t", 4, &failingReader{data: []byte("GARBAGE")}); err == nil {
		t.Fatal("failing reader: no error")
	}
	if _, err := s.Append(ctx, "t", 4, bytes.NewReader([]byte("!"))); err != nil {
		t.Fatal(err)
	}
	d := digest.FromString("good!")
	if err := s.Commit(ctx, "t", 5, d); err != nil {
		t.Fatal(err)
	}
	if got := string(read(t, s, d, 0, -1)); got != "good!" {
		t.Fatalf("blob = %q", got)
	}
}

func testCommitCutsToSize(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	if _, err := s.Append(ctx, "c", 0, bytes.NewReader([]byte("keep"))); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "c", 4, &failingReader{data: []byte("tail")}); err == nil {
		t.Fatal("failing reader: no error")
	}
	d := digest.FromString("keep")
	if err := s.Commit(ctx, "c", 4, d); err != nil {
		t.Fatal(err)
	}
	if got := string(read(t, s, d, 0, -1)); got != "keep" {
		t.Fatalf("blob = %q", got)
	}
	if _, err := s.Append(ctx, "short", 0, bytes.NewReader([]byte("ab"))); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "short", 3, digest.FromString("abc")); !errors.Is(err, blobstore.ErrOffset) {
		t.Fatalf("Commit beyond the data: %v", err)
	}
}

func testEmptyBlob(t *testing.T, s blobstore.Store) {
	d := digest.FromBytes(nil)
	if err := s.Commit(context.Background(), "empty", 0, d); err != nil {
		t.Fatal(err)
	}
	if size, err := s.Stat(context.Background(), d); err != nil || size != 0 {
		t.Fatalf("Stat = %d, %v", size, err)
	}
}

func testCommitReplaces(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	d := put(t, s, "a", []byte("same"))
	// The store trusts the caller's digest, so other bytes show whether the commit wrote
	// (a commit that only dropped the upload would be faster for a blob that exists, and
	// tell so).
	if _, err := s.Append(ctx, "b", 0, bytes.NewReader([]byte("SAME"))); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, "b", 4, d); err != nil {
		t.Fatal(err)
	}
	if got := string(read(t, s, d, 0, -1)); got != "SAME" {
		t.Fatalf("blob = %q after a commit over it, want the committed bytes", got)
	}
	// The upload is gone: appending past its start finds nothing.
	if _, err := s.Append(ctx, "b", 4, bytes.NewReader([]byte("x"))); !errors.Is(err, blobstore.ErrOffset) {
		t.Fatalf("upload survived its commit: %v", err)
	}
}

func testAbort(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	if _, err := s.Append(ctx, "x", 0, bytes.NewReader([]byte("12345"))); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.Abort(ctx, "x"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append(ctx, "x", 5, bytes.NewReader([]byte("6"))); !errors.Is(err, blobstore.ErrOffset) {
		t.Fatalf("data survived Abort: %v", err)
	}
}

func testOpenUpload(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	rc, err := s.OpenUpload(ctx, "none")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(rc); len(b) != 0 {
		t.Fatalf("upload without data read %q", b)
	}
	rc.Close()
	if _, err := s.Append(ctx, "o", 0, bytes.NewReader([]byte("partial"))); err != nil {
		t.Fatal(err)
	}
	rc, err = s.OpenUpload(ctx, "o")
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, _ := io.ReadAll(rc); string(b) != "partial" {
		t.Fatalf("OpenUpload read %q", b)
	}
}

func testConcurrentCommits(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	data := bytes.Repeat([]byte("concurrent"), 10000)
	d := digest.FromBytes(data)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "cc" + string(rune('a'+i))
			if _, err := s.Append(ctx, id, 0, bytes.NewReader(data)); err != nil {
				errs <- err
				return
			}
			errs <- s.Commit(ctx, id, int64(len(data)), d)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := read(t, s, d, 0, -1); !bytes.Equal(got, data) {
		t.Fatal("blob corrupted by concurrent commits")
	}
}

func testSha512(t *testing.T, s blobstore.Store) {
	ctx := context.Background()
	data := []byte("sha512 content")
	if _, err := s.Append(ctx, "s5", 0, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	d := digest.SHA512.FromBytes(data)
	if err := s.Commit(ctx, "s5", int64(len(data)), d); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, d, 0, -1); !bytes.Equal(got, data) {
		t.Fatalf("read %q", got)
	}
}

// testLarge streams 64 MiB through the store without holding it in memory, in the test
// as in the store.
func testLarge(t *testing.T, s blobstore.Store) {
	const size = 64 << 20
	ctx := context.Background()
	src := rand.NewChaCha8([32]byte{1})
	h := sha256.New()
	n, err := s.Append(ctx, "big", 0, io.TeeReader(io.LimitReader(src, size), h))
	if err != nil || n != size {
		t.Fatalf("Append = %d, %v", n, err)
	}
	d := digest.NewDigest(digest.SHA256, h)
	if err := s.Commit(ctx, "big", size, d); err != nil {
		t.Fatal(err)
	}
	rc, err := s.Open(ctx, d, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	v := d.Verifier()
	if m, err := io.Copy(v, rc); err != nil || m != size || !v.Verified() {
		t.Fatalf("read back %d bytes, err %v, verified %v", m, err, v.Verified())
	}
}
