// Package e2e_test runs the real `berth serve` binary on 127.0.0.1 and drives it with real
// clients (go-containerregistry, skopeo, flatpak). External programs come from
// scripts/install-deps.sh; a missing one fails the test unless BERTH_E2E_ALLOW_SKIP=1, so
// CI can never pass by skipping.
package e2e_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/testenv"
)

var berthBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	berthBin = filepath.Join(dir, "berth")
	build := exec.Command("go", "build", "-o", berthBin, "../cmd/berth")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build berth:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTool fails (or, when allowed, skips) a test whose external program is missing.
func needTool(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			if os.Getenv("BERTH_E2E_ALLOW_SKIP") == "1" {
				t.Skipf("%s not installed", name)
			}
			t.Fatalf("%s not installed: run scripts/install-deps.sh", name)
		}
	}
}

// berth is a running server: `berth serve`, or a reference registry started the same way.
type berth struct {
	Addr string // host:port
	URL  string // http://host:port
	Data string
	cmd  *exec.Cmd
	log  *testenv.SyncBuffer
	done chan struct{}
}

func freeAddr(t testing.TB) string { return testenv.FreeAddr(t) }

// startBerth starts berth serve on a free port with data in dir and waits until ready;
// the test's cleanup stops it.
func startBerth(t testing.TB, dir string, args ...string) *berth {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(berthBin, append([]string{"serve", "--addr", addr, "--data", dir}, args...)...)
	return startServer(t, "berth", "http://"+addr, dir, cmd, "/readyz", http.DefaultClient)
}

// startDistribution starts Debian's docker-registry (CNCF Distribution 2.8) on a free
// port with filesystem storage in a temporary directory and deletes enabled.
func startDistribution(t *testing.T) *berth {
	t.Helper()
	needTool(t, "docker-registry")
	dir, addr := t.TempDir(), freeAddr(t)
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	return startServer(t, "docker-registry", "http://"+addr, dir, exec.Command("docker-registry", "serve", path), "/v2/", http.DefaultClient)
}

// startServer runs cmd, which serves base (http://HOST:PORT or https://...), and waits
// until readyPath answers 200 to hc.
func startServer(t testing.TB, what, base, dir string, cmd *exec.Cmd, readyPath string, hc *http.Client) *berth {
	t.Helper()
	b := &berth{Addr: base[strings.Index(base, "//")+2:], URL: base, Data: dir, cmd: cmd, log: &testenv.SyncBuffer{}, done: make(chan struct{})}
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		b.Stop(t)
		if t.Failed() {
			t.Logf("%s log:\n%s", what, tail(b.log.String(), 4000))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := hc.Get(b.URL + readyPath)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return b
			}
		}
		select {
		case <-b.done:
			t.Fatalf("%s exited before it was ready:\n%s", what, b.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 20s:\n%s", what, b.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the server with SIGTERM (SIGKILL after 10s) and waits for it.
func (b *berth) Stop(t testing.TB) {
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		t.Errorf("server did not stop on SIGTERM; killing it")
		b.Kill()
	}
}

// Kill ends the server at once, as a crash would.
func (b *berth) Kill() {
	_ = b.cmd.Process.Kill()
	<-b.done
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
