package testenv

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/berth-registry/berth/internal/blobstore/fs"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

// EmbeddedStores opens the stores of the embedded mode, SQLite metadata and blob files,
// in a fresh temporary directory; the metadata store closes when the test ends.
func EmbeddedStores(t testing.TB) (*sqlite.Store, *fs.Store) {
	t.Helper()
	dir := t.TempDir()
	meta, err := sqlite.Open(context.Background(), filepath.Join(dir, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { meta.Close() })
	blobs, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return meta, blobs
}
