package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/flatpak"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/testenv"
)

// BenchmarkOracle times, in pairs, operations that
// TestAnswersAlikeWhetherHiddenContentExists shows to answer alike: one where the content
// asked about exists where the caller cannot read it, one where it exists nowhere. What
// differs within a pair is what an answer's timing could still tell; docs/auth.md ("What
// a caller can learn") says what is left and why.
//
//	go test -run=^$ -bench=Oracle -benchtime=2000x -count=6 ./internal/server/
//
// With BERTH_TEST_POSTGRES and BERTH_TEST_S3 set, the scaled mode is measured too.
func BenchmarkOracle(b *testing.B) {
	modes := map[string]func(*config.Config){"embedded": nil}
	if os.Getenv("BERTH_TEST_POSTGRES") != "" && os.Getenv("BERTH_TEST_S3") != "" {
		modes["scaled"] = func(c *config.Config) { c.Metadata, c.Blobs = testenv.PostgresURL(b), testenv.S3URL(b) }
	}
	for mode, adjust := range modes {
		b.Run(mode, func(b *testing.B) { benchOracle(b, adjust) })
	}
}

func benchOracle(b *testing.B, adjust func(*config.Config)) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.Data = b.TempDir()
	if adjust != nil {
		adjust(&cfg)
	}
	meta, blobs, err := OpenStores(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { meta.Close() })
	log := slog.New(slog.DiscardHandler)
	svc := registry.New(meta, blobs, log, registry.Options{})
	seesBob := func(r string) bool { return strings.HasPrefix(r, "bob/") || strings.HasPrefix(r, "public/") }
	index := flatpak.NewHandler(meta, log, flatpak.Options{Visible: func(r string) bool { return strings.HasPrefix(r, "public/") }})

	// The private content: an image whose config has a secret label, in ten
	// repositories, and a layer held by 300 more (all after public/ in byte order).
	put := func(repo string, data []byte) {
		if _, err := svc.PutBlob(ctx, repo, digest.FromBytes(data), int64(len(data)), bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
	layer := blob(1 << 40) // not one of the uploads' blobs below
	for i := range 10 {
		repo := fmt.Sprintf("team/app%d", i)
		put(repo, secretConfig)
		put(repo, secretLayer)
		if _, err := svc.PutManifest(ctx, repo, registry.Reference{Tag: "v1"}, ociManifest, bytes.NewReader(secretManifest), nil); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 300 {
		put(fmt.Sprintf("team/h%03d", i), layer)
	}
	put("bob/x", bobLayer)
	put("public/app", publicConfig)

	pair := func(name string, exists, missing func(b *testing.B, i int)) {
		for _, c := range []struct {
			name string
			fn   func(*testing.B, int)
		}{{"exists", exists}, {"missing", missing}} {
			b.Run(name+"/"+c.name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					c.fn(b, i)
				}
			})
		}
	}

	// Finishing an upload of a blob another repository holds, or that nobody does.
	digests := map[int]digest.Digest{}
	fresh := func(i int) ([]byte, digest.Digest) {
		data := blob(i)
		if digests[i] == "" {
			digests[i] = digest.FromBytes(data)
		}
		return data, digests[i]
	}
	for i := range 20000 {
		fresh(i + 1) // computed before the clock runs, for either half
	}
	var uploads, round int
	upload := func(seed func() int) func(*testing.B, int) {
		return func(b *testing.B, _ int) {
			uploads++ // a repository of its own each time, so the blob is never its own yet
			data, d := fresh(seed())
			if _, err := svc.PutBlob(ctx, fmt.Sprintf("bob/u%d", uploads), d, int64(len(data)), bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	}
	pair("finish upload",
		upload(func() int { return 0 }),
		upload(func() int { round++; return round }))

	// A manifest naming a config pushed (and cached) in a private repository.
	manifestNaming := func(config []byte) func(*testing.B, int) {
		m := imageManifest(config, bobLayer, "")
		return func(b *testing.B, i int) {
			_, err := svc.PutManifest(ctx, "bob/x", registry.Reference{Tag: "t"}, ociManifest, bytes.NewReader(m), nil)
			if !errors.Is(err, registry.ErrManifestBlobUnknown) {
				b.Fatalf("PutManifest: %v", err)
			}
		}
	}
	pair("manifest naming a config", manifestNaming(secretConfig), manifestNaming([]byte(`{"never":"pushed"}`)))

	// The dynamic Flatpak index asked for a label value only private images have.
	ask := func(query string) func(*testing.B, int) {
		return func(b *testing.B, i int) {
			rec := httptest.NewRecorder()
			index.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/index/dynamic?"+query, nil))
			if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"Results":[]`) {
				b.Fatalf("index: %d %s", rec.Code, rec.Body)
			}
		}
	}
	pair("dynamic index", ask("label:com.example.secret=s3cret"), ask("label:com.example.secret=guess"))

	// A catalog page whose range holds 310 hidden names, or none.
	catalog := func(last string) func(*testing.B, int) {
		return func(b *testing.B, i int) {
			pg, err := svc.Catalog(ctx, registry.PageRequest{Last: last, N: 1, Limited: true}, seesBob)
			if err != nil || len(pg.Items) != 0 {
				b.Fatalf("catalog: %v %v", pg, err)
			}
		}
	}
	pair("catalog page", catalog("public/app"), catalog("zzz"))

	// A mount without from of a blob 300 hidden repositories hold.
	mount := func(d digest.Digest) func(*testing.B, int) {
		return func(b *testing.B, i int) {
			ok, err := svc.Mount(ctx, "bob/x", d, "", seesBob)
			if err != nil || ok {
				b.Fatalf("mount: %v %v", ok, err)
			}
		}
	}
	pair("mount without from", mount(digest.FromBytes(layer)), mount(digest.FromString("held nowhere")))
}

// blob is 16 KiB of content numbered i.
func blob(i int) []byte {
	data := bytes.Repeat([]byte("oracle benchmark"), 1024)
	binary.BigEndian.PutUint64(data, uint64(i))
	return data
}
