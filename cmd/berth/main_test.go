package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

func TestServeRefusesBadConfiguration(t *testing.T) {
	dir := t.TempDir()
	badYAML := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(badYAML, []byte("adress: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badValue := filepath.Join(dir, "value.yaml")
	if err := os.WriteFile(badValue, []byte("log:\n  level: loud\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown key", []string{"serve", "--config", badYAML}, "adress"},
		{"bad value", []string{"serve", "--config", badValue}, "log.level"},
		{"missing file", []string{"serve", "--config", filepath.Join(dir, "none.yaml")}, "read config"},
		{"stray argument", []string{"serve", "extra"}, "takes no arguments"},
		{"unknown command", []string{"sail"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(context.Background(), tt.args, io.Discard, io.Discard)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestServeReportsBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	err = run(context.Background(), []string{"serve", "--addr", l.Addr().String(), "--data", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "listen on "+l.Addr().String()) {
		t.Fatalf("err = %v, want a listen error naming the address", err)
	}
}

// slowBody yields its data in pieces, pausing between them, and tells when it started.
type slowBody struct {
	data    []byte
	started chan struct{}
	once    bool
}

func (s *slowBody) Read(p []byte) (int, error) {
	if !s.once {
		s.once = true
		close(s.started)
	}
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(100 * time.Millisecond)
	n := copy(p[:min(len(p), 1024)], s.data)
	s.data = s.data[n:]
	return n, nil
}

func TestServeFinishesInFlightUploadOnShutdown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", addr, "--data", t.TempDir()}, io.Discard, io.Discard)
	}()
	url := "http://" + addr
	for i := 0; ; i++ {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if i == 200 {
			t.Fatal("server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}

	data := bytes.Repeat([]byte("x"), 5*1024)
	body := &slowBody{data: data, started: make(chan struct{})}
	req, _ := http.NewRequest("POST", url+"/v2/a/blobs/uploads/?digest="+digest.FromBytes(data).String(), body)
	req.ContentLength = int64(len(data))
	result := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			result <- 0
			return
		}
		resp.Body.Close()
		result <- resp.StatusCode
	}()
	<-body.started
	time.Sleep(50 * time.Millisecond)
	stop() // SIGTERM, as far as run is concerned
	if code := <-result; code != http.StatusCreated {
		t.Fatalf("in-flight upload answered %d during shutdown, want 201", code)
	}
	if err := <-done; err != nil {
		t.Fatalf("serve returned %v after a graceful shutdown", err)
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Fatal("server still answering after shutdown")
	}
}

// TestOfflineCommandsFindTheData runs gc and backup as an operator would: the data
// directory comes from BERTH_DATA unless --data names another, and backup refuses a
// registry whose metadata is not the embedded SQLite.
func TestOfflineCommandsFindTheData(t *testing.T) {
	ctx := context.Background()
	fromEnv, fromFlag := t.TempDir(), t.TempDir()
	t.Setenv("BERTH_DATA", fromEnv)

	var out bytes.Buffer
	if err := run(ctx, []string{"gc", "--dry-run"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "would collect: 0 expired uploads") {
		t.Errorf("gc --dry-run printed %q", out.String())
	}
	if _, err := os.Stat(filepath.Join(fromEnv, "metadata.db")); err != nil {
		t.Errorf("gc did not open the store named by BERTH_DATA: %v", err)
	}

	out.Reset()
	if err := run(ctx, []string{"gc", "--data", fromFlag}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "collected: ") {
		t.Errorf("gc printed %q", out.String())
	}

	out.Reset()
	if err := run(ctx, []string{"recount-usage", "--data", fromFlag}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "recounted 0 namespaces: 0 bytes") {
		t.Errorf("recount-usage printed %q", out.String())
	}

	dest := filepath.Join(t.TempDir(), "backup")
	out.Reset()
	if err := run(ctx, []string{"backup", "--data", fromFlag, dest}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if want := "backed up " + fromFlag + " to " + dest; !strings.HasPrefix(out.String(), want) {
		t.Errorf("backup printed %q, want it to start %q", out.String(), want)
	}
	if _, err := os.Stat(filepath.Join(dest, "metadata.db")); err != nil {
		t.Errorf("no metadata snapshot: %v", err)
	}

	t.Setenv("BERTH_METADATA", "postgres://nobody@127.0.0.1:1/none")
	err := run(ctx, []string{"backup", dest}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "pg_dump") {
		t.Errorf("backup of a PostgreSQL registry: err = %v, want the pointer to pg_dump", err)
	}
	if err := run(ctx, []string{"backup"}, io.Discard, io.Discard); err == nil {
		t.Error("backup without DEST succeeded")
	}
}
