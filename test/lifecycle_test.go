package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-registry/berth/internal/testenv"
)

// lifecycleConfig writes a configuration that makes the v* tags of e2e/** immutable.
func lifecycleConfig(t *testing.T, extra string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "berth.yaml")
	body := "lifecycle:\n  immutable:\n    - {name: releases, repositories: [\"e2e/**\", \"scaled/**\"], tags: [\"v*\"]}\n" + extra
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// ociLayout writes img as the only image of an OCI layout for skopeo.
func ociLayout(t *testing.T, img v1.Image) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSkopeoAndCraneSeeUntagAndImmutableRefusals drives the lifecycle with real clients:
// skopeo pushes, crane's delete (go-containerregistry's remote.Delete, which sends the
// tag) untags and the image stays pullable by digest, an immutable tag refuses skopeo's
// overwrite and skopeo's delete (which deletes by digest), and `berth history` shows it.
func TestSkopeoAndCraneSeeUntagAndImmutableRefusals(t *testing.T) {
	needTool(t, "skopeo")
	b := startBerth(t, t.TempDir(), "--config", lifecycleConfig(t, ""))
	first, second := ociImage(t, 1), ociImage(t, 1)
	firstDigest, _ := first.Digest()
	src, other := ociLayout(t, first), ociLayout(t, second)
	base := "docker://" + b.Addr + "/e2e/life"
	skopeo(t, "copy", "--dest-tls-verify=false", "oci:"+src, base+":v1.0")
	skopeo(t, "copy", "--dest-tls-verify=false", "oci:"+src, base+":latest")

	// Untag latest the way `crane delete HOST/e2e/life:latest` does.
	if err := remote.Delete(ref(t, b, "e2e/life:latest")); err != nil {
		t.Fatalf("untag: %v", err)
	}
	if out, err := exec.Command("skopeo", "inspect", "--tls-verify=false", base+":latest").CombinedOutput(); err == nil || !strings.Contains(string(out), "manifest unknown") {
		t.Fatalf("skopeo inspect of the untagged tag: %v\n%s", err, out)
	}
	var inspect struct{ Digest string }
	if err := json.Unmarshal([]byte(skopeo(t, "inspect", "--tls-verify=false", base+"@"+firstDigest.String())), &inspect); err != nil || inspect.Digest != firstDigest.String() {
		t.Fatalf("inspect by digest after the untag: %q, %v", inspect.Digest, err)
	}

	// The immutable tag: re-pushing the same image is fine, another is refused.
	skopeo(t, "copy", "--dest-tls-verify=false", "oci:"+src, base+":v1.0")
	out, err := exec.Command("skopeo", "copy", "--dest-tls-verify=false", "oci:"+other, base+":v1.0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "denied: tag v1.0 of e2e/life is immutable (rule releases)") {
		t.Fatalf("skopeo overwrite of an immutable tag: %v\n%s", err, out)
	}
	out, err = exec.Command("skopeo", "delete", "--tls-verify=false", base+":v1.0").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "(409 Conflict)") || !strings.Contains(string(out), "DENIED") {
		t.Fatalf("skopeo delete of an immutable tag: %v\n%s", err, out)
	}
	if err := json.Unmarshal([]byte(skopeo(t, "inspect", "--tls-verify=false", base+":v1.0")), &inspect); err != nil || inspect.Digest != firstDigest.String() {
		t.Fatalf("v1.0 after the refusals: %q, %v", inspect.Digest, err)
	}

	hist, err := exec.Command(berthBin, "history", "--plain-http", b.Addr+"/e2e/life:latest").CombinedOutput()
	if err != nil || !strings.Contains(string(hist), "removed (was "+firstDigest.String()[:19]+")") {
		t.Fatalf("berth history: %v\n%s", err, hist)
	}
}

