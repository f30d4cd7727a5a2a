package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// unprivileged returns how to run berth as a user the file modes apply to: nobody when
// the tests run as root (as in CI), else the current user.
func unprivileged(t *testing.T) runOpts {
	if os.Geteuid() == 0 {
		return runOpts{uid: 65534}
	}
	return runOpts{}
}

// own gives path to the unprivileged user.
func own(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() == 0 {
		if err := os.Chown(path, 65534, 65534); err != nil {
			t.Fatal(err)
		}
	}
}

// TestServeStartupErrorsNameTheProblemAndThePath: SQLite's codes become sentences, and
// a port in use is found before the data directory is created.
func TestServeStartupErrorsNameTheProblemAndThePath(t *testing.T) {
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} { // t.TempDir makes 0700 directories
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	user := unprivileged(t)

	// A directory the user may not create a data directory in.
	locked := filepath.Join(base, "locked")
	if err := os.Mkdir(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		_ = os.Chmod(locked, 0o555)
	}
	r := berth(t, pipes, user, "serve", "--addr", freePort(t), "--data", filepath.Join(locked, "data"))
	if r.code != 1 || !strings.Contains(r.stderr, "cannot create data directory "+filepath.Join(locked, "data")+" as ") || !strings.Contains(r.stderr, "permission denied") {
		t.Errorf("uncreatable data directory: %+v", r)
	}

	// A data directory the user may not write.
	ro := filepath.Join(base, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	r = berth(t, pipes, user, "serve", "--addr", freePort(t), "--data", ro)
	if r.code != 1 || !strings.Contains(r.stderr, "data directory "+ro+" is not writable by ") || !strings.Contains(r.stderr, "choose another with --data") {
		t.Errorf("read-only data directory: %+v", r)
	}

	// A database the user may write in a directory it may not: SQLite cannot create its
	// WAL, which it reported as "attempt to write a readonly database (1544)".
	if os.Geteuid() == 0 {
		walless := filepath.Join(base, "walless")
		if err := os.Mkdir(walless, 0o755); err != nil {
			t.Fatal(err)
		}
		if r := berth(t, pipes, runOpts{}, "gc", "--data", walless); r.code != 0 { // creates metadata.db
			t.Fatalf("gc: %+v", r)
		}
		for _, f := range []string{"metadata.db", "blobs", "uploads"} {
			own(t, filepath.Join(walless, f))
		}
		_ = os.Remove(filepath.Join(walless, "metadata.db-wal"))
		_ = os.Remove(filepath.Join(walless, "metadata.db-shm"))
		r = berth(t, pipes, user, "gc", "--data", walless)
		if r.code != 1 || !strings.Contains(r.stderr, "the SQLite database "+filepath.Join(walless, "metadata.db")+" cannot be written because its directory is read-only") {
			t.Errorf("database in a read-only directory: %+v", r)
		}
	}

	// A typo in gc --data creates nothing.
	typo := filepath.Join(base, "dtaa")
	r = berth(t, pipes, runOpts{}, "gc", "--data", typo)
	if r.code != 1 || !strings.Contains(r.stderr, "data directory "+typo+" does not exist (check --data") {
		t.Errorf("gc --data typo: %+v", r)
	}
	if _, err := os.Stat(typo); err == nil {
		t.Error("gc created the mistyped data directory")
	}

	// A port in use leaves no data directory behind.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fresh := filepath.Join(base, "fresh")
	r = berth(t, pipes, runOpts{}, "serve", "--addr", l.Addr().String(), "--data", fresh)
	if r.code != 1 || !strings.Contains(r.stderr, "listen on "+l.Addr().String()) || !strings.Contains(r.stderr, "address already in use") {
		t.Errorf("port in use: %+v", r)
	}
	if _, err := os.Stat(fresh); err == nil {
		t.Error("a serve that could not listen created its data directory")
	}
}

// TestSecondServeOnOneDataDirectoryRefuses: one SQLite database, one registry process;
// the second says which process holds it, and the lock dies with its holder.
func TestSecondServeOnOneDataDirectoryRefuses(t *testing.T) {
	dir := t.TempDir()
	first := startServe(t, dir)
	r := berth(t, pipes, runOpts{}, "serve", "--addr", freePort(t), "--data", dir)
	want := "data directory " + dir + " is in use by another berth serve (PID " + strconv.Itoa(first.cmd.Process.Pid) + ")"
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Fatalf("second serve: %+v; want %q", r, want)
	}
	// Killed, not stopped: the kernel drops the lock, nothing stale remains.
	_ = first.cmd.Process.Kill()
	<-first.done
	second := startServe(t, dir)
	second.stop()
	// A registry on PostgreSQL and S3 takes no lock: replicas share by design (covered
	// by test/scaled_test.go with two replicas).
}

