package server

import (
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestNotifySystemdSendsState reads what Berth tells systemd (Type=notify) on a socket
// made here, as systemd would pass it in NOTIFY_SOCKET.
func TestNotifySystemdSendsState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", path)
	notifySystemd(slog.New(slog.DiscardHandler), "READY=1")
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Fatalf("systemd got %q, %v", buf[:n], err)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	notifySystemd(slog.New(slog.DiscardHandler), "READY=1") // no socket: nothing to do, no panic
}
