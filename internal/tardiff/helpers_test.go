package tardiff

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// tfile is one entry of a test tar.
type tfile struct {
	name     string
	typ      byte // tar.TypeReg (default), TypeDir, TypeSymlink, TypeLink
	body     []byte
	linkname string
	pax      bool // write a PAX header (long names, mtime with fraction)
}

// makeTar writes the entries as a tar, padded like GNU tar to a 10 KiB record.
func makeTar(t testing.TB, files []tfile, pad bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	for _, f := range files {
		typ := f.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: f.name, Typeflag: typ, Mode: 0o644, ModTime: mtime, Linkname: f.linkname, Format: tar.FormatUSTAR}
		if typ == tar.TypeReg {
			h.Size = int64(len(f.body))
		}
		if typ == tar.TypeDir {
			h.Mode = 0o755
		}
		if f.pax || len(f.name) > 100 {
			h.Format = tar.FormatPAX
			h.PAXRecords = map[string]string{"BERTH.test": f.name}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write(f.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if pad {
		for buf.Len()%10240 != 0 {
			buf.WriteByte(0)
		}
	}
	return buf.Bytes()
}

func indexOf(t testing.TB, tarBytes []byte) *TarIndex {
	t.Helper()
	ix, err := IndexTar(bytes.NewReader(tarBytes), t.TempDir(), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.Close() })
	return ix
}

// roundTrip diffs old against new, applies the delta to old's index and to old
// extracted into a directory, and checks both rebuild new byte for byte.
func roundTrip(t testing.TB, oldTar, newTar []byte) ([]byte, Stats) {
	t.Helper()
	return roundTripWith(t, oldTar, newTar, Options{})
}

// roundTripWith is roundTrip with Diff's options.
func roundTripWith(t testing.TB, oldTar, newTar []byte, opts Options) ([]byte, Stats) {
	t.Helper()
	ix := indexOf(t, oldTar)
	var delta bytes.Buffer
	opts.TempDir = t.TempDir()
	st, err := Diff(context.Background(), ix, bytes.NewReader(newTar), &delta, opts)
	if err != nil {
		t.Fatalf("diff: %v", err)
	}
	if st.TarSize != int64(len(newTar)) {
		t.Fatalf("stats report a tar of %d bytes, not %d", st.TarSize, len(newTar))
	}
	if sum := st.Headers + st.Reused + st.Matched + st.Added + st.Literal; sum != st.TarSize {
		t.Fatalf("stats add up to %d, not %d: %+v", sum, st.TarSize, st)
	}
	want := sha256.Sum256(newTar)
	for _, src := range []struct {
		name string
		src  Source
	}{{"tar index", ix}, {"directory", extract(t, oldTar)}} {
		var out bytes.Buffer
		if err := Apply(context.Background(), bytes.NewReader(delta.Bytes()), src.src, &out, ApplyLimits{}); err != nil {
			t.Fatalf("apply to the %s: %v", src.name, err)
		}
		if got := sha256.Sum256(out.Bytes()); got != want || !bytes.Equal(out.Bytes(), newTar) {
			t.Fatalf("apply to the %s rebuilt %d bytes that differ from the new tar's %d", src.name, out.Len(), len(newTar))
		}
	}
	return delta.Bytes(), st
}

// extract unpacks a tar as a client's tree holds it: directories, regular files (a later
// entry replaces an earlier one), symlinks and hard links.
func extract(t testing.TB, tarBytes []byte) *DirSource {
	t.Helper()
	dir := t.TempDir()
	tr := tar.NewReader(bytes.NewReader(tarBytes))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := treeName(h.Name)
		if name == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			continue // a parent that is not a directory: skipped, as the test trees allow
		}
		os.RemoveAll(p)
		switch h.Typeflag {
		case tar.TypeDir:
			_ = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			b, _ := io.ReadAll(tr)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		case tar.TypeSymlink:
			_ = os.Symlink(h.Linkname, p)
		case tar.TypeLink:
			_ = os.Link(filepath.Join(dir, treeName(h.Linkname)), p)
		}
	}
	s, err := NewDirSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// tree is a random app: directories of files of random sizes, some compressible text,
// some binary.
type tree map[string][]byte

func randomTree(r *rand.Rand, files int) tree {
	tr := tree{}
	dirs := []string{"files/bin", "files/lib", "files/share/doc", "files/share/icons/hicolor", "export/share"}
	for i := range files {
		name := dirs[r.IntN(len(dirs))] + "/f" + string(rune('a'+i%26)) + itoa(i)
		tr[name] = randomBody(r, r.IntN(3)*r.IntN(20000)+r.IntN(300))
	}
	tr["metadata"] = []byte("[Application]\nname=org.example.App\n")
	return tr
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func randomBody(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	if r.IntN(2) == 0 {
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return b
	}
	words := []string{"lorem ", "ipsum ", "dolor ", "sit ", "amet\n", "flatpak ", "berth "}
	for i := 0; i < n; {
		i += copy(b[i:], words[r.IntN(len(words))])
	}
	return b
}

// edit changes a body a little: a few bytes overwritten (a rebuilt binary), a run
// inserted and one deleted.
func edit(r *rand.Rand, b []byte) []byte {
	out := append([]byte(nil), b...)
	for range 1 + r.IntN(4) {
		if len(out) > 0 {
			out[r.IntN(len(out))] ^= byte(1 + r.IntN(255))
		}
	}
	if len(out) > 10 {
		at := r.IntN(len(out))
		ins := randomBody(r, r.IntN(200))
		out = append(out[:at], append(ins, out[at:]...)...)
		at = r.IntN(len(out) - 5)
		out = append(out[:at], out[at+r.IntN(min(100, len(out)-at)):]...)
	}
	return out
}

// entries writes a tree as tar entries in name order, with the parent directories.
func (tr tree) entries() []tfile {
	names := make([]string, 0, len(tr))
	dirs := map[string]bool{}
	for n := range tr {
		names = append(names, n)
		for d := filepath.Dir(n); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for d := range dirs {
		names = append(names, d+"/")
	}
	sort.Strings(names)
	out := []tfile{{name: "./", typ: tar.TypeDir}}
	for _, n := range names {
		if n[len(n)-1] == '/' {
			out = append(out, tfile{name: n, typ: tar.TypeDir})
			continue
		}
		out = append(out, tfile{name: n, body: tr[n]})
	}
	return out
}
