package bench

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkRetentionDryRun10k runs `berth retention --dry-run` on a repository of
// 10,000 tags (a policy keeping the newest 10) beside the running `berth serve` that
// holds them, and checks it prints the 9,990 deletions.
//
//	go test -run=^$ -bench=RetentionDryRun10k -benchtime=5x ./bench/
func BenchmarkRetentionDryRun10k(b *testing.B) {
	const n = 10_000
	data := b.TempDir()
	s := startServer(b, "--data", data)
	fillTags(b, strings.TrimPrefix(s.URL, "http://"), "ci/app", n)
	config := filepath.Join(b.TempDir(), "berth.yaml")
	if err := os.WriteFile(config, []byte("lifecycle:\n  retention:\n    policies:\n      - {name: ci, repositories: [\"ci/**\"], keep_newest: 10}\n"), 0o600); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		out, err := exec.Command(binary(b), "retention", "--dry-run", "--config", config, "--data", data).Output()
		if err != nil {
			b.Fatal(err)
		}
		deletions := 0
		for _, line := range bytes.Split(out, []byte("\n")) {
			if bytes.HasPrefix(line, []byte("delete ci/app:t")) {
				deletions++
			}
		}
		if deletions != n-10 || !bytes.Contains(out, []byte("would delete 9990 tags")) {
			b.Fatalf("dry run printed %d deletions:\n%s", deletions, out[max(0, len(out)-2000):])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/run")
}
