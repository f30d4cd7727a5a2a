package tardiff

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestDiffReusesUnchangedAndMovedFilesWhole(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	old := randomTree(r, 40)
	next := tree{}
	for n, b := range old {
		next[n] = b
	}
	// Moved to another directory and renamed: found by content.
	next["files/share/moved-here"] = old["files/bin/fa0"]
	delete(next, "files/bin/fa0")
	var fileBytes int64
	files := 0
	for _, b := range next {
		if len(b) > 0 {
			fileBytes += int64(len(b))
			files++
		}
	}
	_, st := roundTrip(t, makeTar(t, old.entries(), true), makeTar(t, next.entries(), true))
	if st.Reused != fileBytes || st.ReusedFiles != files || st.Literal != 0 || st.Matched != 0 {
		t.Fatalf("want all %d bytes of %d files reused whole, got %+v", fileBytes, files, st)
	}
}

func TestDiffMatchesRunsInsideChangedFiles(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	bin := make([]byte, 3<<20)
	for i := range bin {
		bin[i] = byte(r.UintN(256))
	}
	rebuilt := append([]byte(nil), bin...)
	// A rebuilt binary: scattered changed bytes (moved addresses), an inserted function,
	// a removed one.
	for i := 0; i < len(rebuilt); i += 4096 + r.IntN(4096) {
		rebuilt[i] ^= 0x5a
	}
	rebuilt = append(rebuilt[:1<<20], append(randomBody(r, 3000), rebuilt[1<<20:]...)...)
	rebuilt = append(rebuilt[:2<<20], rebuilt[2<<20+5000:]...)

	renamed := edit(r, bin[:200000])
	old := makeTar(t, []tfile{{name: "files/bin/app", body: bin}, {name: "files/lib/libx.so.1", body: bin[:200000]}}, false)
	next := makeTar(t, []tfile{{name: "files/bin/app", body: rebuilt}, {name: "files/lib2/libx.so.1", body: renamed}}, false)
	delta, st := roundTrip(t, old, next)
	if reused := st.Matched + st.Added; reused < int64(len(rebuilt)+len(renamed))*95/100 {
		t.Fatalf("only %d of %d bytes of the changed files came from the old ones: %+v", reused, len(rebuilt)+len(renamed), st)
	}
	if len(delta) > (len(rebuilt)+len(renamed))/50 {
		t.Fatalf("delta of %d bytes for %d changed bytes of files", len(delta), len(rebuilt)+len(renamed))
	}
}

func TestDiffRoundTripsRandomUpdates(t *testing.T) {
	for seed := range uint64(40) {
		r := rand.New(rand.NewPCG(seed, 77))
		old := randomTree(r, 5+r.IntN(40))
		next := tree{}
		for n, b := range old {
			switch r.IntN(10) {
			case 0: // deleted
			case 1:
				next[n] = edit(r, b)
			case 2:
				next[n+".renamed"] = b
			case 3:
				next["files/new/"+n[strings.LastIndexByte(n, '/')+1:]] = edit(r, b)
			default:
				next[n] = b
			}
		}
		for i := range r.IntN(5) {
			next["files/added/n"+itoa(i)] = randomBody(r, r.IntN(5000))
		}
		oldEntries, newEntries := old.entries(), next.entries()
		// Other kinds of entries: symlinks, hard links, long names with PAX headers.
		oldEntries = append(oldEntries, tfile{name: "files/lib/link.so", typ: tar.TypeSymlink, linkname: "x"})
		newEntries = append(newEntries,
			tfile{name: "files/lib/link.so", typ: tar.TypeSymlink, linkname: "y"},
			tfile{name: "files/" + strings.Repeat("long/", 30) + "name", body: old["metadata"]},
			tfile{name: "files/hard", typ: tar.TypeLink, linkname: "metadata"},
		)
		roundTrip(t, makeTar(t, oldEntries, r.IntN(2) == 0), makeTar(t, newEntries, r.IntN(2) == 0))
	}
}

