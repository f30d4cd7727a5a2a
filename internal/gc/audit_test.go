package gc

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/audit"
)

// TestDeletionsAreAudited: every manifest, link and blob a pass deletes is one audit
// event of the actor gc, naming what went.
func TestDeletionsAreAudited(t *testing.T) {
	e := newEnv(t)
	e.pushImage("app", "v1", "kept")
	untagged := e.pushImage("app", "", "untagged")
	var buf bytes.Buffer
	em := audit.New(audit.Options{Log: slog.New(slog.NewJSONHandler(&buf, nil)), Replica: "r"})
	c := New(e.meta, e.blobs, slog.New(slog.DiscardHandler), Options{BlobGracePeriod: time.Hour, UntaggedManifests: true, UploadExpiry: 24 * time.Hour, Audit: em})
	c.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	e.pass(c, Report{Manifests: 1, Links: 2, Blobs: 2, BlobBytes: untagged.size})

	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var ev struct {
			Type, Actor, Subject string
			Data                 audit.Data
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Type != audit.GCDeleted || ev.Actor != "gc" {
			t.Fatalf("event %s", line)
		}
		got = append(got, ev.Data.Kind+" "+ev.Subject)
	}
	want := []string{"manifest app@" + untagged.manifest.String()}
	for _, b := range untagged.blobs {
		want = append(want, "link app@"+b.String(), "blob "+b.String())
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audited\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
