package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/testenv"
)

// pushed is a manifest a client was told is stored.
type pushed struct {
	repo, tag string
	manifest  []byte
	blobs     []digest.Digest
}

// pushOnce pushes a fresh image (two layers and a config, one layer shared by every
// pusher) and an orphan blob no manifest will use. It reports the acknowledged manifest,
// or an error when the registry refused it (a blob collected mid-push: the client retries).
func pushOnce(ctx context.Context, c *client.Client, repo client.Repository, tag string, shared []byte) (pushed, error) {
	own := make([]byte, 4096)
	_, _ = rand.Read(own)
	orphan := make([]byte, 512)
	_, _ = rand.Read(orphan)
	cfg := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","tag":%q}`, tag))
	var ds []digest.Digest
	for _, b := range [][]byte{shared, own, cfg, orphan} {
		d := digest.FromBytes(b)
		if err := c.BlobPut(ctx, repo, d.String(), int64(len(b)), bytes.NewReader(b)); err != nil {
			return pushed{}, err
		}
		ds = append(ds, d)
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d},{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`,
		ds[2], len(cfg), ds[0], len(shared), ds[1], len(own))
	if _, err := c.ManifestPut(ctx, repo, tag, "application/vnd.oci.image.manifest.v1+json", []byte(m)); err != nil {
		return pushed{}, err
	}
	return pushed{repo: repo.Name, tag: tag, manifest: []byte(m), blobs: ds[:3]}, nil
}

// TestGCRacesConcurrentPushes runs collection continuously with no grace period while
// 50 clients push, then checks that every acknowledged manifest still pulls completely,
// and that the collector did collect (the orphan blobs, and links to them).
func TestGCRacesConcurrentPushes(t *testing.T) {
	t.Run("embedded", func(t *testing.T) { gcRace(t, nil) })
	t.Run("postgres+s3", func(t *testing.T) {
		gcRace(t, func(c *config.Config) { c.Metadata, c.Blobs = testenv.PostgresURL(t), testenv.S3URL(t) })
	})
}

func gcRace(t *testing.T, adjust func(*config.Config)) {
	cfg := config.Default()
	cfg.Data, cfg.Addr = t.TempDir(), freeAddr(t)
	if adjust != nil {
		adjust(&cfg)
	}
	cfg.GC.Enabled, cfg.GC.Interval, cfg.GC.BlobGracePeriod, cfg.GC.UntaggedManifests = true, time.Millisecond, 0, true
	srv, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	must(t, err)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitReady(t, "http://"+cfg.Addr)

	c := client.New(client.WithPlainHTTP(true))
	shared := bytes.Repeat([]byte("shared layer"), 1000)
	const pushers, rounds = 50, 3
	var (
		mu      sync.Mutex
		acked   []pushed
		retries int
		wg      sync.WaitGroup
	)
	for p := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repo := client.Repository{Host: cfg.Addr, Name: fmt.Sprintf("gc/app%d", p%10)}
			for r := range rounds {
				tag := fmt.Sprintf("p%d-r%d", p, r)
				for attempt := 0; ; attempt++ {
					got, err := pushOnce(ctx, c, repo, tag, shared)
					if err == nil {
						mu.Lock()
						acked = append(acked, got)
						mu.Unlock()
						break
					}
					if attempt == 20 {
						t.Errorf("push %s failed 20 times: %v", tag, err)
						return
					}
					mu.Lock()
					retries++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	// One more pass with everything settled, then check.
	_, err = srv.gc.Pass(context.Background())
	must(t, err)
	for _, p := range acked {
		repo := client.Repository{Host: cfg.Addr, Name: p.repo}
		_, body, err := c.ManifestGet(context.Background(), repo, p.tag)
		if err != nil || !bytes.Equal(body, p.manifest) {
			t.Errorf("%s:%s: manifest lost after collection: %v", p.repo, p.tag, err)
			continue
		}
		for _, d := range p.blobs {
			rc, _, err := c.BlobGet(context.Background(), repo, d.String())
			if err == nil {
				_, err = io.Copy(io.Discard, rc) // verified against the digest at EOF
				rc.Close()
			}
			if err != nil {
				t.Errorf("%s:%s: blob %s: %v", p.repo, p.tag, d, err)
			}
		}
	}
	tot := &srv.gc.Totals
	t.Logf("%d pushes acknowledged, %d retried after a collection; collected %d links, %d blobs (%d bytes) in %d passes",
		len(acked), retries, tot.Links.Load(), tot.Blobs.Load(), tot.BlobBytes.Load(), tot.Passes.Load())
	if len(acked) != pushers*rounds {
		t.Errorf("%d pushes acknowledged, want %d", len(acked), pushers*rounds)
	}
	// Every orphan blob (512 bytes, unique) must be gone by now.
	if tot.Blobs.Load() < pushers*rounds {
		t.Errorf("collected %d blobs, want at least the %d orphans", tot.Blobs.Load(), pushers*rounds)
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	for range 200 {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("server not ready")
}
