package backup

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/server"
)

func serve(t *testing.T, data string) (string, func()) {
	t.Helper()
	cfg := config.Default()
	cfg.Data = data
	srv, err := server.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	return strings.TrimPrefix(hs.URL, "http://"), func() { hs.Close(); srv.Close() }
}

// TestBackupOfARunningRegistryServesEverything backs up while the registry runs, then
// serves the backup as a data directory and pulls what was pushed before.
func TestBackupOfARunningRegistryServesEverything(t *testing.T) {
	ctx := context.Background()
	data, dest := t.TempDir(), t.TempDir()
	host, stop := serve(t, data)
	c := client.New(client.WithPlainHTTP(true))
	repo := client.Repository{Host: host, Name: "app"}
	layer := bytes.Repeat([]byte("layer"), 1000)
	ld := digest.FromBytes(layer)
	if err := c.BlobPut(ctx, repo, ld.String(), int64(len(layer)), bytes.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	cd := digest.FromString("{}")
	if err := c.BlobPut(ctx, repo, cd.String(), 2, strings.NewReader("{}")); err != nil {
		t.Fatal(err)
	}
	m := `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"` + cd.String() + `","size":2},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"` + ld.String() + `","size":5000}]}`
	if _, err := c.ManifestPut(ctx, repo, "v1", "application/vnd.oci.image.manifest.v1+json", []byte(m)); err != nil {
		t.Fatal(err)
	}
	meta, err := sqlite.Open(ctx, filepath.Join(data, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctx, meta, data, dest)
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsCopied != 2 || res.Bytes != 5002 {
		t.Errorf("first backup: %+v, want 2 blobs, 5002 bytes", res)
	}
	again, err := Run(ctx, meta, data, dest)
	meta.Close()
	if err != nil || again.BlobsCopied != 0 || again.BlobsPresent != 2 {
		t.Errorf("second backup: %+v, %v; want nothing copied", again, err)
	}
	stop()

	host, stop = serve(t, dest)
	defer stop()
	repo.Host = host
	_, body, err := c.ManifestGet(ctx, repo, "v1")
	if err != nil || string(body) != m {
		t.Fatalf("manifest from backup: %v", err)
	}
	rc, _, err := c.BlobGet(ctx, repo, ld.String())
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc) // the client verifies the digest at EOF
	rc.Close()
	if err != nil || !bytes.Equal(got, layer) {
		t.Fatalf("layer from backup: %d bytes, %v", len(got), err)
	}
}
