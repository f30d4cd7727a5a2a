package e2e_test

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFlatpakDeltaFigures measures Flatpak image deltas as docs/benchmarks.md
// reports them, with Debian's real flatpak client: for an app of real libraries (the
// end-to-end test's 24 MB, and 200 MB) and 1%, 10% and 50% of its files changed, the
// full compressed layer, the delta, the bytes the client downloaded for the update with
// the delta and without one, the time to make and to verify the delta, and the server's
// peak RSS while making it. Each case has a registry and two users of its own: both
// install v1, v2 is published, one updates through the delta, then the other once no
// delta is offered (deltas off, _deltaindex untagged). Not part of
// the test command (minutes, and hundreds of MB); run it with
//
//	go test -run='^$' -bench=FlatpakDeltaFigures -benchtime=1x -timeout=60m ./test/
func BenchmarkFlatpakDeltaFigures(b *testing.B) {
	needTool(b, "flatpak", "skopeo", "dbus-daemon")
	for _, app := range []struct {
		name string
		size int64
	}{{"24MB", 24 << 20}, {"200MB", 200 << 20}} {
		for _, pct := range []int{1, 10, 50} {
			// No % in the name: it would be in the D-Bus address of the user's bus,
			// where % escapes.
			b.Run(fmt.Sprintf("%s/%dpct", app.name, pct), func(b *testing.B) {
				for range b.N {
					deltaFigures(b, app.size, pct)
				}
			})
		}
	}
}

func deltaFigures(b *testing.B, size int64, pct int) {
	srv := startBerth(b, b.TempDir(), "--flatpak-index", "--flatpak-deltas")
	build := newFlatpakBuild(b)
	skopeoPush(b, filepath.Join(build.dir, "platform-oci"), srv.Addr+"/berth/platform:latest")
	v1 := filepath.Join(build.dir, "big-v1")
	appFiles(b, v1, size)
	layout1 := build.bigApp(v1, "v1")
	skopeoPush(b, layout1, srv.Addr+"/berth/big:latest")
	m1, _ := layoutImage(b, layout1)
	waitForJob(b, srv, "berth/big", m1)
	// u updates through the delta; full, with v1 installed too, updates once no delta
	// is offered, for the bytes an update costs without deltas.
	u, full := newFlatpakUser(b), newFlatpakUser(b)
	for _, user := range []*flatpakUser{u, full} {
		user.run("--user", "remote-add", "--no-gpg-verify", "berth", "oci+"+srv.URL)
		user.run("--user", "install", "-y", "--noninteractive", "berth", "org.berth.Big")
	}

	v2 := filepath.Join(build.dir, "big-v2")
	copyTree(b, filepath.Join(v1, "files"), filepath.Join(v2, "files"))
	changed := changeFiles(b, v2, pct, rand.New(rand.NewPCG(uint64(size), uint64(pct))))
	layout2 := build.bigApp(v2, "v2")
	m2, layer2 := layoutImage(b, layout2)

	// The peak from here on is the job's: the push streams and holds little.
	pid := srv.cmd.Process.Pid
	resetPeak(b, pid)
	stop := sampleRSS(pid)
	skopeoPush(b, layout2, srv.Addr+"/berth/big:latest")
	_, blobs := waitForJob(b, srv, "berth/big", m2)
	sampled := stop()
	peak := max(status(b, pid, "VmHWM"), sampled)

	rec := deltaRecord(b, srv, m2)
	jobDur, jobCPU := jobTimes(b, srv.log.String(), m2)
	mark := len(srv.log.String())
	u.run("--user", "update", "-y", "--noninteractive")
	var downloaded, deltaBlob int64
	for _, q := range requests(srv.log.String()[mark:]) {
		if q.Method == "GET" {
			downloaded += q.Bytes
		}
		if len(blobs) > 0 && q.Path == "/v2/berth/big/blobs/"+blobs[0] {
			deltaBlob = q.Bytes
		}
		if q.Path == "/v2/berth/big/blobs/"+layer2 {
			b.Logf("the client fetched the layer: no delta used")
		}
	}
	sameTree(b, filepath.Join(u.home, ".local/share/flatpak/app/org.berth.Big/current/active/files"), filepath.Join(v2, "files"))

	// Without deltas: Berth restarted with them off (the index names no DeltaUrl) and
	// _deltaindex untagged, so the client finds none and fetches the layer.
	srv = restartBerth(b, srv, "--flatpak-index")
	req, _ := http.NewRequest("DELETE", srv.URL+"/v2/berth/big/manifests/_deltaindex", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b.Fatalf("untag _deltaindex: %s", resp.Status)
	}
	mark = len(srv.log.String())
	full.run("--user", "update", "-y", "--noninteractive")
	var withoutDelta int64
	var sawLayer bool
	for _, q := range requests(srv.log.String()[mark:]) {
		if q.Method == "GET" {
			withoutDelta += q.Bytes
		}
		sawLayer = sawLayer || (q.Path == "/v2/berth/big/blobs/"+layer2 && q.Status == http.StatusOK)
	}
	if !sawLayer {
		b.Fatalf("the update without a delta did not fetch the layer:\n%s", requestLines(srv.log.String()[mark:]))
	}
	sameTree(b, filepath.Join(full.home, ".local/share/flatpak/app/org.berth.Big/current/active/files"), filepath.Join(v2, "files"))

	layer := blobSize(b, layout2, layer2)
	b.ReportMetric(float64(treeSize(b, filepath.Join(v2, "files")))/(1<<20), "files-MiB")
	b.ReportMetric(float64(layer), "layer-bytes")
	b.ReportMetric(float64(rec.Size), "delta-bytes")
	b.ReportMetric(float64(downloaded), "downloaded-bytes")
	b.ReportMetric(100*float64(downloaded)/float64(layer), "downloaded-%")
	b.ReportMetric(float64(withoutDelta), "no-delta-downloaded-bytes")
	b.ReportMetric(time.Duration(rec.MakeTime).Seconds(), "make-s")
	b.ReportMetric(time.Duration(rec.VerifyTime).Seconds(), "verify-s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-RSS-MiB")
	b.ReportMetric(jobCPU, "job-cpu-s")
	b.Logf("| %d MB | %d%% (%d files) | %d | %d | %d (%.2f%%; delta blob %d) | %d | %.2f s | %.2f s | %.2f s CPU (%.1f s) | %d MiB |",
		size>>20, pct, len(changed), layer, rec.Size, downloaded, 100*float64(downloaded)/float64(layer), deltaBlob, withoutDelta,
		time.Duration(rec.MakeTime).Seconds(), time.Duration(rec.VerifyTime).Seconds(), jobCPU, jobDur, peak>>20)
}

