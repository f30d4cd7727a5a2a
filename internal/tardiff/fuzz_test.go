package tardiff

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// fuzzTree is the old tree the applier fuzzers run against, as a tar and extracted.
func fuzzTree(t testing.TB) []byte {
	return makeTar(t, []tfile{
		{name: "./", typ: tar.TypeDir},
		{name: "metadata", body: []byte("[Application]\nname=org.example.App\n")},
		{name: "files/", typ: tar.TypeDir},
		{name: "files/a", body: bytes.Repeat([]byte("abcdefgh"), 64)},
		{name: "files/link", typ: tar.TypeSymlink, linkname: "a"},
		{name: "files/dirlink", typ: tar.TypeSymlink, linkname: "."},
		{name: "files/up", typ: tar.TypeSymlink, linkname: ".."},
	}, false)
}

// FuzzDecode feeds arbitrary bytes to the decoder: it must end with an error or io.EOF,
// never panic, never read past its bound.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(magic))
	f.Add(rawDelta(f, rawOp{op: opData, data: "x"}, rawOp{op: opOpen, data: "files/a"}, rawOp{op: opCopy, size: 3}))
	f.Fuzz(func(t *testing.T, b []byte) {
		const bound = 1 << 16
		d, err := NewDecoder(bytes.NewReader(b), bound)
		if err != nil {
			return
		}
		defer d.Close()
		buf := make([]byte, 4096)
		var read int64
		for {
			o, size, err := d.next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrFormat) && !errors.Is(err, ErrTooLarge) {
					t.Fatalf("error of neither kind: %v", err)
				}
				return
			}
			if o > opSeek {
				t.Fatalf("op %d passed", o)
			}
			if o == opData || o == opOpen || o == opAddData {
				for left := int64(size); left > 0; {
					n, err := d.read(buf[:min(left, int64(len(buf)))])
					read += int64(n)
					if err != nil {
						return
					}
					left -= int64(n)
				}
			}
			if read > bound {
				t.Fatalf("read %d payload bytes past the bound", read)
			}
		}
	})
}

// FuzzApply applies arbitrary deltas to one tree, held as a directory and as a tar: the
// two sources must agree (the registry verifies against the tar what clients apply to
// their directory), and neither may panic or write past the output bound.
func FuzzApply(f *testing.F) {
	f.Add(rawDelta(f, rawOp{op: opOpen, data: "files/a"}, rawOp{op: opSeek, size: 8}, rawOp{op: opCopy, size: 8}, rawOp{op: opAddData, data: "\x01\x02"}))
	f.Add(rawDelta(f, rawOp{op: opOpen, data: "files/link"}, rawOp{op: opCopy, size: 1}))
	f.Add(rawDelta(f, rawOp{op: opOpen, data: "files/dirlink/a"}, rawOp{op: opCopy, size: 1}))
	f.Add(rawDelta(f, rawOp{op: opOpen, data: "files/up/metadata"}, rawOp{op: opCopy, size: 1}))
	f.Add(rawDelta(f, rawOp{op: opOpen, data: "../../etc/passwd"}, rawOp{op: opCopy, size: 1}))
	tarBytes := fuzzTree(f)
	ix := indexOf(f, tarBytes)
	dir := extract(f, tarBytes)
	const bound = 1 << 16
	f.Fuzz(func(t *testing.T, delta []byte) {
		var fromTar, fromDir bytes.Buffer
		errTar := Apply(context.Background(), bytes.NewReader(delta), ix, &fromTar, ApplyLimits{MaxOutput: bound})
		errDir := Apply(context.Background(), bytes.NewReader(delta), dir, &fromDir, ApplyLimits{MaxOutput: bound})
		if (errTar == nil) != (errDir == nil) {
			t.Fatalf("tar and directory disagree: %v / %v", errTar, errDir)
		}
		if errTar == nil && !bytes.Equal(fromTar.Bytes(), fromDir.Bytes()) {
			t.Fatal("tar and directory rebuilt different bytes")
		}
		if fromTar.Len() > bound || fromDir.Len() > bound {
			t.Fatalf("wrote %d / %d bytes past the bound", fromTar.Len(), fromDir.Len())
		}
	})
}

// FuzzDiff diffs arbitrary tars (layers are pushed by anyone): no panic, and whatever
// Diff accepts round-trips exactly.
func FuzzDiff(f *testing.F) {
	base := fuzzTree(f)
	f.Add(base, makeTar(f, []tfile{{name: "files/a", body: bytes.Repeat([]byte("abcdefgh"), 65)}, {name: "files/b", body: []byte("new")}}, true))
	f.Add(base, base)
	f.Add([]byte{}, base)
	tmp := f.TempDir() // one for all runs: a directory per run costs more than a diff
	f.Fuzz(func(t *testing.T, oldTar, newTar []byte) {
		ix, err := IndexTar(bytes.NewReader(oldTar), tmp, Limits{MaxTarSize: 1 << 20, MaxFiles: 1000})
		if err != nil {
			return
		}
		defer ix.Close()
		var delta bytes.Buffer
		if _, err := Diff(context.Background(), ix, bytes.NewReader(newTar), &delta, Options{Limits: Limits{MaxTarSize: 1 << 20, MaxFiles: 1000}, TempDir: tmp}); err != nil {
			return
		}
		var out bytes.Buffer
		if err := Apply(context.Background(), bytes.NewReader(delta.Bytes()), ix, &out, ApplyLimits{}); err != nil {
			t.Fatalf("apply of a delta Diff wrote: %v", err)
		}
		// Diff reads a tar up to its end-of-archive marker and what follows.
		if !bytes.Equal(out.Bytes(), newTar) {
			t.Fatalf("rebuilt %d bytes, not the %d of the new tar", out.Len(), len(newTar))
		}
	})
}
