package server

import (
	"context"
	"reflect"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata"
)

// TestTagHistoryNamesTheUserAndReplica checks that the user a request authenticated as,
// and the replica that served it, are what the history records for its tag moves.
func TestTagHistoryNamesTheUserAndReplica(t *testing.T) {
	hs, srv := startWithAuthConfig(t, func(c *config.Config) { c.Replica = "replica-a" })
	ctx := context.Background()
	alice := userClient("alice")
	repo := client.Repository{Host: host(hs), Name: "team/app"}
	if _, err := pushImageAs(alice, repo); err != nil {
		t.Fatal(err)
	}
	first, err := srv.meta.ResolveTag(ctx, "team/app", "v1")
	must(t, err)
	// The same image with an annotation: another manifest, tagged v1 too.
	_, m, err := alice.ManifestGet(ctx, repo, "v1")
	must(t, err)
	moved := append(m[:len(m)-1:len(m)-1], []byte(`,"annotations":{"x":"y"}}`)...)
	second, err := alice.ManifestPut(ctx, repo, "v1", "application/vnd.oci.image.manifest.v1+json", moved)
	must(t, err)
	must(t, alice.ManifestDelete(ctx, repo, "v1"))

	hist, err := srv.meta.TagHistory(ctx, "team/app", "v1", 0, 10)
	must(t, err)
	type move struct{ Old, New digest.Digest }
	var got []move
	for _, c := range hist {
		if want := (metadata.Actor{Name: "alice", Replica: "replica-a"}); c.Actor != want {
			t.Errorf("change %d made by %+v, want %+v", c.ID, c.Actor, want)
		}
		got = append(got, move{c.Old, c.New})
	}
	want := []move{{digest.Digest(second), ""}, {first, digest.Digest(second)}, {"", first}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("history = %v, want %v", got, want)
	}
}
