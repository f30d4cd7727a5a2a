// Package backup makes a consistent online copy of an embedded registry's data directory:
// the SQLite metadata first, as one snapshot, then the blob files. Blobs are immutable
// and content-addressed, so copying them after the snapshot gives every blob the
// snapshot refers to (garbage collection's grace period keeps them until then), and a
// repeated backup into the same directory copies only new blobs. The caller opens the
// metadata store (only the wiring knows store implementations) and hands it in.
package backup

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/berth-registry/berth/internal/atomicfile"
)

// Snapshotter is a metadata store that can write a consistent copy of its database to a
// new file while it stays in use, as the embedded SQLite store does.
type Snapshotter interface {
	Backup(ctx context.Context, path string) error
}

// Result says what a backup copied.
type Result struct {
	BlobsCopied, BlobsPresent int
	Bytes                     int64
}

// Run backs up the embedded data directory data, whose metadata store is meta, into
// dest, a directory that is created if needed; the registry may be running. dest then
// works as a data directory itself.
func Run(ctx context.Context, meta Snapshotter, data, dest string) (Result, error) {
	var res Result
	if err := os.MkdirAll(dest, 0o750); err != nil {
		return res, err
	}
	// A snapshot wants a new file: write beside, then replace the previous backup.
	tmp := filepath.Join(dest, "metadata.db.new")
	_ = os.Remove(tmp)
	if err := meta.Backup(ctx, tmp); err != nil {
		return res, err
	}
	if err := os.Rename(tmp, filepath.Join(dest, "metadata.db")); err != nil {
		return res, err
	}
	src := filepath.Join(data, "blobs")
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == src {
				return fs.SkipDir // no blobs yet
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if d.IsDir() || d.Name()[0] == '.' {
			return nil
		}
		rel, err := filepath.Rel(data, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dest, rel)
		if _, err := os.Stat(target); err == nil {
			res.BlobsPresent++
			return nil
		}
		n, err := copyFile(path, target)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // collected since the walk listed it: the snapshot no longer refers to it
		}
		if err != nil {
			return err
		}
		res.BlobsCopied++
		res.Bytes += n
		return nil
	})
	return res, err
}

// copyFile copies through a temporary file so an interrupted backup leaves no partial
// blob under a real name.
func copyFile(from, to string) (int64, error) {
	in, err := os.Open(from)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	return atomicfile.Write(to, in, nil)
}
