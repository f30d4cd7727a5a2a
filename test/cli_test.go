package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/testenv"
)

// runCLI runs a client subcommand of the berth binary against plain-HTTP registries,
// with an empty docker config.
func runCLI(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(berthBin, append(args, "--plain-http")...)
	cmd.Env = append(cmd.Environ(), "DOCKER_CONFIG="+t.TempDir())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("berth %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// pushTags stores one small artifact in repo and points n tags at it, 16 at a time; it
// returns the tags sorted. With n = 0 the repository holds a tag that was then deleted
// with its manifest: Distribution answers NAME_UNKNOWN for a repository that never had
// a tag, and that would be an error, not an empty list.
func pushTags(t *testing.T, host, repo string, n int) []string {
	t.Helper()
	ctx := context.Background()
	c := client.New(client.WithPlainHTTP(true))
	r := client.Repository{Host: host, Name: repo}
	config := "{}"
	cd := digest.FromString(config)
	if err := c.BlobPut(ctx, r, cd.String(), 2, strings.NewReader(config)); err != nil {
		t.Fatal(err)
	}
	body := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[]}`, cd))
	const mt = "application/vnd.oci.image.manifest.v1+json"
	if n == 0 {
		d, err := c.ManifestPut(ctx, r, "gone", mt, body)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ManifestDelete(ctx, r, d); err != nil {
			t.Fatal(err)
		}
		return []string{}
	}
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("v%d", i) // numeric names, so byte order differs from push order
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				if _, err := c.ManifestPut(ctx, r, tags[i], mt, body); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	slices.Sort(tags)
	return tags
}

// TestTagsListsEveryTagOfRealRegistries runs `berth tags` against a real Berth (which
// paginates with Link headers) and Debian's docker-registry 2.8.
func TestTagsListsEveryTagOfRealRegistries(t *testing.T) {
	registries := map[string]func(*testing.T) *berth{
		"berth":        func(t *testing.T) *berth { return startBerth(t, t.TempDir()) },
		"distribution": startDistribution,
	}
	for kind, start := range registries {
		t.Run(kind, func(t *testing.T) {
			reg := start(t)
			for _, n := range []int{0, 1, 99, 100, 101, 250, 10000} {
				repo := fmt.Sprintf("tags/n%d", n)
				want := pushTags(t, reg.Addr, repo, n)
				got := strings.Fields(runCLI(t, "tags", "--page-size", "100", reg.Addr+"/"+repo))
				if got == nil {
					got = []string{}
				}
				if !slices.Equal(got, want) {
					t.Errorf("%d tags: berth tags printed %d (first %q), want %d", n, len(got), got[:min(len(got), 3)], len(want))
				}
			}
		})
	}
}

// TestCopyMultiPlatformBetweenBerthsAndDistribution copies an index with the berth
// binary from one Berth to another and into Distribution, then pulls every platform back
// with go-containerregistry, which verifies each blob against its digest.
func TestCopyMultiPlatformBetweenBerthsAndDistribution(t *testing.T) {
	a, b, dist := startBerth(t, t.TempDir()), startBerth(t, t.TempDir()), startDistribution(t)
	want := testenv.PushIndex(t, a.Addr+"/src/app:1.0", 64<<10)
	for _, dst := range []string{b.Addr + "/copied/app:1.0", dist.Addr + "/copied/app:1.0"} {
		var res struct{ Digest string }
		if err := json.Unmarshal([]byte(runCLI(t, "copy", "--json", a.Addr+"/src/app:1.0", dst)), &res); err != nil {
			t.Fatal(err)
		}
		if res.Digest != want {
			t.Fatalf("copy to %s reported %s, want %s", dst, res.Digest, want)
		}
		r, err := name.ParseReference(dst, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := remote.Index(r)
		if err != nil {
			t.Fatal(err)
		}
		if d, _ := idx.Digest(); d.String() != want {
			t.Errorf("%s serves %s, want %s", dst, d, want)
		}
		im, err := idx.IndexManifest()
		if err != nil || len(im.Manifests) != 2 {
			t.Fatalf("%s: %d platforms, %v", dst, len(im.Manifests), err)
		}
		for _, m := range im.Manifests {
			img, err := idx.Image(m.Digest)
			if err != nil {
				t.Fatal(err)
			}
			src, err := remote.Image(r.Context().Digest(m.Digest.String()))
			if err != nil {
				t.Fatal(err)
			}
			sameLayers(t, img, src)
		}
	}
}
