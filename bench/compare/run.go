package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
)

func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }

func runBlobs(rec *recorder, p profile, targets []*target, null *nullRegistry, dir string) {
	for i, size := range p.blobSizes {
		seed := byte(10 + 2*i)
		mono, chunked := digestOf(seed, size), digestOf(seed+1, size)
		null.source(mono, func() io.Reader { return source(seed, size) })
		if rate, err := ddRate(context.Background(), dir, size); err == nil {
			rec.add("blob push "+mib(size)+" monolithic", "dd", rate, "MB/s", "dd conv=fdatasync")
		}
		for _, t := range targets {
			repo := fmt.Sprintf("bench/blob%d", i)
			if rate, err := pushBlob(t.url, repo, seed, size, 0, mono); rec.report(err) {
				rec.add("blob push "+mib(size)+" monolithic", t.name, rate, "MB/s", "")
			}
			if rate, err := pushBlob(t.url, repo, seed+1, size, 8<<20, chunked); rec.report(err) {
				rec.add("blob push "+mib(size)+" chunked 8 MiB", t.name, rate, "MB/s", "")
			}
			if rate, err := pullBlob(t.url, repo, mono, size); rec.report(err) {
				rec.add("blob pull "+mib(size)+" (verified)", t.name, rate, "MB/s", "")
			}
			if i == 0 {
				ops, err := parallel(16, 2000, func(int) error {
					return drain(do("HEAD", t.url+"/v2/"+repo+"/blobs/"+mono.String(), nil, 0, nil, 200))
				})
				if rec.report(err) {
					rec.add("blob HEAD, 16 clients", t.name, ops, "req/s", "")
				}
			}
		}
	}
}

func runManifests(rec *recorder, p profile, targets []*target) {
	for _, t := range targets {
		repo := "bench/manifests"
		mk, err := image(t.url, repo)
		if !rec.report(err) {
			continue
		}
		for _, clients := range []int{1, 16, 64} {
			count := p.manifests
			if clients == 1 {
				count = p.manifests / 4
			}
			base := clients * 1_000_000
			ops, err := parallel(clients, count, func(i int) error {
				return putManifest(t.url, repo, fmt.Sprintf("c%d", base+i), mk(base+i))
			})
			if rec.report(err) {
				rec.add(fmt.Sprintf("manifest PUT, %d clients", clients), t.name, ops, "ops/s", "")
			}
			ops, err = parallel(clients, count, func(i int) error {
				return drain(do("GET", fmt.Sprintf("%s/v2/%s/manifests/c%d", t.url, repo, base+i), nil, 0,
					map[string]string{"Accept": "application/vnd.oci.image.manifest.v1+json"}, 200))
			})
			if rec.report(err) {
				rec.add(fmt.Sprintf("manifest GET, %d clients", clients), t.name, ops, "ops/s", "")
			}
		}
	}
}

func runTags(rec *recorder, p profile, targets []*target) {
	for _, t := range targets {
		repo := "bench/tags"
		mk, err := image(t.url, repo)
		if !rec.report(err) {
			continue
		}
		body := mk(0)
		window := p.tags / 10
		var first, last, lowest float64
		start := time.Now()
		for w := range 10 {
			ops, err := parallel(16, window, func(i int) error {
				return putManifest(t.url, repo, fmt.Sprintf("t%07d", w*window+i), body)
			})
			if !rec.report(err) {
				return
			}
			if w == 0 {
				first, lowest = ops, ops
			}
			last, lowest = ops, min(lowest, ops)
		}
		total := float64(p.tags) / time.Since(start).Seconds()
		rec.add(fmt.Sprintf("tag push, %d tags, 16 clients: overall", p.tags), t.name, total, "tags/s", "")
		rec.add("tag push: first 10% of the tags", t.name, first, "tags/s", "")
		rec.add("tag push: last 10% of the tags", t.name, last, "tags/s", "")
		rec.add("tag push: slowest 10% window", t.name, lowest, "tags/s", "")

		start = time.Now()
		n, reqs, err := listTags(t.url, repo, "")
		full := time.Since(start).Seconds()
		if rec.report(err) && rec.check(n == p.tags, "%s: listed %d tags of %d", t.name, n, p.tags) {
			rec.add(fmt.Sprintf("tags/list of %d tags, one request", p.tags), t.name, full, "s", note(reqs))
		}
		start = time.Now()
		n, reqs, err = listTags(t.url, repo, "?n=100")
		walk := time.Since(start).Seconds()
		if rec.report(err) && rec.check(n == p.tags, "%s: walked %d tags of %d", t.name, n, p.tags) {
			rec.add(fmt.Sprintf("tags/list of %d tags walked with n=100", p.tags), t.name, walk, "s", note(reqs))
		}
	}
}

