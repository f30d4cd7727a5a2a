package main

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// target is a registry under measurement: an HTTP base URL, and the process behind it
// when there is one (for RSS).
type target struct {
	name string
	url  string
	cmd  *exec.Cmd
	stop func(keepLog bool)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// startProcess runs cmd serving on addr and waits until readyPath answers 200.
func startProcess(name, addr string, cmd *exec.Cmd, readyPath string) (*target, error) {
	logf, err := os.CreateTemp("", "bench-"+name+"-*.log")
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// An interrupted run must not leave servers behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	t := &target{name: name, url: "http://" + addr, cmd: cmd}
	t.stop = func(keepLog bool) {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		logf.Close()
		if keepLog {
			log.Printf("%s log: %s", name, logf.Name())
		} else {
			os.Remove(logf.Name())
		}
	}
	for i := 0; i < 400; i++ {
		if resp, err := http.Get(t.url + readyPath); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return t, nil
			}
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.stop(true)
	return nil, fmt.Errorf("%s did not become ready", name)
}

// startBerth builds cmd/berth and runs it embedded (or on the given store URLs). Its
// page size limit is raised so that one response can carry every tag, as Distribution's
// does.
func startBerth(dir string, extra ...string) (*target, error) {
	bin := filepath.Join(dir, "berth")
	// Built as docs/operations.md builds a release: static, without libc.
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/berth")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build berth: %v\n%s", err, out)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--data", filepath.Join(dir, "data"), "--flatpak-index"}, extra...)...)
	cmd.Env = append(os.Environ(), "BERTH_LOG_LEVEL=warn", "BERTH_REGISTRY_MAX_PAGE_SIZE=200000", "BERTH_GC_ENABLED=false")
	return startProcess("berth", addr, cmd, "/readyz")
}

// startDistribution runs Debian's docker-registry (CNCF Distribution 2.8) on the
// filesystem driver, as packaged.
func startDistribution(dir string) (*target, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		return nil, err
	}
	return startProcess("distribution", addr, exec.Command("docker-registry", "serve", path), "/v2/")
}

// rss reads the resident and peak resident set size of the target's process, in MiB.
func (t *target) rss() (cur, peak float64) {
	if t.cmd == nil {
		return -1, -1
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", t.cmd.Process.Pid))
	if err != nil {
		return -1, -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		n, _ := strconv.ParseFloat(fields[0], 64)
		switch k {
		case "VmRSS":
			cur = n / 1024
		case "VmHWM":
			peak = n / 1024
		}
	}
	return cur, peak
}

// resetPeak starts the target's peak RSS (VmHWM) afresh from its current RSS, so that a
// later reading is the peak of what ran in between (Linux's clear_refs).
func (t *target) resetPeak() error {
	if t.cmd == nil {
		return nil
	}
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", t.cmd.Process.Pid), []byte("5"), 0)
}

// ddRate writes size bytes durably with dd (conv=fdatasync) and returns MB/s.
func ddRate(ctx context.Context, dir string, size int64) (float64, error) {
	start := time.Now()
	out, err := exec.CommandContext(ctx, "dd", "if=/dev/zero", "of="+filepath.Join(dir, "dd.out"), "bs=1M",
		fmt.Sprintf("count=%d", size>>20), "conv=fdatasync").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("dd: %v\n%s", err, out)
	}
	os.Remove(filepath.Join(dir, "dd.out"))
	return float64(size) / 1e6 / time.Since(start).Seconds(), nil
}
