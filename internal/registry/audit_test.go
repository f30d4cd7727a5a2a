package registry_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/registry"
)

// TestChangesAreAuditedWithWhatMoved: every push, tag move, untag and delete is one
// event of the request's actor, after the store call succeeded, and a tag's event names
// the digest it left; a push that changes nothing moves no tag, and a refused one
// emits nothing.
func TestChangesAreAuditedWithWhatMoved(t *testing.T) {
	var buf bytes.Buffer
	e := audit.New(audit.Options{Log: slog.New(slog.NewJSONHandler(&buf, nil))})
	svc, _ := newService(t, registry.Options{DeleteEnabled: true, Audit: e})
	actx := metadata.WithReplica(metadata.WithActor(ctx, "alice"), "r1")
	cfg := push(t, svc, "app", []byte(`{}`))
	manifest := func(n int) (string, digest.Digest) {
		m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[],"annotations":{"n":"%d"}}`, cfg, n)
		return m, digest.FromString(m)
	}
	put := func(m, tag string, extra ...string) {
		t.Helper()
		_, err := svc.PutManifest(actx, "app", registry.Reference{Tag: tag}, "application/vnd.oci.image.manifest.v1+json", strings.NewReader(m), extra)
		must(t, err)
	}
	m1, d1 := manifest(1)
	m2, d2 := manifest(2)
	put(m1, "v1", "latest")
	put(m1, "v1") // nothing moves
	put(m2, "latest")
	must(t, svc.DeleteManifest(actx, "app", registry.Reference{Tag: "latest"}))
	must(t, svc.DeleteManifest(actx, "app", registry.Reference{Digest: d1}))
	must(t, svc.DeleteBlob(actx, "app", cfg))
	if _, err := svc.PutManifest(actx, "app", registry.Reference{Tag: "x"}, "application/vnd.oci.image.manifest.v1+json", strings.NewReader(m1), nil); err == nil {
		t.Fatal("a manifest whose config is gone was accepted")
	}

	type ev struct{ Type, Subject, Tag, Digest, Old string }
	var got []ev
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var l struct {
			Type, Actor, Replica, Subject string
			Data                          audit.Data
		}
		must(t, json.Unmarshal([]byte(line), &l))
		if l.Actor != "alice" || l.Replica != "r1" {
			t.Fatalf("event without the request's actor: %s", line)
		}
		got = append(got, ev{l.Type, l.Subject, l.Data.Tag, l.Data.Digest, l.Data.Old})
	}
	s1, s2 := string(d1), string(d2)
	want := []ev{
		{audit.ManifestPushed, "app@" + s1, "", s1, ""},
		{audit.TagMoved, "app:v1", "v1", s1, ""},
		{audit.TagMoved, "app:latest", "latest", s1, ""},
		{audit.ManifestPushed, "app@" + s1, "", s1, ""},
		{audit.ManifestPushed, "app@" + s2, "", s2, ""},
		{audit.TagMoved, "app:latest", "latest", s2, s1},
		{audit.TagDeleted, "app:latest", "latest", "", s2},
		{audit.ManifestDeleted, "app@" + s1, "", s1, ""},
		{audit.TagDeleted, "app:v1", "v1", "", s1},
		{audit.BlobDeleted, "app@" + cfg.String(), "", cfg.String(), ""},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events\n%v\nwant\n%v", got, want)
	}
}
