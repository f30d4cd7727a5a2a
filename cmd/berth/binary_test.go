package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/berth-registry/berth/internal/testenv"
)

// These tests run the berth binary as scripts and people do: its stdout, stderr and
// exit status are what they check, with stdout going to /dev/null, to a pipe, and
// stderr to a pty for what a person at a terminal sees.

var berthBin string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		// BERTH_TEST_BINARY runs the same tests against another build (e.g. main's, to
		// see them fail before a fix).
		if bin := os.Getenv("BERTH_TEST_BINARY"); bin != "" {
			berthBin = bin
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "berth-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		_ = os.Chmod(dir, 0o755) // tests run it as an unprivileged user too
		berthBin = filepath.Join(dir, "berth")
		build := exec.Command("go", "build", "-o", berthBin, ".")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build berth:", err)
			return 1
		}
		return m.Run()
	}())
}

// result is what a script sees of one run.
type result struct {
	stdout, stderr string
	code           int
}

// where says where a run's output goes.
type where int

const (
	pipes      where = iota // stdout and stderr are pipes (captured)
	stdoutNull              // stdout is /dev/null, stderr a pipe: cron, CI
	stderrPTY               // stdout a pipe, stderr (and stdin) a terminal
)

// runOpts tunes a run: environment additions, standard input, a user to run as.
type runOpts struct {
	env   []string
	stdin string
	// answer is typed into the pty, line by line, as prompts appear (stderrPTY only).
	answer []string
	uid    int // run as this uid/gid when non-zero (tests run as root in CI)
}

func berth(t *testing.T, w where, o runOpts, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, berthBin, args...)
	cmd.Env = append(os.Environ(), o.env...)
	if o.uid != 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(o.uid), Gid: uint32(o.uid)}}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if o.stdin != "" {
		cmd.Stdin = strings.NewReader(o.stdin)
	}
	var ptyOut *testenv.SyncBuffer
	var ptyDone chan struct{}
	switch w {
	case stdoutNull:
		null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer null.Close()
		cmd.Stdout = null
	case stderrPTY:
		ptm, pts, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		defer ptm.Close()
		cmd.Stderr, cmd.Stdin = pts, pts
		ptyOut, ptyDone = &testenv.SyncBuffer{}, make(chan struct{})
		go func() {
			defer close(ptyDone)
			_, _ = io.Copy(ptyOut, ptm) // ends with EIO once the child and pts are gone
		}()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pts.Close()
		for _, a := range o.answer {
			waitFor(t, func() bool { return strings.HasSuffix(strings.TrimRight(ptyOut.String(), " "), ":") }, "a prompt on the terminal: "+ptyOut.String())
			before := len(ptyOut.String())
			if _, err := ptm.Write([]byte(a + "\n")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { return len(ptyOut.String()) > before }, "the terminal to take the answer")
		}
		err = cmd.Wait()
		<-ptyDone
		return result{stdout.String(), ptyOut.String(), exitCode(t, err)}
	}
	err := cmd.Run()
	return result{stdout.String(), stderr.String(), exitCode(t, err)}
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serveProc is a running `berth serve`.
type serveProc struct {
	addr string
	cmd  *exec.Cmd
	log  *testenv.SyncBuffer
	done chan struct{}
}

func freePort(t *testing.T) string { return testenv.FreeAddr(t) }

// startServe starts `berth serve` on a free port with data in dir and waits until it is
// ready; the test's cleanup stops it.
func startServe(t *testing.T, dir string, args ...string) *serveProc {
	t.Helper()
	s := &serveProc{addr: freePort(t), log: &testenv.SyncBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command(berthBin, append([]string{"serve", "--addr", s.addr, "--data", dir}, args...)...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		s.stop()
		if t.Failed() {
			t.Logf("serve log:\n%s", s.log.String())
		}
	})
	for deadline := time.Now().Add(20 * time.Second); ; {
		if resp, err := http.Get("http://" + s.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		select {
		case <-s.done:
			t.Fatalf("serve exited before it was ready:\n%s", s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve not ready after 20s:\n%s", s.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *serveProc) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// noCreds is the environment of a user with no stored credentials.
func noCreds(t *testing.T) []string {
	return []string{"DOCKER_CONFIG=" + t.TempDir()}
}