// jobTimes reads the duration and the CPU time (seconds) of the delta job to target from
// Berth's log.
func jobTimes(tb testing.TB, log, target string) (dur, cpu float64) {
	for _, line := range strings.Split(log, "\n") {
		var e struct {
			Msg, Target string
			Dur, CPU    float64
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Msg == "deltas made" && e.Target == target {
			return e.Dur, e.CPU
		}
	}
	tb.Fatalf("no log line of the job to %s", target)
	return 0, 0
}

// deltaRecord is the recorded delta to target, as `berth flatpak deltas --json` shows it.
func deltaRecord(tb testing.TB, srv *berth, target string) struct{ Size, LayerSize, MakeTime, VerifyTime int64 } {
	tb.Helper()
	out, err := exec.Command(berthBin, "flatpak", "deltas", "--json", "--data", srv.Data, "--repository", "berth/big").Output()
	if err != nil {
		tb.Fatalf("berth flatpak deltas: %v", err)
	}
	var list struct {
		Deltas []struct {
			Target                                string
			Size, LayerSize, MakeTime, VerifyTime int64
		}
	}
	if err := json.Unmarshal(out, &list); err != nil {
		tb.Fatal(err)
	}
	for _, d := range list.Deltas {
		if d.Target == target {
			return struct{ Size, LayerSize, MakeTime, VerifyTime int64 }{d.Size, d.LayerSize, d.MakeTime, d.VerifyTime}
		}
	}
	tb.Fatalf("no delta to %s in %s", target, out)
	return struct{ Size, LayerSize, MakeTime, VerifyTime int64 }{}
}

// resetPeak starts the process's peak RSS (VmHWM) again from its current RSS.
func resetPeak(tb testing.TB, pid int) {
	if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0); err != nil {
		tb.Logf("cannot reset the peak RSS (%v): the sampled peak is reported", err)
	}
}

// sampleRSS samples the process's RSS every 20 ms until the returned function is
// called, which returns the largest sample: a floor under the peak where clear_refs
// cannot be written.
func sampleRSS(pid int) func() int64 {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if v := readStatus(pid, "VmRSS"); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

func status(tb testing.TB, pid int, field string) int64 {
	v := readStatus(pid, field)
	if v == 0 {
		tb.Fatalf("no %s in /proc/%d/status", field, pid)
	}
	return v
}

// readStatus reads a field of /proc/PID/status, in bytes (0 when absent).
func readStatus(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// treeSize is the total size of the regular files under dir.
func treeSize(tb testing.TB, dir string) int64 {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
