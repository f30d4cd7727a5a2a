package bench

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	stdimage "image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// noGC keeps garbage collection from running while a seeded registry is measured.
var noGC = []string{"BERTH_GC_ENABLED=false"}

// appIcon draws an icon of a size, distinct per app: a gradient with a band of noise,
// about the size of real 64 and 128 pixel icons once compressed (3–4 KiB, 9–11 KiB).
func appIcon(b *testing.B, size, app int) []byte {
	img := stdimage.NewNRGBA(stdimage.Rect(0, 0, size, size))
	seed := uint32(app*2654435761 + size)
	for y := range size {
		for x := range size {
			c := color.NRGBA{uint8(x * 255 / size), uint8(y * 255 / size), uint8(app), 255}
			if y > size/3 && y < size/3+size/8 {
				seed = seed*1664525 + 1013904223
				c.B = uint8(seed >> 24)
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

// seedApps pushes n Flatpak apps, each an amd64 image tagged latest in a repository of
// its own, with the labels build-bundle writes: ref, metadata, AppStream data and icons.
// small keeps only the ref and the metadata, as bench/compare's Flatpak group pushes.
func seedApps(b *testing.B, base string, n int, small bool) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	parallel(b, n, func(i int) {
		if small {
			id := fmt.Sprintf("org.example.App%05d", i)
			image(b, c, base, fmt.Sprintf("flatpak/app%05d", i), "amd64", map[string]string{
				"org.flatpak.ref": "app/" + id + "/x86_64/stable", "org.flatpak.metadata": "[Application]\nname=" + id + "\n"}, "latest")
			return
		}
		id := fmt.Sprintf("org.example.App%05d", i)
		labels := map[string]string{
			"org.flatpak.ref":            "app/" + id + "/x86_64/stable",
			"org.flatpak.metadata":       "[Application]\nname=" + id + "\nruntime=org.example.Platform/x86_64/24\nsdk=org.example.Sdk/x86_64/24\ncommand=app\n\n[Context]\nshared=network;ipc;\nsockets=x11;wayland;pulseaudio;\n",
			"org.flatpak.commit":         fmt.Sprintf("%064x", i),
			"org.flatpak.download-size":  "1048576",
			"org.flatpak.installed-size": "4194304",
			"org.freedesktop.appstream.appdata": `<?xml version="1.0" encoding="UTF-8"?>
<components version="0.8" origin="flatpak"><component type="desktop-application"><id>` + id + `</id>
<name>Example App ` + strconv.Itoa(i) + `</name><summary>Does example things, number ` + strconv.Itoa(i) + `</summary>
<description><p>An example application for measuring the index and the gallery. It has a description of a
few sentences, as real ones do, and a list of features.</p><ul><li>Fast</li><li>Small</li><li>Measured</li></ul></description>
<project_license>GPL-3.0-or-later</project_license><url type="homepage">https://example.org/app` + strconv.Itoa(i) + `</url>
<releases><release version="1.` + strconv.Itoa(i%10) + `" date="2026-01-15"><description><p>Fixes and improvements.</p></description></release>
<release version="1.0" date="2025-06-01"/></releases><content_rating type="oars-1.1"/></component></components>`,
			"org.freedesktop.appstream.icon-64":  "data:image/png;base64," + base64.StdEncoding.EncodeToString(appIcon(b, 64, i)),
			"org.freedesktop.appstream.icon-128": "data:image/png;base64," + base64.StdEncoding.EncodeToString(appIcon(b, 128, i)),
		}
		image(b, c, base, fmt.Sprintf("flatpak/app%05d", i), "amd64", labels, "latest")
	})
}

// seedRepositories creates n repositories holding one small blob each.
func seedRepositories(b *testing.B, base string, n int) {
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	parallel(b, n, func(i int) {
		pushBlob(b, c, base, fmt.Sprintf("team%03d/service-%05d", i%500, i), []byte("blob"))
	})
}

func parallel(b *testing.B, n int, fn func(i int)) {
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				fn(i)
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

// serverTimes asks for path n times and returns the server's render times (the
// Server-Timing header), sorted.
func serverTimes(b *testing.B, base, path string, n int) []float64 {
	b.Helper()
	var out []float64
	for range n {
		resp, err := http.Get(base + path)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("%s: %d", path, resp.StatusCode)
		}
		v, ok := strings.CutPrefix(resp.Header.Get("Server-Timing"), "render;dur=")
		ms, err := strconv.ParseFloat(v, 64)
		if !ok || err != nil {
			b.Fatalf("%s: Server-Timing %q", path, resp.Header.Get("Server-Timing"))
		}
		out = append(out, ms)
	}
	slices.Sort(out)
	return out
}

func quantile(sorted []float64, q float64) float64 {
	return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))]
}

