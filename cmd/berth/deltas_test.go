package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

// TestFlatpakDeltasListsJobsAndDeltas lists, from the data directory, a queued job and
// a published delta, as text and as JSON, and only those of the repository asked for.
func TestFlatpakDeltasListsJobsAndDeltas(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := sqlite.Open(ctx, filepath.Join(dir, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.SetDeltaPolicy(metadata.DeltaPolicy{Enabled: true, Window: time.Hour})
	image := func(repo, name string) *metadata.Manifest {
		m := &metadata.Manifest{Digest: digest.FromString(name), MediaType: "application/vnd.oci.image.manifest.v1+json",
			Payload: []byte(name), CreatedAt: time.Now(), Labels: map[string]string{metadata.FlatpakRefLabel: "app/org.example.App/x86_64/stable"}}
		if err := s.PutManifest(ctx, repo, m, []string{"latest"}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	v1, v2 := image("apps/one", "v1"), image("apps/one", "v2")
	image("apps/two", "w1")
	blob := digest.FromString("delta")
	if err := s.RecordDeltas(ctx, "apps/one", v2.Digest, []metadata.LayerDelta{{Source: v1.Digest, From: digest.FromString("from"),
		To: digest.FromString("to"), Blob: blob, Size: 1234, LayerSize: 99999, MakeTime: time.Second}}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()

	var out bytes.Buffer
	if err := run(ctx, []string{"flatpak", "deltas", "--data", dir, "--repository", "apps/one"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"apps/one", "latest", "queued", "published " + blob.String()[:19], "1234", "99999", "1s"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "apps/two") {
		t.Errorf("--repository apps/one lists apps/two:\n%s", text)
	}

	out.Reset()
	if err := run(ctx, []string{"flatpak", "deltas", "--data", dir, "--json"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Jobs   []metadata.DeltaJob
		Deltas []metadata.LayerDelta
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Jobs) != 2 || len(got.Deltas) != 1 || got.Deltas[0].Blob != blob {
		t.Fatalf("JSON: %+v", got)
	}
}