// Files beyond the in-memory size are spilled, and compared a segment at a time (both
// made small here, so that the test is quick; the code is the same).
func TestDiffSpillsAndSegmentsLargeFiles(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const seg = 64 << 10
	big := make([]byte, seg*2+12345)
	for i := range big {
		big[i] = byte(r.UintN(256))
	}
	changed := append([]byte(nil), big...)
	changed[10] ^= 1
	changed[seg+7] ^= 1
	_, st := roundTripWith(t, makeTar(t, []tfile{{name: "files/big", body: big}}, false),
		makeTar(t, []tfile{{name: "files/big", body: changed}, {name: "files/copy", body: big}}, false),
		Options{memFile: seg / 4, segment: seg})
	if st.ReusedFiles != 1 || st.Literal > 1024 {
		t.Fatalf("want the copy reused and the changed file matched, got %+v", st)
	}
}

// Paths a client's tree may not hold as the old tar names them are never opened: a name
// claimed twice, a file below a symlink or below a file, a sparse file, a name that
// climbs out.
func TestDiffNeverOpensAmbiguousPaths(t *testing.T) {
	body := bytes.Repeat([]byte("content that is long enough to be matched by blocks. "), 100)
	old := makeTar(t, []tfile{
		{name: "files/twice", body: body[:1000]},
		{name: "files/twice", body: body[:2000]},
		{name: "files/link", typ: tar.TypeSymlink, linkname: "real"},
		{name: "files/link/below", body: body[:3000]},
		{name: "files/file", body: []byte("x")},
		{name: "files/file/below", body: body[:4000]},
		{name: "../escape", body: body[:5000]},
		{name: "/abs", body: body[:4500]},
	}, false)
	ix := indexOf(t, old)
	if ix.Files() != 1 { // files/file only
		t.Fatalf("index opens %d files, want 1: %v", ix.Files(), ix.files)
	}
	next := makeTar(t, []tfile{
		{name: "files/twice", body: body[:2000]},
		{name: "files/link/below", body: body[:3000]},
		{name: "files/file/below", body: body[:4000]},
		{name: "files/escape", body: body[:5000]},
		{name: "abs", body: body[:4500]},
	}, false)
	var delta bytes.Buffer
	st, err := Diff(context.Background(), ix, bytes.NewReader(next), &delta, Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if st.Reused != 0 || st.Matched != 0 || st.Added != 0 {
		t.Fatalf("the delta reads ambiguous old paths: %+v", st)
	}
}

func TestDiffAndIndexRefuseWhatIsBeyondTheBounds(t *testing.T) {
	tarBytes := makeTar(t, []tfile{{name: "a", body: make([]byte, 5000)}, {name: "b"}, {name: "c"}}, false)
	ix := indexOf(t, makeTar(t, nil, false))
	for _, tc := range []struct {
		name   string
		limits Limits
	}{
		{"size", Limits{MaxTarSize: 4096}},
		{"files", Limits{MaxFiles: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := IndexTar(bytes.NewReader(tarBytes), t.TempDir(), tc.limits); !errors.Is(err, ErrTooLarge) {
				t.Errorf("index: %v, want ErrTooLarge", err)
			}
			_, err := Diff(context.Background(), ix, bytes.NewReader(tarBytes), &bytes.Buffer{}, Options{Limits: tc.limits, TempDir: t.TempDir()})
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("diff: %v, want ErrTooLarge", err)
			}
		})
	}
	// Exactly at the bound is within it.
	if _, err := IndexTar(bytes.NewReader(tarBytes), t.TempDir(), Limits{MaxTarSize: int64(len(tarBytes))}); err != nil {
		t.Errorf("a tar exactly at the bound: %v", err)
	}
}

func TestDiffRefusesWhatIsNotATar(t *testing.T) {
	ix := indexOf(t, makeTar(t, nil, false))
	garbage := bytes.Repeat([]byte("not a tar "), 100)
	if _, err := Diff(context.Background(), ix, bytes.NewReader(garbage), &bytes.Buffer{}, Options{}); err == nil {
		t.Error("diff of garbage succeeded")
	}
	if _, err := IndexTar(bytes.NewReader(garbage), t.TempDir(), Limits{}); err == nil {
		t.Error("index of garbage succeeded")
	}
}
