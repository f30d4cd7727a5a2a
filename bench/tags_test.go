package bench

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/client"
)

// fillTags points n tags of repo at one small manifest, 16 requests at a time.
func fillTags(b *testing.B, host, repo string, n int) {
	b.Helper()
	ctx := context.Background()
	c := client.New(client.WithPlainHTTP(true))
	r := client.Repository{Host: host, Name: repo}
	cd := digest.FromString("{}")
	if err := c.BlobPut(ctx, r, cd.String(), 2, strings.NewReader("{}")); err != nil {
		b.Fatal(err)
	}
	body := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":2},"layers":[]}`, cd))
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 16 {
				if _, err := c.ManifestPut(ctx, r, fmt.Sprintf("t%06d", i), "application/vnd.oci.image.manifest.v1+json", body); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
}

// BenchmarkTags100k lists 100,000 tags of one repository from a real `berth serve`
// through the public client (the whole walk, following Link headers, 1000 per page) and
// through the `berth tags` command.
//
//	go test -run=^$ -bench=Tags100k -benchtime=5x ./bench/
func BenchmarkTags100k(b *testing.B) {
	const n = 100_000
	s := startServer(b)
	host := strings.TrimPrefix(s.URL, "http://")
	fillTags(b, host, "big/repo", n)
	repo := client.Repository{Host: host, Name: "big/repo"}

	b.Run("client", func(b *testing.B) {
		c := client.New(client.WithPlainHTTP(true), client.WithPageSize(1000))
		for b.Loop() {
			tags, err := c.Tags(context.Background(), repo)
			if err != nil || len(tags) != n {
				b.Fatalf("%d tags, %v", len(tags), err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "tags/s")
	})
	b.Run("client-n100", func(b *testing.B) {
		c := client.New(client.WithPlainHTTP(true), client.WithPageSize(100))
		for b.Loop() {
			tags, err := c.Tags(context.Background(), repo)
			if err != nil || len(tags) != n {
				b.Fatalf("%d tags, %v", len(tags), err)
			}
		}
	})
	b.Run("cli", func(b *testing.B) {
		for b.Loop() {
			out, err := exec.Command(binary(b), "tags", "--plain-http", host+"/big/repo").Output()
			if err != nil {
				b.Fatal(err)
			}
			if got := strings.Count(string(out), "\n"); got != n {
				b.Fatalf("berth tags printed %d lines, want %d", got, n)
			}
		}
	})
}
