package registry_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blobstore/fs"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/testenv"
)

var ctx = context.Background()

// stores are the real stores of a test: SQLite metadata and blob files in a temporary
// directory, as the embedded mode runs them.
type stores struct {
	meta  *sqlite.Store
	blobs *fs.Store
}

func newService(t *testing.T, opts registry.Options) (*registry.Service, stores) {
	t.Helper()
	meta, blobs := testenv.EmbeddedStores(t)
	return registry.New(meta, blobs, slog.New(slog.DiscardHandler), opts), stores{meta, blobs}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// push stores data as a blob of repo through an upload, as a client's POST would.
func push(t *testing.T, svc *registry.Service, repo string, data []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(data)
	_, err := svc.PutBlob(ctx, repo, d, int64(len(data)), bytes.NewReader(data))
	must(t, err)
	return d
}

// readBlob reads the whole blob d of repo through the service.
func readBlob(t *testing.T, svc *registry.Service, repo string, d digest.Digest) []byte {
	t.Helper()
	if _, err := svc.Blob(ctx, repo, d); err != nil {
		t.Fatalf("blob %s of %s: %v", d, repo, err)
	}
	rc, err := svc.OpenBlob(ctx, d, 0, -1)
	must(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	must(t, err)
	return b
}

func isErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: %v, want %v", what, err, want)
	}
}
