package pulls

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/testenv"
)

// countingStore counts writes before passing them to a real store.
type countingStore struct {
	mu     sync.Mutex
	writes int
	fail   error
	next   Store
}

func (c *countingStore) RecordPulls(ctx context.Context, p []metadata.Pull) error {
	c.mu.Lock()
	c.writes++
	fail := c.fail
	c.mu.Unlock()
	if fail != nil {
		return fail
	}
	return c.next.RecordPulls(ctx, p)
}

func TestPullsAreWrittenInOneBatchPerFlush(t *testing.T) {
	meta, _ := testenv.EmbeddedStores(t)
	ctx := context.Background()
	for _, repo := range []string{"a", "b"} {
		if err := meta.LinkBlob(ctx, repo, metadata.Blob{Digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000", Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	store := &countingStore{next: meta}
	r := New(store, slog.New(slog.DiscardHandler), time.Hour)
	clock := time.Unix(1_800_000_000, 0)
	r.now = func() time.Time { return clock }
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Pulled([]string{"a", "b"}[i%2], "latest")
		}()
	}
	wg.Wait()
	clock = clock.Add(time.Second)
	r.Pulled("a", "latest")
	if store.writes != 0 {
		t.Fatalf("%d writes before any flush", store.writes)
	}
	r.Flush(ctx)
	if store.writes != 1 {
		t.Fatalf("1001 pulls took %d writes, want 1", store.writes)
	}
	for repo, want := range map[string]time.Time{"a": clock, "b": clock.Add(-time.Second)} {
		got, err := meta.LastPulled(ctx, repo, "latest")
		if err != nil || !got.Equal(want) {
			t.Errorf("LastPulled(%s) = %v, %v, want %v", repo, got, err, want)
		}
	}
	r.Flush(ctx)
	if store.writes != 1 {
		t.Fatal("an empty flush wrote")
	}
}

func TestFailedFlushKeepsThePullsForTheNext(t *testing.T) {
	meta, _ := testenv.EmbeddedStores(t)
	ctx := context.Background()
	if err := meta.LinkBlob(ctx, "a", metadata.Blob{Digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000", Size: 1}); err != nil {
		t.Fatal(err)
	}
	store := &countingStore{next: meta, fail: errors.New("database down")}
	r := New(store, slog.New(slog.DiscardHandler), time.Hour)
	r.Pulled("a", "v1")
	r.Flush(ctx)
	store.fail = nil
	r.Flush(ctx)
	if got, err := meta.LastPulled(ctx, "a", "v1"); err != nil || got.IsZero() {
		t.Fatalf("pull lost after a failed flush: %v, %v", got, err)
	}
}

func TestRunFlushesWhenItStops(t *testing.T) {
	meta, _ := testenv.EmbeddedStores(t)
	if err := meta.LinkBlob(context.Background(), "a", metadata.Blob{Digest: "sha256:0000000000000000000000000000000000000000000000000000000000000000", Size: 1}); err != nil {
		t.Fatal(err)
	}
	r := New(meta, slog.New(slog.DiscardHandler), time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	r.Pulled("a", "v1")
	cancel()
	<-done
	if got, err := meta.LastPulled(context.Background(), "a", "v1"); err != nil || got.IsZero() {
		t.Fatalf("the pull noted before stopping: %v, %v", got, err)
	}
}