// indexAnswer fetches the real client's query and returns the sizes of the identity
// and gzip answers.
func indexAnswer(b *testing.B, base string) (plain, zipped int) {
	b.Helper()
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	req, _ := http.NewRequest("GET", base+"/index/static"+flatpakQuery, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	gz, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(zr)
	if !bytes.Contains(body, []byte("org.example.App09999")) {
		b.Fatal("the index lacks the last app")
	}
	return len(body), len(gz)
}

// serveIndex is what flatpak clients do to a fresh server: five uncached renders, then
// 2,000 cached static answers to 8 clients, half of them gzip. It returns the median
// time of an uncached answer, in milliseconds.
func serveIndex(b *testing.B, base string) float64 {
	var times []float64
	for range 5 {
		start := time.Now()
		resp, err := http.Get(base + "/index/dynamic" + flatpakQuery)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		times = append(times, float64(time.Since(start).Microseconds())/1000)
	}
	slices.Sort(times)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
			for i := range 250 {
				req, _ := http.NewRequest("GET", base+"/index/static"+flatpakQuery, nil)
				if (w+i)%2 == 0 {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				resp, err := c.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	return times[len(times)/2]
}

// BenchmarkUIAndIndexFigures measures what docs/benchmarks.md reports for the web UI and
// the Flatpak index: the server time (p50/p99 of 200 requests, from Server-Timing) of
// the pages of a repository with 100,000 tags, of the gallery of 10,000 apps and of a
// search over 100,000 repositories; the size of the 10,000-app index with icons as URLs
// and inline; and the peak RSS of a fresh server serving each (5 uncached renders, 2,000
// cached answers to 8 clients).
//
//	go test -v -run='^$' -bench=UIAndIndexFigures -benchtime=1x -timeout=30m ./bench/
func BenchmarkUIAndIndexFigures(b *testing.B) {
	// BERTH_BENCH_INDEX_ONLY=1 measures the index alone (for a build without the UI, with
	// BERTH_BENCH_BIN); BERTH_BENCH_LABELS=small seeds apps with two labels only.
	indexOnly := os.Getenv("BERTH_BENCH_INDEX_ONLY") == "1"
	small := os.Getenv("BERTH_BENCH_LABELS") == "small"
	// BERTH_BENCH_DATA=DIR keeps the seeded registry in DIR and reuses it next time.
	data := os.Getenv("BERTH_BENCH_DATA")
	if data == "" {
		data = b.TempDir()
	}
	if _, err := os.Stat(data + "/seeded"); err != nil {
		seed := startServerOn(b, binary(b), data, noGC, "--flatpak-index")
		start := time.Now()
		seedApps(b, seed.URL, 10_000, small)
		if !indexOnly {
			fillTags(b, strings.TrimPrefix(seed.URL, "http://"), "big/repo", 100_000)
			seedRepositories(b, seed.URL, 90_000-1) // with big/repo and the apps': 100,000
		}
		b.Logf("seeded in %s", time.Since(start).Round(time.Second))
		seed.stop()
		if err := os.WriteFile(data+"/seeded", nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}

	// BERTH_BENCH_BIN serves the index with another build (the main branch's, say).
	serveBin := os.Getenv("BERTH_BENCH_BIN")
	if serveBin == "" {
		serveBin = binary(b)
	}
	for b.Loop() {
		if !indexOnly {
			measurePages(b, data)
		}
		for _, mode := range []string{"url", "inline"} {
			s := startServerOn(b, serveBin, data, append(noGC, "BERTH_FLATPAK_ICONS="+mode), "--flatpak-index")
			_, idle := s.memory(b)
			uncached := serveIndex(b, s.URL)
			_, peak := s.memory(b)
			plain, zipped := indexAnswer(b, s.URL)
			b.Logf("index of 10,000 apps, icons %-6s: %6.2f MB (gzip %5.2f MB); uncached render %4.0f ms; RSS idle %5.1f MiB, peak serving %5.1f MiB",
				mode, float64(plain)/1e6, float64(zipped)/1e6, uncached, float64(idle)/(1<<20), float64(peak)/(1<<20))
			b.ReportMetric(float64(plain), "bytes-"+mode)
			b.ReportMetric(float64(peak)/(1<<20), "peakMiB-"+mode)
			s.stop()
		}
	}
}

// measurePages reports the server time of the UI's pages over the seeded registry.
func measurePages(b *testing.B, data string) {
	s := startServerOn(b, binary(b), data, noGC, "--flatpak-index")
	pages := []struct{ name, path string }{
		{"tags of a 100,000-tag repository, first page by name", "/ui/r/big/repo"},
		{"tags, a page in the middle by name", "/ui/r/big/repo?after=t050000"},
		{"tags, first page newest first", "/ui/r/big/repo?sort=newest"},
		{"gallery of 10,000 apps, first page", "/ui/apps"},
		{"gallery, a page in the middle", "/ui/apps?after=org.example.App05000"},
		{"app page", "/ui/apps/org.example.App05000"},
		{"repositories (100,000), first page", "/"},
		{"search over 100,000 names, frequent term (\"service\")", "/?q=service"},
		{"search over 100,000 names, rare term (\"app0999\")", "/?q=app0999"},
		{"search over 100,000 names, no match", "/?q=nothing-like-this"},
	}
	for _, p := range pages {
		t := serverTimes(b, s.URL, p.path, 200)
		b.Logf("%-58s p50 %7.2f ms  p99 %7.2f ms", p.name, quantile(t, 0.5), quantile(t, 0.99))
	}
	s.stop()
}
