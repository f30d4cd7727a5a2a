package tardiff

import (
	"archive/tar"
	"bufio"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// Limits bound what IndexTar and Diff accept, so that a hostile or merely huge layer can
// fill neither memory nor disk.
type Limits struct {
	// MaxTarSize bounds an uncompressed tar, in bytes (default 4 GiB).
	MaxTarSize int64
	// MaxFiles bounds the entries of a tar (default 1,000,000).
	MaxFiles int
}

func (l Limits) withDefaults() Limits {
	if l.MaxTarSize <= 0 {
		l.MaxTarSize = 4 << 30
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = 1_000_000
	}
	return l
}

// TarIndex is an old layer made ready to diff against and to apply deltas to: the tar
// spilled to a temporary file, and its regular files indexed by path and by content.
// It is a Source: Open gives the contents of the files a client's tree has at a path.
// Close removes the temporary file.
type TarIndex struct {
	f      *os.File
	size   int64
	files  map[string]fileRef  // the files an Open may name
	byHash map[[32]byte]string // contents → a path holding them (the first in the tar)
	byBase map[string][]string // base name → paths, for files renamed and changed
	kinds  map[string]nameKind // every name in the tar, while indexing
	cands  map[string]fileRef  // regular files, before the ancestor check
	order  []string            // regular files in tar order
	limits Limits
}

type fileRef struct {
	off, size int64
	sum       [32]byte
}

// nameKind is what a name is in the tar: a directory, a regular file, something else, or
// claimed more than once (which a tree keeps only one of: never opened).
type nameKind uint8

const (
	kindDir nameKind = iota + 1
	kindFile
	kindOther
	kindConflict
)

// IndexTar reads the tar r to its end, spilling it into a temporary file in dir. It fails
// with ErrTooLarge beyond the limits, and with an error of archive/tar for what is not a tar.
func IndexTar(r io.Reader, dir string, limits Limits) (*TarIndex, error) {
	limits = limits.withDefaults()
	f, err := os.CreateTemp(dir, "tardiff-old-*.tar")
	if err != nil {
		return nil, err
	}
	// Unlinked at once: a crash leaves nothing behind.
	_ = os.Remove(f.Name())
	ix := &TarIndex{f: f, limits: limits, files: map[string]fileRef{}, byHash: map[[32]byte]string{},
		byBase: map[string][]string{}, kinds: map[string]nameKind{}, cands: map[string]fileRef{}}
	if err := ix.read(r); err != nil {
		f.Close()
		return nil, err
	}
	return ix, nil
}

func (ix *TarIndex) read(r io.Reader) error {
	bw := bufio.NewWriterSize(ix.f, 256<<10)
	sc := newScanner(io.TeeReader(r, bw), ix.limits.MaxTarSize, nil)
	buf := make([]byte, 64<<10)
	entries := 0
	for {
		e, err := sc.next(true)
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if entries++; entries > ix.limits.MaxFiles {
			return fmt.Errorf("%w: more than %d tar entries", ErrTooLarge, ix.limits.MaxFiles)
		}
		ix.claim(e)
		if !e.regular {
			continue
		}
		h := sha256.New()
		n, err := io.CopyBuffer(h, sc.contentReader(), buf)
		if err != nil {
			return err
		}
		if e.name != "" && ix.kinds[e.name] == kindFile {
			var sum [32]byte
			h.Sum(sum[:0])
			ix.cands[e.name] = fileRef{off: e.offset, size: n, sum: sum}
			ix.order = append(ix.order, e.name)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("spill tar: %w", err)
	}
	ix.size = sc.tap.n
	ix.settle()
	return nil
}

// claim records what the entry makes of its name.
func (ix *TarIndex) claim(e entry) {
	if e.name == "" {
		return
	}
	k := kindOther
	switch {
	case e.hdr.Typeflag == tar.TypeDir:
		k = kindDir
	case e.regular:
		k = kindFile
	}
	old, seen := ix.kinds[e.name]
	switch {
	case !seen:
		ix.kinds[e.name] = k
	case old == kindDir && k == kindDir:
	default:
		ix.kinds[e.name] = kindConflict
	}
}

// settle keeps the regular files a client's tree certainly holds at their name: claimed
// once, every ancestor a directory (or absent: the import creates it).
func (ix *TarIndex) settle() {
	for _, name := range ix.order {
		ref, ok := ix.cands[name]
		if !ok || ix.kinds[name] != kindFile || !ix.parentsAreDirs(name) {
			continue
		}
		if _, dup := ix.files[name]; dup {
			continue
		}
		ix.files[name] = ref
		if _, ok := ix.byHash[ref.sum]; !ok {
			ix.byHash[ref.sum] = name
		}
		base := path.Base(name)
		ix.byBase[base] = append(ix.byBase[base], name)
	}
	ix.kinds, ix.cands, ix.order = nil, nil, nil
}

func (ix *TarIndex) parentsAreDirs(name string) bool {
	for i := strings.LastIndexByte(name, '/'); i > 0; i = strings.LastIndexByte(name[:i], '/') {
		if k, ok := ix.kinds[name[:i]]; ok && k != kindDir {
			return false
		}
	}
	return true
}

// Size is the length of the tar.
func (ix *TarIndex) Size() int64 { return ix.size }

// Files is the number of regular files a delta may open.
func (ix *TarIndex) Files() int { return len(ix.files) }

// Open returns the contents of the regular file at name.
func (ix *TarIndex) Open(name string) (File, error) {
	if !validPath(name) {
		return nil, fmt.Errorf("%w: %q", ErrPath, name)
	}
	ref, ok := ix.files[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a regular file of the old layer", ErrPath, name)
	}
	return nopCloser{io.NewSectionReader(ix.f, ref.off, ref.size)}, nil
}

// section is the contents of an indexed file, for the matcher.
func (ix *TarIndex) section(ref fileRef) *io.SectionReader {
	return io.NewSectionReader(ix.f, ref.off, ref.size)
}

// Close removes the spilled tar.
func (ix *TarIndex) Close() error {
	if ix.f == nil {
		return errors.New("tar index already closed")
	}
	err := ix.f.Close()
	ix.f = nil
	return err
}

type nopCloser struct{ *io.SectionReader }

func (nopCloser) Close() error { return nil }
