// Package e2e_test runs the real `berth serve` binary on 127.0.0.1 and drives it with real
// clients (go-containerregistry, skopeo, flatpak). External programs come from
// scripts/install-deps.sh; a missing one fails the test unless BERTH_E2E_ALLOW_SKIP=1, so
// CI can never pass by skipping.
package e2e_test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
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
func needTool(t *testing.T, names ...string) {
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

// syncBuffer collects a process's output safely while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// berth is a running `berth serve`.
type berth struct {
	Addr string // host:port
	URL  string // http://host:port
	Data string
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startBerth starts berth serve on a free port with data in dir and waits until ready;
// the test's cleanup stops it.
func startBerth(t *testing.T, dir string, args ...string) *berth {
	t.Helper()
	b := &berth{Addr: freeAddr(t), Data: dir, log: &syncBuffer{}, done: make(chan struct{})}
	b.URL = "http://" + b.Addr
	b.cmd = exec.Command(berthBin, append([]string{"serve", "--addr", b.Addr, "--data", dir}, args...)...)
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		b.Stop(t)
		if t.Failed() {
			t.Logf("berth log:\n%s", tail(b.log.String(), 4000))
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(b.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return b
			}
		}
		select {
		case <-b.done:
			t.Fatalf("berth exited before it was ready:\n%s", b.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("berth not ready after 20s:\n%s", b.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends the server with SIGTERM (SIGKILL after 10s) and waits for it.
func (b *berth) Stop(t *testing.T) {
	select {
	case <-b.done:
		return
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(10 * time.Second):
		t.Errorf("berth did not stop on SIGTERM; killing it")
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
