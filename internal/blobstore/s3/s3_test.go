package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blobstore"
	"github.com/berth-registry/berth/internal/blobstore/storetest"
	"github.com/berth-registry/berth/internal/testenv"
)

// testOptions points at a fresh prefix of the test bucket.
func testOptions(t testing.TB) Options {
	t.Helper()
	o, err := ParseURL(testenv.S3URL(t))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func open(t testing.TB, o Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) blobstore.Store { return open(t, testOptions(t)) })
}

func random(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// commitOf appends the chunks with s (each from the offset the previous one ended at),
// commits, and checks the blob reads back byte for byte.
func commitOf(t *testing.T, appenders []*Store, chunks ...[]byte) {
	t.Helper()
	ctx := context.Background()
	var all []byte
	for i, c := range chunks {
		s := appenders[i%len(appenders)]
		if n, err := s.Append(ctx, "u", int64(len(all)), bytes.NewReader(c)); err != nil || n != int64(len(c)) {
			t.Fatalf("append %d: %d, %v", i, n, err)
		}
		all = append(all, c...)
	}
	d := digest.FromBytes(all)
	last := appenders[len(appenders)-1]
	if err := last.Commit(ctx, "u", int64(len(all)), d); err != nil {
		t.Fatal(err)
	}
	rc, err := appenders[0].Open(ctx, d, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, all) {
		t.Fatalf("blob of %d bytes read back as %d bytes (%v)", len(all), len(got), err)
	}
	if n, err := last.Stat(ctx, d); err != nil || n != int64(len(all)) {
		t.Fatalf("Stat: %d, %v", n, err)
	}
}

func TestUnevenAppendsCommitByteExact(t *testing.T) {
	// 3 MiB, 7 MiB, 1 byte: a part under S3's 5 MiB minimum, so the parts are streamed
	// into the blob.
	o := testOptions(t)
	commitOf(t, []*Store{open(t, o)}, random(3<<20), random(7<<20), random(1))
}

func TestLargeAppendsAreCopiedInsideTheStore(t *testing.T) {
	// One 20 MiB append is written as 8+8+4 MiB parts, all copyable server-side.
	o := testOptions(t)
	commitOf(t, []*Store{open(t, o)}, random(20<<20))
}

func TestAnotherReplicaContinuesAnUpload(t *testing.T) {
	o := testOptions(t)
	a, b := open(t, o), open(t, o)
	commitOf(t, []*Store{a, b, a}, random(6<<20), random(1<<20), random(5))
}
