package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

// TestRetentionDryRunPrintsEachDeletionThenThePassMakesThem: the operator's view of a
// policy, on a data directory, before and after.
func TestRetentionDryRunPrintsEachDeletionThenThePassMakesThem(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	meta, err := sqlite.Open(ctx, filepath.Join(data, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	layer := digest.FromString("layer")
	if err := meta.LinkBlob(ctx, "ci/app", metadata.Blob{Digest: layer, Size: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		payload := []byte(fmt.Sprintf(`{"build":%d}`, i))
		m := &metadata.Manifest{Digest: digest.FromBytes(payload), MediaType: "application/vnd.oci.image.manifest.v1+json",
			Payload: payload, CreatedAt: time.Now(), Blobs: []digest.Digest{layer}}
		if err := meta.PutManifest(ctx, "ci/app", m, []string{fmt.Sprint("pr-", i), fmt.Sprint("v", i)}); err != nil {
			t.Fatal(err)
		}
	}
	meta.Close()
	config := filepath.Join(t.TempDir(), "berth.yaml")
	if err := os.WriteFile(config, []byte(`lifecycle:
  immutable:
    - {name: releases, repositories: ["ci/**"], tags: ["v0"]}
  retention:
    policies:
      - {name: prs, repositories: ["ci/**"], tags: ["pr-*", "v*"], keep_newest: 2}
`), 0o600); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := run(ctx, []string{"retention", "--dry-run", "--config", config, "--data", data}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var deletes []string
	for _, l := range lines {
		if strings.HasPrefix(l, "delete ") {
			deletes = append(deletes, strings.Fields(l)[1])
			if !strings.Contains(l, "policy prs: not among the newest 2") {
				t.Errorf("deletion without its reason: %q", l)
			}
		}
	}
	// Ten tags: v0 is immutable, pr-4 and v4 the newest two; the rest go.
	if want := "ci/app:pr-0 ci/app:pr-1 ci/app:pr-2 ci/app:pr-3 ci/app:v1 ci/app:v2 ci/app:v3"; strings.Join(deletes, " ") != want {
		t.Fatalf("dry run deletes %v, want %s\n%s", deletes, want, out.String())
	}
	for _, want := range []string{"would delete 7 tags and 0 untagged manifests of 1 repository (10 tags judged)", "kept 2: policy prs: among the newest 2", "kept 1: immutable by rule releases"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out.String())
		}
	}

	out.Reset()
	if err := run(ctx, []string{"retention", "--config", config, "--data", data}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "deleted 7 tags and 0 untagged manifests of 1 repository") {
		t.Errorf("retention printed %q", out.String())
	}
	meta, err = sqlite.Open(ctx, filepath.Join(data, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer meta.Close()
	tags, err := meta.ListTags(ctx, "ci/app", "", 100)
	if err != nil || strings.Join(tags, " ") != "pr-4 v0 v4" {
		t.Fatalf("tags after the pass: %v, %v", tags, err)
	}

	if err := run(ctx, []string{"retention", "--data", data}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "no retention policies") {
		t.Errorf("retention without policies: %v", err)
	}
}
