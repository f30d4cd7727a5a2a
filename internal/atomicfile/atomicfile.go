// Package atomicfile writes a file so that it appears under its name only complete:
// through a temporary file in the same directory, synced, then renamed. An interrupted
// write leaves no partial file behind a real name.
package atomicfile

import (
	"io"
	"os"
	"path/filepath"
)

// Write copies r into path and returns the bytes written. check (nil: none) runs after
// the copy and before the rename, with the byte count; an error from it (say, a digest
// that does not match) leaves path untouched. The directory is created if needed.
func Write(path string, r io.Reader, check func(n int64) error) (int64, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name()) // after a successful rename there is nothing to remove
	defer f.Close()
	n, err := io.Copy(f, r)
	if err != nil {
		return n, err
	}
	if check != nil {
		if err := check(n); err != nil {
			return n, err
		}
	}
	if err := f.Sync(); err != nil {
		return n, err
	}
	if err := f.Close(); err != nil {
		return n, err
	}
	return n, os.Rename(f.Name(), path)
}
