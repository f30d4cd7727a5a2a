package tardiff

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// scanner walks a tar stream and tells its bytes apart: the contents of regular files,
// and everything else (headers, extended headers, padding, the end-of-archive blocks and
// whatever follows them), which it hands to raw unchanged and in order. Concatenating
// what raw gets and the contents read with content reproduces the stream exactly.
//
// It relies on archive/tar reading its source strictly sequentially and only as far as it
// needs: headers block by block, and skipped data by reading it through (the source is
// not an io.Seeker).
type scanner struct {
	tap *tapReader
	tr  *tar.Reader
	max int64 // bound on the stream's length
	cur *tar.Header
}

// tapReader passes every byte read through raw unless the scanner is reading file
// contents, and counts them.
type tapReader struct {
	r       io.Reader
	n       int64
	max     int64
	raw     func([]byte) error
	content bool
}

func (t *tapReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if t.n >= t.max {
		// One byte more than allowed tells a stream at the bound from one beyond it.
		var one [1]byte
		n, err := io.ReadFull(t.r, one[:])
		if n > 0 {
			return 0, fmt.Errorf("%w: tar longer than %d bytes", ErrTooLarge, t.max)
		}
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		return 0, err
	}
	if rest := t.max - t.n; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := t.r.Read(p)
	t.n += int64(n)
	if n > 0 && !t.content && t.raw != nil {
		if werr := t.raw(p[:n]); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func newScanner(r io.Reader, max int64, raw func([]byte) error) *scanner {
	t := &tapReader{r: r, max: max, raw: raw}
	return &scanner{tap: t, tr: tar.NewReader(t), max: max}
}

// entry is one tar entry as the scanner reports it.
type entry struct {
	hdr *tar.Header
	// name is the entry's path as the client's tree has it: without a leading "./" or
	// trailing "/"; "" when it cannot name a file in a tree (absolute, "..", ...).
	name string
	// regular is true for a regular file whose contents are stored as they read
	// (not sparse): those are read with content.
	regular bool
	// offset is where the contents start in the stream.
	offset int64
}

// next advances to the next entry; io.EOF after the last, once everything up to the
// end-of-archive marker (and, with drain, all that follows it) has gone to raw.
func (s *scanner) next(drain bool) (entry, error) {
	s.tap.content = false
	hdr, err := s.tr.Next()
	if err == io.EOF {
		if drain {
			if _, err := io.Copy(io.Discard, s.tap); err != nil {
				return entry{}, err
			}
		}
		return entry{}, io.EOF
	}
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return entry{}, err
		}
		return entry{}, fmt.Errorf("read tar: %w", err)
	}
	s.cur = hdr
	e := entry{hdr: hdr, name: treeName(hdr.Name), offset: s.tap.n}
	e.regular = hdr.Typeflag == tar.TypeReg && !sparse(hdr)
	return e, nil
}

// content reads the current regular file's contents (exactly hdr.Size bytes, bypassing raw).
func (s *scanner) content(p []byte) (int, error) {
	s.tap.content = true
	n, err := s.tr.Read(p)
	if err != nil && err != io.EOF && !errors.Is(err, ErrTooLarge) {
		err = fmt.Errorf("read tar: %w", err)
	}
	return n, err
}

// contentReader is the current file's contents as an io.Reader.
func (s *scanner) contentReader() io.Reader { return readerFunc(s.content) }

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(p []byte) (int, error) { return f(p) }

// sparse reports a sparse file (GNU old format or PAX 0.x/1.0), whose stored bytes are
// not its contents.
func sparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// treeName is the path an entry has in an extracted tree, as libarchive and OSTree's
// import see it: "./a/b/" is "a/b". Names that could not be opened inside a tree by a
// plain relative path ("", "/x", "a/../b", "a//b") give "".
func treeName(name string) string {
	for strings.HasPrefix(name, "./") {
		name = name[2:]
	}
	name = strings.TrimSuffix(name, "/")
	if name == "" || name == "." || len(name) > maxPath || !validPath(name) {
		return ""
	}
	return name
}

// validPath accepts only clean relative slash-separated paths: no empty, "." or ".."
// element, no leading or trailing slash, no NUL.
func validPath(p string) bool {
	if p == "" || strings.ContainsRune(p, 0) || path.Clean(p) != p || path.IsAbs(p) {
		return false
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return false
		}
	}
	return true
}
