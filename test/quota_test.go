package e2e_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/testenv"
)

// TestQuotaUnderConcurrentPushers fills a namespace with a storage limit from 16
// pushers at once until each is refused, on the embedded registry and on two replicas
// of PostgreSQL + S3 behind a round-robin proxy (so the requests of one upload land on
// both). Half the pushers send blobs whole with their length, half as a streamed PATCH
// of unknown length and a PUT, which no check before the link can refuse exactly. The
// namespace must end with exactly what was accepted, never over its limit: the
// overshoot is logged.
func TestQuotaUnderConcurrentPushers(t *testing.T) {
	const limit, size, pushers = 1 << 20, 16 << 10, 16
	cfgFile := filepath.Join(t.TempDir(), "berth.yaml")
	if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf("quotas:\n  namespaces:\n    - {pattern: q, storage: %d}\n", limit)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"embedded", "postgres+s3"} {
		t.Run(mode, func(t *testing.T) {
			args := []string{"--config", cfgFile}
			var stores []string // the environment of the scaled mode's stores
			var servers []*berth
			if mode == "embedded" {
				servers = []*berth{startBerth(t, t.TempDir(), args...)}
			} else {
				dsn, bucket := testenv.PostgresURL(t), testenv.S3URL(t)
				stores = []string{"BERTH_METADATA=" + dsn, "BERTH_BLOBS=" + bucket}
				args = append(args, "--metadata", dsn, "--blobs", bucket)
				servers = []*berth{startBerth(t, t.TempDir(), args...), startBerth(t, t.TempDir(), args...)}
			}
			lb := roundRobin(t, servers...)

			var accepted, refused atomic.Int64
			errs := make([]error, pushers)
			var wg sync.WaitGroup
			for p := range pushers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						blob := make([]byte, size)
						binary.LittleEndian.PutUint64(blob, uint64(p<<32|i))
						status, err := pushBlob(lb.URL, fmt.Sprintf("q/r%d", p%4), blob, p%2 == 1)
						switch {
						case err != nil:
							errs[p] = err
							return
						case status == http.StatusForbidden:
							refused.Add(1)
							return
						case status != http.StatusCreated:
							errs[p] = fmt.Errorf("push %d of pusher %d: status %d", i, p, status)
							return
						}
						accepted.Add(size)
					}
				}()
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			usage := func(base string) int64 {
				resp := mustDo(t, http.MethodGet, base+"/berth/v1/usage/q/r0", nil, nil, http.StatusOK)
				var u struct{ Bytes, Limit int64 }
				if err := json.NewDecoder(resp.Body).Decode(&u); err != nil || u.Limit != limit {
					t.Fatalf("usage from %s: %+v, %v", base, u, err)
				}
				return u.Bytes
			}
			used := usage(servers[0].URL)
			t.Logf("%s: %d pushers accepted %d bytes and were refused %d times; usage %d of %d: overshoot %d bytes",
				mode, pushers, accepted.Load(), refused.Load(), used, limit, max(used-limit, 0))
			if used != accepted.Load() || used > limit || refused.Load() != pushers {
				t.Fatalf("usage %d, accepted %d, limit %d, %d refusals: the namespace must hold what was accepted, within its limit", used, accepted.Load(), limit, refused.Load())
			}
			for _, s := range servers[1:] {
				if got := usage(s.URL); got != used {
					t.Fatalf("replica %s reports %d, the other %d", s.Addr, got, used)
				}
			}

			// berth usage shows the same; a recount from the links agrees.
			out := runCLI(t, "usage", "--json", servers[0].Addr+"/q/r0")
			if !strings.Contains(out, fmt.Sprintf(`"bytes": %d`, used)) {
				t.Fatalf("berth usage printed %s", out)
			}
			recount := exec.Command(berthBin, "recount-usage", "--config", cfgFile, "--data", servers[0].Data)
			recount.Env = append(os.Environ(), stores...)
			if b, err := recount.CombinedOutput(); err != nil || !strings.Contains(string(b), fmt.Sprintf("%d bytes", used)) {
				t.Fatalf("recount-usage: %v: %s (want %d bytes)", err, b, used)
			}
			if got := usage(servers[0].URL); got != used {
				t.Fatalf("after the recount: %d, before %d", got, used)
			}
		})
	}
}

// pushBlob pushes blob into repo at base: whole, with its length, or streamed as a PATCH
// of unknown length and a PUT. It returns the status of the request that decided.
func pushBlob(base, repo string, blob []byte, streamed bool) (int, error) {
	d := digest.FromBytes(blob)
	do := func(method, url string, body io.Reader) (*http.Response, error) {
		req, err := http.NewRequest(method, url, body)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, nil
	}
	if !streamed {
		resp, err := do(http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/?digest="+d.String(), bytes.NewReader(blob))
		if err != nil {
			return 0, err
		}
		return resp.StatusCode, nil
	}
	resp, err := do(http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		return statusOf(resp), err
	}
	// A reader that is not a bytes.Reader: the length is not known, the body is chunked.
	resp, err = do(http.MethodPatch, base+resp.Header.Get("Location"), io.MultiReader(bytes.NewReader(blob)))
	if err != nil || resp.StatusCode != http.StatusAccepted {
		return statusOf(resp), err
	}
	loc := resp.Header.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp, err = do(http.MethodPut, base+loc+sep+"digest="+d.String(), nil)
	return statusOf(resp), err
}

func statusOf(resp *http.Response) int {
	if resp == nil {
		return 0
	}
	return resp.StatusCode
}
