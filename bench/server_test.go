// Package bench measures Berth over HTTP as users meet it: a real `berth serve` process
// on 127.0.0.1, driven by Go benchmarks. Nothing here runs in the default test command;
// run it with `go test -run=^$ -bench=. ./bench/`.
package bench

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	berthBin  string
	buildErr  error
)

// binary builds cmd/berth once per benchmark run.
func binary(b *testing.B) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-bench-")
		if err != nil {
			buildErr = err
			return
		}
		berthBin = filepath.Join(dir, "berth")
		// Built as docs/operations.md builds a release: static, without libc.
		build := exec.Command("go", "build", "-trimpath", "-o", berthBin, "../cmd/berth")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build berth: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return berthBin
}

// server is a berth serve process under measurement.
type server struct {
	URL string
	cmd *exec.Cmd
}

func startServer(b *testing.B, args ...string) *server {
	b.Helper()
	return startServerOn(b, binary(b), b.TempDir(), nil, args...)
}

// startServerOn runs the berth binary bin on a data directory (which may outlive the
// process, so that a registry seeded once can be served again afresh), with extra
// environment, and waits until it is ready.
func startServerOn(b *testing.B, bin, data string, env []string, args ...string) *server {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--data", data}, args...)...)
	cmd.Env = append(append(os.Environ(), "BERTH_LOG_LEVEL=warn"), env...)
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	s := &server{URL: "http://" + addr, cmd: cmd}
	b.Cleanup(s.stop)
	for i := 0; ; i++ {
		if resp, err := http.Get(s.URL + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if i == 400 {
			b.Fatal("berth did not become ready")
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// stop ends the server, if it still runs.
func (s *server) stop() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		_ = s.cmd.Wait()
	}
}

// memory reads the server's current and peak resident set size, in bytes.
func (s *server) memory(b *testing.B) (rss, peak int64) {
	b.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseInt(fields[0], 10, 64)
		switch k {
		case "VmRSS":
			rss = n << 10
		case "VmHWM":
			peak = n << 10
		}
	}
	return rss, peak
}
