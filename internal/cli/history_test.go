package cli

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/server"
)

// TestHistoryListsEveryMoveAcrossPages: three pushes and an untag, paged two at a time
// by the registry, newest first.
func TestHistoryListsEveryMoveAcrossPages(t *testing.T) {
	cfg := config.Default()
	cfg.Data = t.TempDir()
	cfg.Registry.MaxPageSize = 2
	srv, err := server.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	must(t, err)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	host := strings.TrimPrefix(hs.URL, "http://")

	file := filepath.Join(t.TempDir(), "notes.txt")
	var digests []string
	for _, text := range []string{"one", "two", "three"} {
		must(t, os.WriteFile(file, []byte(text), 0o644))
		var pushed struct{ Digest string }
		must(t, json.Unmarshal([]byte(mustBerth(t, "push", "--json", host+"/art/notes:v1", file)), &pushed))
		digests = append(digests, pushed.Digest)
	}
	c := client.New(client.WithPlainHTTP(true))
	must(t, c.ManifestDelete(context.Background(), client.Repository{Host: host, Name: "art/notes"}, "v1"))

	out := mustBerth(t, "history", host+"/art/notes:v1")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	short := func(d string) string { return d[:len("sha256:")+12] }
	want := []string{
		"removed (was " + short(digests[2]) + ")",
		"moved " + short(digests[1]) + " → " + short(digests[2]),
		"moved " + short(digests[0]) + " → " + short(digests[1]),
		"set to " + short(digests[0]),
	}
	if len(lines) != len(want)+1 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("history printed:\n%s", out)
	}
	for i, w := range want {
		if !strings.Contains(lines[i+1], w) || !strings.Contains(lines[i+1], "(anonymous)") {
			t.Errorf("line %d = %q, want it to say %q by (anonymous)", i+1, lines[i+1], w)
		}
	}
	var changes []client.TagChange
	must(t, json.Unmarshal([]byte(mustBerth(t, "history", "--json", "--limit", "1", host+"/art/notes:v1")), &changes))
	if len(changes) != 1 || changes[0].New != "" || changes[0].Old != digests[2] {
		t.Fatalf("--json --limit 1: %+v", changes)
	}
	if _, err := berth(t, "history", host+"/art/none:v1"); err == nil || !strings.Contains(err.Error(), "404") && !strings.Contains(err.Error(), "NAME_UNKNOWN") {
		t.Errorf("history of an unknown repository: %v", err)
	}
	if _, err := berth(t, "history", host+"/art/notes@"+digests[0]); err == nil {
		t.Error("history of a digest succeeded")
	}
}