// cutProxy forwards TCP to target and cuts the first connection that carries more
// than limit bytes from the client, as a registry dying mid-push would.
type cutProxy struct {
	l      net.Listener
	target string
	limit  int64
	cuts   atomic.Int32
	maxCut int32 // how many connections to cut; then it forwards everything
	wg     sync.WaitGroup
}

func newCutProxy(t *testing.T, target string, limit int64, maxCut int32) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{l: l, target: target, limit: limit, maxCut: maxCut}
	go p.accept()
	t.Cleanup(func() { l.Close(); p.wg.Wait() })
	return p
}

func (p *cutProxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer c.Close()
			s, err := net.Dial("tcp", p.target)
			if err != nil {
				return
			}
			defer s.Close()
			go func() { _, _ = io.Copy(c, s); c.Close() }()
			var n int64
			buf := make([]byte, 32<<10)
			for {
				k, err := c.Read(buf)
				n += int64(k)
				if n > p.limit && p.cuts.Load() < p.maxCut {
					p.cuts.Add(1)
					if tc, ok := c.(*net.TCPConn); ok {
						_ = tc.SetLinger(0) // a reset, as a dying server's kernel sends
					}
					return
				}
				if k > 0 {
					if _, err := s.Write(buf[:k]); err != nil {
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// TestInterruptedPushResumes: a connection cut mid-blob is retried from the offset the
// registry reports, and when it cannot go on the error says how far it got.
func TestInterruptedPushResumes(t *testing.T) {
	s := startServe(t, t.TempDir())
	dir := t.TempDir()
	data := bytes.Repeat([]byte("0123456789abcdef"), 512<<10) // 8 MiB
	f := writeFile(t, dir, "big.bin", data)

	once := newCutProxy(t, s.addr, 3<<20, 1)
	r := berth(t, pipes, runOpts{env: noCreds(t)}, "push", "--plain-http", once.l.Addr().String()+"/cut/a:1", f)
	if r.code != 0 || once.cuts.Load() != 1 {
		t.Fatalf("push through one cut: exit %d, %d cuts, stderr %q", r.code, once.cuts.Load(), r.stderr)
	}
	out := t.TempDir()
	if r := berth(t, pipes, runOpts{env: noCreds(t)}, "pull", s.addr+"/cut/a:1", out); r.code != 0 {
		t.Fatalf("pull: %+v", r)
	}
	if got, _ := os.ReadFile(filepath.Join(out, "big.bin")); !bytes.Equal(got, data) {
		t.Fatalf("pulled %d bytes that differ from the %d pushed", len(got), len(data))
	}

	always := newCutProxy(t, s.addr, 1<<20, 1000)
	r = berth(t, pipes, runOpts{env: noCreds(t)}, "push", "--plain-http", always.l.Addr().String()+"/cut/b:1", f)
	if r.code != 1 || !strings.Contains(r.stderr, "connection lost after ") || !strings.Contains(r.stderr, " of 8388608 bytes") ||
		strings.Contains(r.stderr, "did the file change") {
		t.Errorf("push through a proxy that always cuts: %+v", r)
	}
	if n := always.cuts.Load(); n < 4 {
		t.Errorf("%d attempts, want the first and 3 retries", n)
	}
}