// TestTwoReplicasRaceToSetOneImmutableTag pushes a different image to one immutable tag
// through two replicas on one PostgreSQL and one bucket at once: exactly one push wins,
// every other is 409, and the tag's history has the one creation.
func TestTwoReplicasRaceToSetOneImmutableTag(t *testing.T) {
	dsn, bucket := testenv.PostgresURL(t), testenv.S3URL(t)
	args := []string{"--metadata", dsn, "--blobs", bucket, "--config", lifecycleConfig(t, "")}
	a, b := startBerth(t, t.TempDir(), args...), startBerth(t, t.TempDir(), args...)
	// The blobs first, then all manifests at once, half on each replica.
	const n = 8
	manifests := make([][]byte, n)
	for i := range manifests {
		manifests[i] = []byte(pushFlatpakLikeManifest(t, a.Addr, "scaled/immutable", fmt.Sprint(i)))
	}
	codes := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, m := range manifests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			target := []*berth{a, b}[i%2]
			req, _ := http.NewRequest(http.MethodPut, target.URL+"/v2/scaled/immutable/manifests/v1", strings.NewReader(string(m)))
			req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			<-start
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			codes[i] = resp.StatusCode
		}()
	}
	close(start)
	wg.Wait()
	won, refused := 0, 0
	for _, c := range codes {
		switch c {
		case http.StatusCreated:
			won++
		case http.StatusConflict:
			refused++
		}
	}
	if won != 1 || refused != n-1 {
		t.Fatalf("statuses %v: want one 201 and %d 409", codes, n-1)
	}
	resp := mustDo(t, http.MethodGet, b.URL+"/berth/v1/repositories/scaled/immutable/tags/v1/history", nil, nil, http.StatusOK)
	var h struct{ History []struct{ Old, New string } }
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || len(h.History) != 1 || h.History[0].Old != "" {
		t.Fatalf("history %+v, %v: want the one creation", h, err)
	}
}

// TestTwoReplicasTakeTurnsAtRetention runs retention every 100ms on two replicas of one
// PostgreSQL database: the old tags go, once, as the actor "retention", and neither
// replica reports a failed pass.
func TestTwoReplicasTakeTurnsAtRetention(t *testing.T) {
	dsn, bucket := testenv.PostgresURL(t), testenv.S3URL(t)
	cfg := lifecycleConfig(t, `  retention:
    enabled: true
    interval: 100ms
    policies:
      - {repositories: ["scaled/retained"], keep_newest: 1, untagged_grace: 1h}
`)
	args := []string{"--metadata", dsn, "--blobs", bucket, "--config", cfg}
	a, b := startBerth(t, t.TempDir(), args...), startBerth(t, t.TempDir(), args...)
	for i := range 4 {
		pushFlatpakLikeTag(t, []*berth{a, b}[i%2].Addr, "scaled/retained", fmt.Sprint(i), fmt.Sprint("build-", i))
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp := mustDo(t, http.MethodGet, a.URL+"/v2/scaled/retained/tags/list", nil, nil, http.StatusOK)
		var tags struct{ Tags []string }
		if err := json.NewDecoder(resp.Body).Decode(&tags); err != nil {
			t.Fatal(err)
		}
		if strings.Join(tags.Tags, ",") == "build-3" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tags still %v after 20s of retention", tags.Tags)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i := range 3 {
		resp := mustDo(t, http.MethodGet, b.URL+fmt.Sprintf("/berth/v1/repositories/scaled/retained/tags/build-%d/history", i), nil, nil, http.StatusOK)
		var h struct{ History []struct{ New, Actor string } }
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil || len(h.History) != 2 || h.History[0].New != "" || h.History[0].Actor != "retention" {
			t.Fatalf("history of build-%d: %+v, %v", i, h, err)
		}
	}
	for _, r := range []*berth{a, b} {
		resp := mustDo(t, http.MethodGet, r.URL+"/metrics", nil, nil, http.StatusOK)
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(line, "berth_retention_errors_total ") && line != "berth_retention_errors_total 0" {
				t.Errorf("%s: %s", r.Addr, line)
			}
		}
	}
}
