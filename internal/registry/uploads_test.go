package registry_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/registry"
)

func TestChunksMustStartWhereTheUploadEnds(t *testing.T) {
	svc, _ := newService(t, registry.Options{})
	u, err := svc.StartUpload(ctx, "r", digest.SHA256)
	must(t, err)
	u, err = svc.AppendUpload(ctx, "r", u.ID, 0, 5, strings.NewReader("hello"))
	must(t, err)
	if u.Offset != 5 {
		t.Fatalf("offset %d after 5 bytes", u.Offset)
	}
	for _, start := range []int64{0, 4, 6} {
		_, err := svc.AppendUpload(ctx, "r", u.ID, start, 1, strings.NewReader("x"))
		isErr(t, "a chunk out of order", err, registry.ErrUploadOutOfOrder)
	}
	// The session survived the refusals where it was.
	got, err := svc.Upload(ctx, "r", u.ID)
	if err != nil || got.Offset != 5 {
		t.Fatalf("after refused chunks: %+v, %v; want offset 5", got, err)
	}
	// A chunk shorter than it said is refused, and the session is not advanced.
	_, err = svc.AppendUpload(ctx, "r", u.ID, 5, 10, strings.NewReader(" wor"))
	isErr(t, "a short chunk", err, registry.ErrUploadInvalid)
	if got, _ := svc.Upload(ctx, "r", u.ID); got.Offset != 5 {
		t.Fatalf("a short chunk moved the offset to %d", got.Offset)
	}
	// A streamed chunk (no start, no size) continues where the session is.
	_, err = svc.AppendUpload(ctx, "r", u.ID, -1, -1, strings.NewReader(", world"))
	must(t, err)
	want := []byte("hello, world")
	b, err := svc.FinishUpload(ctx, "r", u.ID, digest.FromBytes(want), -1, -1, nil)
	if err != nil || b.Size != int64(len(want)) {
		t.Fatalf("finish: %+v, %v", b, err)
	}
	if got := readBlob(t, svc, "r", b.Digest); !bytes.Equal(got, want) {
		t.Fatalf("blob reads %q", got)
	}
	_, err = svc.Upload(ctx, "r", u.ID)
	isErr(t, "the finished session", err, registry.ErrUploadUnknown)
}

func TestFinishWithTheWrongDigestEndsTheSession(t *testing.T) {
	svc, st := newService(t, registry.Options{})
	u, err := svc.StartUpload(ctx, "r", digest.SHA256)
	must(t, err)
	wrong := digest.FromString("something else")
	_, err = svc.FinishUpload(ctx, "r", u.ID, wrong, 0, 4, strings.NewReader("data"))
	isErr(t, "finish with another digest", err, registry.ErrDigestInvalid)
	_, err = svc.Upload(ctx, "r", u.ID)
	isErr(t, "the session after a mismatch", err, registry.ErrUploadUnknown)
	for _, d := range []digest.Digest{wrong, digest.FromString("data")} {
		_, err = svc.Blob(ctx, "r", d)
		isErr(t, "a blob after a mismatch", err, registry.ErrBlobUnknown)
		if _, err := st.blobs.Stat(ctx, d); err == nil {
			t.Fatalf("bytes of %s committed after a mismatch", d)
		}
	}
}

// TestFinishInEitherAlgorithm: a session hashes as it was started; finishing with a
// digest of the other algorithm re-reads the bytes received, and both give a blob.
func TestFinishInEitherAlgorithm(t *testing.T) {
	data := []byte(strings.Repeat("sha512 content ", 100))
	tests := []struct {
		name          string
		start, finish digest.Algorithm
	}{
		{"sha512 session, sha512 digest", digest.SHA512, digest.SHA512},
		{"sha256 session, sha512 digest", digest.SHA256, digest.SHA512},
		{"sha512 session, sha256 digest", digest.SHA512, digest.SHA256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, _ := newService(t, registry.Options{})
			u, err := svc.StartUpload(ctx, "r", tt.start)
			must(t, err)
			_, err = svc.AppendUpload(ctx, "r", u.ID, 0, 700, bytes.NewReader(data[:700]))
			must(t, err)
			d := tt.finish.FromBytes(data)
			b, err := svc.FinishUpload(ctx, "r", u.ID, d, 700, int64(len(data)-700), bytes.NewReader(data[700:]))
			if err != nil || b.Digest != d || b.Size != int64(len(data)) {
				t.Fatalf("finish: %+v, %v", b, err)
			}
			if got := readBlob(t, svc, "r", d); !bytes.Equal(got, data) {
				t.Fatal("blob content differs")
			}
		})
	}
	svc, _ := newService(t, registry.Options{})
	_, err := svc.StartUpload(ctx, "r", "md5")
	isErr(t, "an md5 session", err, registry.ErrDigestInvalid)
}

func TestUploadsBelongToTheirRepository(t *testing.T) {
	svc, _ := newService(t, registry.Options{})
	u, err := svc.StartUpload(ctx, "mine", digest.SHA256)
	must(t, err)
	_, err = svc.Upload(ctx, "theirs", u.ID)
	isErr(t, "status from another repository", err, registry.ErrUploadUnknown)
	_, err = svc.AppendUpload(ctx, "theirs", u.ID, 0, 1, strings.NewReader("x"))
	isErr(t, "append from another repository", err, registry.ErrUploadUnknown)
	_, err = svc.FinishUpload(ctx, "theirs", u.ID, digest.FromString(""), -1, -1, nil)
	isErr(t, "finish from another repository", err, registry.ErrUploadUnknown)
	isErr(t, "cancel from another repository", svc.CancelUpload(ctx, "theirs", u.ID), registry.ErrUploadUnknown)
	must(t, svc.CancelUpload(ctx, "mine", u.ID))
	_, err = svc.Upload(ctx, "mine", u.ID)
	isErr(t, "a cancelled session", err, registry.ErrUploadUnknown)
}

// TestFinishOfABlobHeldElsewhereLinksIt: the bytes are already there; the upload only
// links them, and both repositories serve the blob.
func TestFinishOfABlobHeldElsewhereLinksIt(t *testing.T) {
	svc, _ := newService(t, registry.Options{})
	data := []byte("the same bytes")
	d := push(t, svc, "first", data)
	if got := push(t, svc, "second", data); got != d {
		t.Fatalf("digest %s, want %s", got, d)
	}
	for _, r := range []string{"first", "second"} {
		if got := readBlob(t, svc, r, d); !bytes.Equal(got, data) {
			t.Fatalf("%s: blob reads %q", r, got)
		}
	}
}
