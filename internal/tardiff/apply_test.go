package tardiff

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// rawDelta builds a delta from operations written by hand: each op is an op byte, a size,
// and (for Data, Open, AddData) its data.
type rawOp struct {
	op   op
	size uint64
	data string
}

func rawDelta(t testing.TB, ops ...rawOp) []byte {
	t.Helper()
	var plain bytes.Buffer
	for _, o := range ops {
		plain.WriteByte(byte(o.op))
		size := o.size
		if o.data != "" {
			size = uint64(len(o.data))
		}
		plain.Write(binary.AppendUvarint(nil, size))
		plain.WriteString(o.data)
	}
	return compressed(t, plain.Bytes())
}

func compressed(t testing.TB, plain []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	out.WriteString(magic)
	zw, err := zstd.NewWriter(&out)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(plain)
	zw.Close()
	return out.Bytes()
}

// oldTree is a small tree with the cases an applier must refuse.
func oldTree(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	outside := t.TempDir()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "files/real"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "files/real/a"), []byte("hello, world"), 0o644))
	must(os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644))
	must(os.Symlink("real", filepath.Join(dir, "files/inner")))   // a symlinked parent inside the tree
	must(os.Symlink(outside, filepath.Join(dir, "files/out")))    // a symlinked parent leading out
	must(os.Symlink("real/a", filepath.Join(dir, "files/alink"))) // a symlink to a file
	must(os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "files/slink")))
	return dir
}

func TestApplyRebuildsFromOperations(t *testing.T) {
	src, err := NewDirSource(oldTree(t))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	delta := rawDelta(t,
		rawOp{op: opData, data: ">"},
		rawOp{op: opOpen, data: "files/real/a"},
		rawOp{op: opCopy, size: 5},
		rawOp{op: opSeek, size: 7},
		rawOp{op: opAddData, data: "\x00\x00\x00\x00\x01"}, // "world" → "worle"
		rawOp{op: opSeek, size: 0},
		rawOp{op: opCopy, size: 1},
	)
	var out bytes.Buffer
	if err := Apply(context.Background(), bytes.NewReader(delta), src, &out, ApplyLimits{}); err != nil {
		t.Fatal(err)
	}
	if out.String() != ">helloworleh" {
		t.Fatalf("rebuilt %q", out.String())
	}
}

func TestApplyRefuses(t *testing.T) {
	dir := oldTree(t)
	src, err := NewDirSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	open := func(p string) rawOp { return rawOp{op: opOpen, data: p} }
	for _, tc := range []struct {
		name  string
		delta []byte
		want  error
	}{
		{"absolute path", rawDelta(t, open("/etc/passwd"), rawOp{op: opCopy, size: 1}), ErrPath},
		{"dot-dot", rawDelta(t, open("files/../files/real/a")), ErrPath},
		{"climbing out", rawDelta(t, open("../secret")), ErrPath},
		{"dot element", rawDelta(t, open("files/./real/a")), ErrPath},
		{"empty path", rawDelta(t, rawOp{op: opOpen, size: 0}), ErrPath},
		{"symlinked parent in the tree", rawDelta(t, open("files/inner/a")), ErrPath},
		{"symlinked parent out of the tree", rawDelta(t, open("files/out/secret")), ErrPath},
		{"symlink to a file", rawDelta(t, open("files/alink")), ErrPath},
		{"symlink out of the tree", rawDelta(t, open("files/slink")), ErrPath},
		{"directory", rawDelta(t, open("files/real")), ErrPath},
		{"missing file", rawDelta(t, open("files/real/b")), ErrPath},
		{"path beyond PATH_MAX", rawDelta(t, rawOp{op: opOpen, size: maxPath + 1}), ErrPath},
		{"copy with no source", rawDelta(t, rawOp{op: opCopy, size: 1}), ErrFormat},
		{"seek with no source", rawDelta(t, rawOp{op: opSeek, size: 0}), ErrFormat},
		{"copy beyond the end", rawDelta(t, open("files/real/a"), rawOp{op: opCopy, size: 13}), ErrFormat},
		{"add beyond the end", rawDelta(t, open("files/real/a"), rawOp{op: opSeek, size: 10}, rawOp{op: opAddData, data: "abc"}), ErrFormat},
		{"seek beyond the end", rawDelta(t, open("files/real/a"), rawOp{op: opSeek, size: 13}), ErrFormat},
		{"unknown operation", rawDelta(t, rawOp{op: 5, size: 0}), ErrFormat},
		{"truncated data", compressed(t, []byte{byte(opData), 10, 'a'}), ErrFormat},
		{"truncated size", compressed(t, []byte{byte(opCopy), 0x80}), ErrFormat},
		{"bad header", append([]byte("tardf2\n\x00"), rawDelta(t)[8:]...), ErrFormat},
		{"short header", []byte("tard"), ErrFormat},
		{"not zstd", append([]byte(magic), "garbage"...), ErrFormat},
		{"data beyond the output bound", rawDelta(t, rawOp{op: opData, size: 1 << 40}), ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Apply(context.Background(), bytes.NewReader(tc.delta), src, io.Discard, ApplyLimits{MaxOutput: 1 << 20})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestApplyBoundsOutputAndStream(t *testing.T) {
	src := indexOf(t, makeTar(t, []tfile{{name: "f", body: bytes.Repeat([]byte("x"), 1000)}}, false))
	opens := []rawOp{}
	for range 1000 {
		opens = append(opens, rawOp{op: opOpen, data: "f"})
	}
	for _, tc := range []struct {
		name   string
		delta  []byte
		limits ApplyLimits
	}{
		{"copies beyond the output bound", rawDelta(t, rawOp{op: opOpen, data: "f"}, rawOp{op: opCopy, size: 600}, rawOp{op: opSeek, size: 0}, rawOp{op: opCopy, size: 600}), ApplyLimits{MaxOutput: 1000}},
		{"opens beyond the stream bound", rawDelta(t, opens...), ApplyLimits{MaxOutput: 1000, MaxStream: 2000}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := Apply(context.Background(), bytes.NewReader(tc.delta), src, io.Discard, tc.limits); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("got %v, want ErrTooLarge", err)
			}
		})
	}
}

func TestApplyToTarIndexOpensOnlyItsRegularFiles(t *testing.T) {
	ix := indexOf(t, makeTar(t, []tfile{{name: "files/", typ: '5'}, {name: "files/a", body: []byte("abc")}, {name: "files/l", typ: '2', linkname: "a"}}, false))
	for _, p := range []string{"files", "files/l", "files/b", "/files/a", "files/../files/a"} {
		if _, err := ix.Open(p); !errors.Is(err, ErrPath) {
			t.Errorf("Open(%q): %v, want ErrPath", p, err)
		}
	}
	f, err := ix.Open("files/a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	if string(b) != "abc" {
		t.Fatalf("files/a holds %q", b)
	}
}

func TestApplyStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	src := indexOf(t, makeTar(t, nil, false))
	if err := Apply(ctx, bytes.NewReader(rawDelta(t, rawOp{op: opData, data: "x"})), src, io.Discard, ApplyLimits{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}