func note(requests int) string {
	if requests == 1 {
		return "1 request"
	}
	return fmt.Sprintf("%d requests", requests)
}

func runCatalog(rec *recorder, p profile, targets []*target) {
	for _, t := range targets {
		base := "bench/catalog-base"
		mk, err := image(t.url, base)
		if !rec.report(err) {
			continue
		}
		var blobs []digest.Digest
		body := mk(0)
		for _, s := range []string{`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"`, `"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"`} {
			i := bytes.Index(body, []byte(s)) + len(s)
			blobs = append(blobs, digest.Digest(body[i:i+71]))
		}
		_, err = parallel(16, p.repos, func(i int) error {
			repo := fmt.Sprintf("bench/catalog/r%05d", i)
			if err := mountInto(t.url, base, repo, blobs); err != nil {
				return err
			}
			return putManifest(t.url, repo, "latest", body)
		})
		if !rec.report(err) {
			continue
		}
		start := time.Now()
		u, repos, reqs := t.url+"/v2/_catalog?n=1000", 0, 0
		for u != "" {
			resp, err := do("GET", u, nil, 0, nil, 200)
			if !rec.report(err) {
				break
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			reqs++
			repos += strings.Count(string(b), `"`)/2 - 1
			u = nextLink(t.url, resp.Header.Get("Link"))
		}
		if rec.check(repos >= p.repos, "%s: catalog listed %d repositories, want at least %d", t.name, repos, p.repos) {
			rec.add(fmt.Sprintf("_catalog of %d repositories, n=1000", repos), t.name, time.Since(start).Seconds()*1000, "ms", note(reqs))
		}
	}
}

func runFlatpak(rec *recorder, p profile, t *target) {
	layer := []byte("flatpak layer")
	ld := digest.FromBytes(layer)
	base := "bench/flatpak-base"
	if !rec.report(putBlob(t.url, base, layer)) {
		return
	}
	_, err := parallel(16, p.flatpakRepos, func(i int) error {
		repo := fmt.Sprintf("flatpak/org.example.app%05d", i)
		cfg := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","config":{"Labels":{"org.flatpak.ref":"app/org.example.App%05d/x86_64/stable","org.flatpak.metadata":"[Application]\nname=org.example.App%05d\n"}}}`, i, i)
		cd := digest.FromBytes(cfg)
		if err := putBlob(t.url, repo, cfg); err != nil {
			return err
		}
		if err := mountInto(t.url, base, repo, []digest.Digest{ld}); err != nil {
			return err
		}
		m := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`, cd, len(cfg), ld, len(layer))
		return putManifest(t.url, repo, "latest", m)
	})
	if !rec.report(err) {
		return
	}
	q := "?label%3Aorg.flatpak.ref%3Aexists=1&architecture=amd64&os=linux&tag=latest"
	scn := fmt.Sprintf("Flatpak index, %d apps", p.flatpakRepos)
	// The peak while serving, apart from the pushes that seeded the index (what they
	// left resident is the start of it, so that is reported too).
	before, _ := t.rss()
	peakReset := rec.report(t.resetPeak())
	start := time.Now()
	const cold = 5
	for range cold {
		if !rec.report(drain(do("GET", t.url+"/index/dynamic"+q, nil, 0, nil, 200))) {
			return
		}
	}
	rec.add(scn+": uncached (dynamic)", t.name, time.Since(start).Seconds()*1000/cold, "ms", "")
	gz := map[string]string{"Accept-Encoding": "gzip"}
	if !rec.report(drain(do("GET", t.url+"/index/static"+q, nil, 0, gz, 200))) {
		return
	}
	ops, err := parallel(8, p.flatpakQueries, func(int) error {
		return drain(do("GET", t.url+"/index/static"+q, nil, 0, gz, 200))
	})
	if rec.report(err) {
		rec.add(scn+": cached (static, gzip), 8 clients", t.name, ops, "req/s", "")
	}
	if _, peak := t.rss(); peakReset && peak > 0 {
		rec.add(scn+": RSS after the pushes that seeded it", t.name, before, "MiB", "")
		rec.add(scn+": RSS peak serving it", t.name, peak, "MiB", "")
	}
}

// report and check log a failed step; any makes the whole run fail at the end.
func (r *recorder) report(err error) bool {
	if err != nil {
		r.failures++
		log.Printf("error: %v", err)
		return false
	}
	return true
}

func (r *recorder) check(ok bool, format string, args ...any) bool {
	if !ok {
		r.failures++
		log.Printf("check failed: "+format, args...)
	}
	return ok
}
