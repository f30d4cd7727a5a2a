package e2e_test

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// appFiles copies real program files (shared libraries of this system, about limit
// bytes of them) into a Flatpak build's files/lib, so that deltas are measured on what
// apps hold rather than on made-up bytes.
func appFiles(t testing.TB, dst string, limit int64) {
	t.Helper()
	src := "/usr/lib/x86_64-linux-gnu"
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil || info.Size() > 4<<20 || info.Size() < 4096 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			continue // unreadable here: not needed
		}
		if err := os.MkdirAll(filepath.Join(dst, "files", "lib"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, "files", "lib", e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		if total += info.Size(); total >= limit {
			return
		}
	}
	if total < limit/2 {
		t.Fatalf("only %d bytes of libraries in %s", total, src)
	}
}

// bigApp builds org.berth.Big from the tree in dir and bundles it as an OCI layout.
func (b *flatpakBuild) bigApp(dir, version string) string {
	b.t.Helper()
	return b.bundle(dir, "org.berth.Big", "big", version)
}

// copyTree copies the directory src to dst.
func copyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		info, _ := d.Info()
		return os.WriteFile(target, b, info.Mode().Perm())
	})
	if err != nil {
		t.Fatal(err)
	}
}

// changeFiles edits about pct percent of the libraries as a rebuild changes a binary,
// and renames one. It returns the names changed. A changed file gets 1 KiB inserted at a
// random place (moving what follows), a random run of 2% of its bytes rewritten, and one
// byte in every 4 KiB changed (addresses that moved).
func changeFiles(t testing.TB, dir string, pct int, r *rand.Rand) []string {
	t.Helper()
	lib := filepath.Join(dir, "files", "lib")
	entries, err := os.ReadDir(lib)
	if err != nil {
		t.Fatal(err)
	}
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return b
	}
	var changed []string
	for i, e := range entries {
		p := filepath.Join(lib, e.Name())
		if i == 0 {
			if err := os.Rename(p, filepath.Join(dir, "files", "renamed-"+e.Name())); err != nil {
				t.Fatal(err)
			}
			changed = append(changed, e.Name())
			continue
		}
		if r.IntN(100) >= pct {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		at := r.IntN(len(b))
		b = append(b[:at:at], append(random(1024), b[at:]...)...)
		run := len(b) / 50
		copy(b[r.IntN(len(b)-run):], random(run))
		for k := r.IntN(4096); k < len(b); k += 4096 {
			b[k] ^= byte(1 + r.IntN(255))
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		changed = append(changed, e.Name())
	}
	return changed
}

// layoutImage reads the image manifest of a one-image OCI layout: its digest and its
// one layer's digest.
func layoutImage(t testing.TB, layout string) (manifest, layer string) {
	t.Helper()
	var idx struct{ Manifests []struct{ Digest string } }
	readJSON(t, filepath.Join(layout, "index.json"), &idx)
	manifest = idx.Manifests[0].Digest
	var m struct{ Layers []struct{ Digest string } }
	readJSON(t, filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(manifest, "sha256:")), &m)
	if len(m.Layers) != 1 {
		t.Fatalf("%s has %d layers", layout, len(m.Layers))
	}
	return manifest, m.Layers[0].Digest
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func getJSON(url string, v any) (int, error) {
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, json.NewDecoder(resp.Body).Decode(v)
}

// waitForJob waits until Berth's log says the delta job for target ended, and returns
// the delta manifest _deltaindex lists for it and that manifest's delta blobs (none when
// no delta was worth publishing).
func waitForJob(t testing.TB, b *berth, repo, target string) (string, []string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !jobEnded(b.log.String(), target) {
		if time.Now().After(deadline) {
			t.Fatalf("no delta job for %s ended within 90s", target)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var idx struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if code, err := getJSON(b.URL+"/v2/"+repo+"/manifests/_deltaindex", &idx); err != nil || (code != 200 && code != 404) {
		t.Fatalf("_deltaindex: %d %v", code, err)
	}
	for _, m := range idx.Manifests {
		if m.Annotations["io.github.containers.delta.target"] != target {
			continue
		}
		var dm struct{ Layers []struct{ Digest string } }
		if code, err := getJSON(b.URL+"/v2/"+repo+"/manifests/"+m.Digest, &dm); code != 200 || err != nil {
			t.Fatalf("delta manifest %s: %d %v", m.Digest, code, err)
		}
		var blobs []string
		for _, l := range dm.Layers {
			blobs = append(blobs, l.Digest)
		}
		return m.Digest, blobs
	}
	return "", nil
}

// jobEnded finds the log line of a delta job for target that ended, made or failed.
func jobEnded(log, target string) bool {
	for _, line := range strings.Split(log, "\n") {
		var e struct{ Msg, Target string }
		if json.Unmarshal([]byte(line), &e) == nil && e.Target == target && (e.Msg == "deltas made" || e.Msg == "delta job failed") {
			return true
		}
	}
	return false
}

type request struct {
	Method, Path string
	Status       int
	Bytes        int64
}

func requests(log string) []request {
	var out []request
	for _, line := range strings.Split(log, "\n") {
		var e struct {
			Msg, Method, Path string
			Status            int
			Bytes             int64 `json:"bytes_out"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "request" {
			out = append(out, request{e.Method, e.Path, e.Status, e.Bytes})
		}
	}
	return out
}

// sameTree fails unless the installed tree holds exactly the build's files/.
func sameTree(t testing.TB, installed, build string) {
	t.Helper()
	list := func(root string) map[string][]byte {
		out := map[string][]byte{}
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				rel, _ := filepath.Rel(root, p)
				b, _ := os.ReadFile(p)
				out[rel] = b
			}
			return nil
		})
		return out
	}
	got, want := list(installed), list(build)
	var names []string
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if !bytes.Equal(got[n], want[n]) {
			t.Fatalf("installed %s differs from the build (%d bytes, want %d)", n, len(got[n]), len(want[n]))
		}
	}
	for n := range got {
		// flatpak adds .ref to a deployment's files.
		if _, ok := want[n]; !ok && n != ".ref" {
			t.Fatalf("installed %s is not in the build", n)
		}
	}
}

// TestFlatpakUpdateDownloadsTheDelta publishes an app of real libraries, installs it
// with Debian's flatpak, publishes a version with about 2% of its files changed and one
// renamed, and updates: the client must fetch the delta Berth made, not the new layer,
// and end with the new files. It does so twice: finding the delta through _deltaindex
// (Berth restarted without deltas, so the index names none), then through the DeltaUrl
// of the index answer. A last version with nothing in common gets no delta, and the
// update downloads its layer.
func TestFlatpakUpdateDownloadsTheDelta(t *testing.T) {
	needTool(t, "flatpak", "skopeo", "dbus-daemon")
	b := startBerth(t, t.TempDir(), "--flatpak-index", "--flatpak-deltas")
	build := newFlatpakBuild(t)
	skopeoPush(t, filepath.Join(build.dir, "platform-oci"), b.Addr+"/berth/platform:latest")
	r := rand.New(rand.NewPCG(14, 5))

	v1 := filepath.Join(build.dir, "big-v1")
	appFiles(t, v1, 24<<20)
	layout1 := build.bigApp(v1, "v1")
	skopeoPush(t, layout1, b.Addr+"/berth/big:latest")
	m1, _ := layoutImage(t, layout1)
	waitForJob(t, b, "berth/big", m1) // the first version: a job with nothing to do

	u := newFlatpakUser(t)
	u.run("--user", "remote-add", "--no-gpg-verify", "berth", "oci+"+b.URL)
	u.run("--user", "install", "-y", "--noninteractive", "berth", "org.berth.Big")
	active := filepath.Join(u.home, ".local/share/flatpak/app/org.berth.Big/current/active/files")

	// next publishes a version made from the last one by change, and waits for its job.
	last := v1
	next := func(b *berth, version string, change func(dir string)) (manifest, layer, deltaManifest string, deltaBlobs []string) {
		t.Helper()
		dir := filepath.Join(build.dir, "big-"+version)
		copyTree(t, filepath.Join(last, "files"), filepath.Join(dir, "files"))
		change(dir)
		layout := build.bigApp(dir, version)
		skopeoPush(t, layout, b.Addr+"/berth/big:latest")
		manifest, layer = layoutImage(t, layout)
		deltaManifest, deltaBlobs = waitForJob(t, b, "berth/big", manifest)
		last = dir
		return manifest, layer, deltaManifest, deltaBlobs
	}
	// updateThroughDelta updates and checks that the client fetched the delta manifest
	// (through _deltaindex when viaIndex) and one delta blob (the one from the installed
	// version, which is the only one it can apply), not the layer.
	updateThroughDelta := func(b *berth, layer, deltaManifest string, deltaBlobs []string, viaIndex bool) {
		t.Helper()
		if len(deltaBlobs) == 0 {
			t.Fatalf("no delta published\n%s", tail(b.log.String(), 3000))
		}
		mark := len(b.log.String())
		u.run("--user", "update", "-y", "--noninteractive")
		log := b.log.String()[mark:]
		t.Logf("requests of the update:\n%s", requestLines(log))
		var sawIndex, sawManifest bool
		var deltas int
		var deltaBytes int64
		for _, q := range requests(log) {
			switch {
			case q.Path == "/v2/berth/big/manifests/_deltaindex" && q.Status == 200:
				sawIndex = true
			case q.Path == "/v2/berth/big/manifests/"+deltaManifest && q.Status == 200:
				sawManifest = true
			case strings.HasPrefix(q.Path, "/v2/berth/big/blobs/") && slices.Contains(deltaBlobs, strings.TrimPrefix(q.Path, "/v2/berth/big/blobs/")) && q.Status == 200:
				deltas++
				deltaBytes = q.Bytes
			case q.Path == "/v2/berth/big/blobs/"+layer:
				t.Errorf("the client fetched the layer %s although a delta exists", layer)
			}
		}
		if !sawManifest || deltas != 1 || sawIndex != viaIndex {
			t.Fatalf("the client did not use the delta as expected: _deltaindex %v (want %v), delta manifest %v, %d delta blobs of %v",
				sawIndex, viaIndex, sawManifest, deltas, deltaBlobs)
		}
		sameTree(t, active, filepath.Join(last, "files"))
		t.Logf("the layer is %d bytes, the delta downloaded %d bytes", blobBytes(t, b, layer), deltaBytes)
	}
	edit := func(dir string) { t.Logf("%d files changed, one renamed", len(changeFiles(t, dir, 2, r))) }

	_, layer2, dm2, blobs2 := next(b, "v2", edit)
	// Without deltas on, the index names no delta manifest: the client asks _deltaindex.
	b = restartBerth(t, b, "--flatpak-index")
	updateThroughDelta(b, layer2, dm2, blobs2, true)

	b = restartBerth(t, b, "--flatpak-index", "--flatpak-deltas")
	_, layer3, dm3, blobs3 := next(b, "v3", edit)
	updateThroughDelta(b, layer3, dm3, blobs3, false)

	// v4 shares nothing with v3 (every library replaced by random bytes): no delta is
	// worth publishing, and the update downloads the layer.
	_, layer4, _, blobs4 := next(b, "v4", func(dir string) {
		libs, _ := filepath.Glob(filepath.Join(dir, "files", "lib", "*"))
		for _, p := range libs {
			info, _ := os.Stat(p)
			junk := make([]byte, info.Size()/4)
			for i := range junk {
				junk[i] = byte(r.UintN(256))
			}
			if err := os.WriteFile(p, junk, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	})
	if len(blobs4) != 0 {
		t.Fatalf("deltas published to an unrelated version: %v", blobs4)
	}
	mark := len(b.log.String())
	u.run("--user", "update", "-y", "--noninteractive")
	if !slices.ContainsFunc(requests(b.log.String()[mark:]), func(q request) bool {
		return q.Path == "/v2/berth/big/blobs/"+layer4 && q.Status == 200
	}) {
		t.Fatalf("the update without a delta did not fetch the layer:\n%s", requestLines(b.log.String()[mark:]))
	}
	sameTree(t, active, filepath.Join(last, "files"))
}

// restartBerth stops b and starts berth serve again on its address and data directory
// with args, as an operator changing its flags would.
func restartBerth(t testing.TB, b *berth, args ...string) *berth {
	t.Helper()
	b.Stop(t)
	cmd := exec.Command(berthBin, append([]string{"serve", "--addr", b.Addr, "--data", b.Data}, args...)...)
	return startServer(t, "berth", b.URL, b.Data, cmd, "/readyz", http.DefaultClient)
}

// blobBytes is the size of a blob as Berth serves it.
func blobBytes(t testing.TB, b *berth, d string) int64 {
	t.Helper()
	resp, err := http.Head(b.URL + "/v2/berth/big/blobs/" + d)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.ContentLength
}

// blobSize is the size of a blob of an OCI layout.
func blobSize(t testing.TB, layout, d string) int64 {
	t.Helper()
	info, err := os.Stat(filepath.Join(layout, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}
