package e2e_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestCrashDuringPushes kills the server with SIGKILL while eight clients push, over
// several rounds on one data directory, and then checks that everything acknowledged is
// intact and that no blob is ever served partially.
func TestCrashDuringPushes(t *testing.T) {
	dir := t.TempDir()
	type pushed struct {
		repo string
		img  v1.Image
	}
	var (
		mu    sync.Mutex
		acked []pushed
		tried []v1.Hash // layers of every push, acknowledged or not
	)
	for round := range 3 {
		b := startBerth(t, dir)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					img, err := random.Image(256<<10, 3)
					if err != nil {
						t.Error(err)
						return
					}
					layers, _ := img.Layers()
					mu.Lock()
					for _, l := range layers {
						d, _ := l.Digest()
						tried = append(tried, d)
					}
					mu.Unlock()
					repo := fmt.Sprintf("crash/w%d", w)
					if remote.Write(ref(t, b, repo+":"+fmt.Sprintf("r%d-%d", round, i)), img, remote.WithContext(ctx)) == nil {
						mu.Lock()
						acked = append(acked, pushed{repo, img})
						mu.Unlock()
					}
				}
			}()
		}
		// Crash mid-push, but only once this round has acknowledged pushes of its own: on
		// a loaded machine the first pushes can take longer than the usual 1.5 s.
		mu.Lock()
		before := len(acked)
		mu.Unlock()
		time.Sleep(1500 * time.Millisecond)
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= before+2 {
				break
			}
		}
		b.Kill()
		cancel()
		wg.Wait()
	}
	if len(acked) == 0 {
		t.Fatal("no push was acknowledged before the crashes; the test proves nothing")
	}
	t.Logf("%d pushes acknowledged, %d layers attempted", len(acked), len(tried))

	b := startBerth(t, dir)
	for _, p := range acked {
		d, _ := p.img.Digest()
		got, err := remote.Image(ref(t, b, p.repo+"@"+d.String()))
		if err != nil {
			t.Fatalf("acknowledged image %s@%s lost: %v", p.repo, d, err)
		}
		sameLayers(t, p.img, got)
	}
	// Every attempted layer, in any repository that may have it, is either absent or
	// whole: a blob is served only once complete and verified.
	served := 0
	for _, d := range tried {
		for w := range 8 {
			resp, err := http.Get(fmt.Sprintf("%s/v2/crash/w%d/blobs/%s", b.URL, w, d))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode == http.StatusOK {
				h, _, err := v1.SHA256(resp.Body)
				if err != nil || h != d {
					t.Fatalf("blob %s served with digest %s (%v)", d, h, err)
				}
				served++
			} else if resp.StatusCode != http.StatusNotFound {
				t.Fatalf("blob %s: status %d", d, resp.StatusCode)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	if served == 0 {
		t.Fatal("no attempted layer was served; the partial-blob check proves nothing")
	}
	t.Logf("%d attempted layers served whole", served)
}
