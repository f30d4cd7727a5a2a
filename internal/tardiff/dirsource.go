package tardiff

import (
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// DirSource is an old tree in a directory, as a client has the old layer installed.
// Opens are confined to the directory by os.Root (openat with no escape, whatever the
// tree's symlinks say), and refused when any parent is a symlink or the file is not
// regular: flatpak resolves paths inside its commit without following symlinks, so a
// delta that relied on one would fail there.
type DirSource struct {
	root *os.Root
}

// NewDirSource opens the tree at dir.
func NewDirSource(dir string) (*DirSource, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &DirSource{root: r}, nil
}

// Close releases the directory.
func (s *DirSource) Close() error { return s.root.Close() }

// Open opens the regular file at name.
func (s *DirSource) Open(name string) (File, error) {
	if !validPath(name) {
		return nil, fmt.Errorf("%w: %q", ErrPath, name)
	}
	for i := strings.IndexByte(name, '/'); i >= 0; i = nextSlash(name, i) {
		fi, err := s.root.Lstat(name[:i])
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrPath, name, err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("%w: %q: parent %q is not a directory", ErrPath, name, name[:i])
		}
	}
	fi, err := s.root.Lstat(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrPath, name, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %q is %s, not a regular file", ErrPath, name, kindOf(fi.Mode()))
	}
	f, err := s.root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrPath, name, err)
	}
	// What was opened is checked again: the tree may have changed since the Lstat.
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %q is not a regular file", ErrPath, name)
	}
	return f, nil
}

func nextSlash(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '/')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}

func kindOf(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m.IsDir():
		return "a directory"
	}
	return "not regular"
}
