// Command compare measures Berth and CNCF Distribution (Debian's docker-registry) side by
// side in one run, over HTTP on 127.0.0.1, with two references: a null registry (the
// loopback and sha256 ceiling) and a durable disk write with dd. It prints a Markdown
// table and writes one JSON object per measurement.
//
//	go run ./bench/compare -profile quick                  # about a minute
//	go run ./bench/compare -profile full -md docs/benchmarks-table.md -json bench.jsonl
//	go run ./bench/compare -profile full -only manifests,tags  # some scenario groups
//
// With BERTH_TEST_POSTGRES and BERTH_TEST_S3 set (scripts/postgres.sh, scripts/s3.sh),
// -scaled also measures Berth on PostgreSQL + S3.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"

	"github.com/berth-registry/berth/internal/testenv"
)

// profile sizes every scenario.
type profile struct {
	blobSizes      []int64
	manifests      int
	tags           int
	repos          int
	flatpakRepos   int
	flatpakQueries int
}

var profiles = map[string]profile{
	"quick": {blobSizes: []int64{64 << 20}, manifests: 1000, tags: 10_000, repos: 200, flatpakRepos: 1000, flatpakQueries: 2000},
	"full":  {blobSizes: []int64{256 << 20, 1 << 30}, manifests: 10_000, tags: 100_000, repos: 1000, flatpakRepos: 10_000, flatpakQueries: 20_000},
}

// result is one measurement.
type result struct {
	Scenario string  `json:"scenario"`
	Target   string  `json:"target"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Note     string  `json:"note,omitempty"`
}

type recorder struct {
	failures int
	results  []result
	order    []string
	jsonw    io.Writer
}

func (r *recorder) add(scenario, target string, v float64, unit, note string) {
	res := result{scenario, target, v, unit, note}
	r.results = append(r.results, res)
	if !contains(r.order, scenario) {
		r.order = append(r.order, scenario)
	}
	if r.jsonw != nil {
		b, _ := json.Marshal(res)
		fmt.Fprintln(r.jsonw, string(b))
	}
	log.Printf("%-44s %-14s %12.2f %s %s", scenario, target, v, unit, note)
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func main() {
	if err := run(); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// run measures everything; it returns errors instead of exiting so that the servers it
// started are always stopped.
func run() error {
	prof := flag.String("profile", "quick", "quick or full")
	mdPath := flag.String("md", "", "write the Markdown table to this file too")
	jsonPath := flag.String("json", "", "write JSON lines to this file")
	scaled := flag.Bool("scaled", false, "also measure Berth on PostgreSQL + S3 (BERTH_TEST_POSTGRES, BERTH_TEST_S3)")
	only := flag.String("only", "", "run only these scenario groups, comma-separated: blobs, manifests, tags, catalog, flatpak")
	flag.Parse()
	groups := map[string]bool{}
	for _, g := range strings.Split(*only, ",") {
		switch g {
		case "":
		case "blobs", "manifests", "tags", "catalog", "flatpak":
			groups[g] = true
		default:
			return fmt.Errorf("-only: unknown group %q (blobs, manifests, tags, catalog, flatpak)", g)
		}
	}
	want := func(g string) bool { return len(groups) == 0 || groups[g] }
	p, ok := profiles[*prof]
	if !ok {
		return fmt.Errorf("unknown profile %q", *prof)
	}
	rec := &recorder{}
	if *jsonPath != "" {
		f, err := os.Create(*jsonPath)
		if err != nil {
			return err
		}
		defer f.Close()
		rec.jsonw = f
	}
	dir, err := os.MkdirTemp("", "berth-compare-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	var targets []*target
	defer func() {
		for _, t := range targets {
			t.stop(rec.failures > 0)
		}
	}()
	b, err := startBerth(dir + "/berth")
	if err != nil {
		return err
	}
	targets = append(targets, b)
	if *scaled {
		pg, s3 := os.Getenv("BERTH_TEST_POSTGRES"), os.Getenv("BERTH_TEST_S3")
		if pg == "" || s3 == "" {
			return fmt.Errorf("-scaled needs BERTH_TEST_POSTGRES and BERTH_TEST_S3 (scripts/postgres.sh, scripts/s3.sh)")
		}
		// A fresh database and prefix: what an earlier run left would change the figures.
		pgRun, drop, err := testenv.NewPostgresDatabase(pg)
		if err != nil {
			return fmt.Errorf("create a database: %w", err)
		}
		s3Run, err := testenv.NewS3Prefix(s3)
		if err != nil {
			_ = drop()
			return err
		}
		bs, err := startBerth(dir+"/berth-scaled", "--metadata", pgRun, "--blobs", s3Run)
		if err != nil {
			_ = drop()
			return err
		}
		stop := bs.stop
		bs.stop = func(keepLog bool) {
			stop(keepLog)
			if err := drop(); err != nil {
				log.Printf("drop the benchmark database: %v", err)
			}
		}
		bs.name = "berth-pg-s3"
		targets = append(targets, bs)
	}
	if _, err := exec.LookPath("docker-registry"); err != nil {
		return fmt.Errorf("docker-registry not installed: run scripts/install-deps.sh")
	}
	dist, err := startDistribution(dir + "/distribution")
	if err != nil {
		return err
	}
	targets = append(targets, dist)
	null := newNullRegistry()
	ns := httptest.NewServer(null)
	defer ns.Close()
	nullTarget := &target{name: "null", url: ns.URL, stop: func(bool) {}}

	for _, t := range targets {
		_, peak := t.rss()
		rec.add("RSS idle (peak since start)", t.name, peak, "MiB", "")
	}
	if want("blobs") {
		runBlobs(rec, p, append(targets, nullTarget), null, dir)
		for _, t := range targets {
			_, peak := t.rss()
			rec.add("RSS peak after blob transfers", t.name, peak, "MiB", "")
		}
	}
	if want("manifests") {
		runManifests(rec, p, append(targets, nullTarget))
	}
	if want("tags") {
		runTags(rec, p, targets)
	}
	if want("catalog") {
		runCatalog(rec, p, targets)
	}
	for _, t := range targets {
		if want("flatpak") && strings.HasPrefix(t.name, "berth") {
			runFlatpak(rec, p, t)
		}
	}
	for _, t := range targets {
		_, peak := t.rss()
		rec.add("RSS peak at the end", t.name, peak, "MiB", "")
	}
	table := markdown(rec, targets)
	fmt.Print(table)
	if *mdPath != "" {
		if err := os.WriteFile(*mdPath, []byte(table), 0o644); err != nil {
			return err
		}
	}
	if rec.failures > 0 {
		return fmt.Errorf("%d steps failed; the servers' logs are kept", rec.failures)
	}
	return nil
}
