package deltas

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blobstore/fs"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/testenv"
)

var ctx = context.Background()

// env is a registry on the embedded stores with deltas on, and a worker over it.
type env struct {
	t     *testing.T
	meta  *sqlite.Store
	blobs *fs.Store
	svc   *registry.Service
	w     *Worker
	logs  *bytes.Buffer
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	meta, blobs := testenv.EmbeddedStores(t)
	meta.SetDeltaPolicy(metadata.DeltaPolicy{Enabled: true, Window: time.Hour})
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	svc := registry.New(meta, blobs, log, registry.Options{DeleteEnabled: true})
	opts.Replica = "test"
	if opts.Window == 0 {
		opts.Window = time.Hour
	}
	if opts.TempDir == "" {
		opts.TempDir = t.TempDir()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})
	return &env{t: t, meta: meta, blobs: blobs, svc: svc, w: New(meta, svc, log, opts), logs: &logs}
}

// files is a Flatpak's tree: path → content (paths under files/ or export/).
type files map[string][]byte

// appTree is a tree of n files of random sizes, as compressible as program files.
func appTree(r *rand.Rand, n int) files {
	f := files{}
	for i := range n {
		f[fmt.Sprintf("files/lib/lib%03d.so", i)] = body(r, 2000+r.IntN(60000))
	}
	return f
}

// body is content that compresses about as well as binaries do: words from a small
// vocabulary and random bytes.
func body(r *rand.Rand, n int) []byte {
	b := make([]byte, 0, n)
	for len(b) < n {
		if r.IntN(4) == 0 {
			b = append(b, byte(r.UintN(256)))
		} else {
			b = append(b, words[r.IntN(len(words))]...)
		}
	}
	return b[:n]
}

var words = []string{"main", "init", "error", "return", "\x00\x00\x00\x00", "GLIBC_2.34", "\x48\x89\xe5", "libc.so.6", " ", "\n"}

func (f files) clone() files {
	c := files{}
	for k, v := range f {
		c[k] = v
	}
	return c
}

// layerTar is the tar flatpak build-bundle --oci writes: "./", metadata, then the tree
// in path order with its directories.
func layerTar(t testing.TB, f files) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(1700000000, 0)
	dir := func(name string) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755, ModTime: mtime}); err != nil {
			t.Fatal(err)
		}
	}
	dir("./")
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	made := map[string]bool{}
	for _, n := range names {
		for i := range n {
			if n[i] == '/' && !made[n[:i+1]] {
				made[n[:i+1]] = true
				dir(n[:i+1])
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f[n])), ModTime: mtime}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// pushed is an image as pushed.
type pushed struct {
	digest  digest.Digest
	tar     []byte // its last layer, uncompressed
	layer   digest.Digest
	diffIDs []digest.Digest
}

// push pushes an image of the app ref with the layers (trees) to repo:tag ("" for
// none) on the platform arch.
func (e *env) push(repo, tag, ref, arch string, trees ...files) pushed {
	e.t.Helper()
	var p pushed
	var layers []map[string]any
	for _, tree := range trees {
		raw := layerTar(e.t, tree)
		gz := gzipped(e.t, raw)
		ld := e.blob(repo, gz)
		p.tar, p.layer = raw, ld
		p.diffIDs = append(p.diffIDs, digest.FromBytes(raw))
		layers = append(layers, map[string]any{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": ld, "size": len(gz)})
	}
	cfg, _ := json.Marshal(map[string]any{"os": "linux", "architecture": arch,
		"config": map[string]any{"Labels": map[string]string{metadata.FlatpakRefLabel: ref}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": p.diffIDs}})
	cd := e.blob(repo, cfg)
	man, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageManifest,
		"config": map[string]any{"mediaType": oci.MediaTypeImageConfig, "digest": cd, "size": len(cfg)}, "layers": layers})
	p.digest = e.manifest(repo, tag, oci.MediaTypeImageManifest, man)
	return p
}

// list pushes an image index of the images to repo:tag.
func (e *env) list(repo, tag string, images ...pushed) digest.Digest {
	e.t.Helper()
	var ms []map[string]any
	for _, im := range images {
		m, err := e.svc.Manifest(ctx, repo, registry.Reference{Digest: im.digest})
		if err != nil {
			e.t.Fatal(err)
		}
		ms = append(ms, map[string]any{"mediaType": m.MediaType, "digest": im.digest, "size": len(m.Payload),
			"platform": map[string]string{"os": m.OS, "architecture": m.Architecture}})
	}
	idx, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": oci.MediaTypeImageIndex, "manifests": ms})
	return e.manifest(repo, tag, oci.MediaTypeImageIndex, idx)
}

func (e *env) blob(repo string, b []byte) digest.Digest {
	e.t.Helper()
	d := digest.FromBytes(b)
	if _, err := e.svc.PutBlob(ctx, repo, d, int64(len(b)), bytes.NewReader(b)); err != nil {
		e.t.Fatal(err)
	}
	return d
}

func (e *env) manifest(repo, tag, mediaType string, payload []byte) digest.Digest {
	e.t.Helper()
	ref := registry.Reference{Tag: tag}
	if tag == "" {
		ref = registry.Reference{Digest: digest.FromBytes(payload)}
	}
	res, err := e.svc.PutManifest(ctx, repo, ref, mediaType, bytes.NewReader(payload), nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.Digest
}

// runAll runs every due job.
func (e *env) runAll() {
	e.t.Helper()
	for {
		ran, err := e.w.RunOne(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		if !ran {
			return
		}
	}
}

// job is the one job of repo:tag.
func (e *env) job(repo, tag string) metadata.DeltaJob {
	e.t.Helper()
	js, err := e.meta.DeltaJobs(ctx, repo, 0, 100)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, j := range js {
		if j.Tag == tag {
			return j
		}
	}
	e.t.Fatalf("no job for %s:%s in %+v", repo, tag, js)
	return metadata.DeltaJob{}
}

// parsed reads a manifest of repo.
func (e *env) parsed(repo string, ref registry.Reference) *oci.Manifest {
	e.t.Helper()
	m, err := e.svc.Manifest(ctx, repo, ref)
	if err != nil {
		e.t.Fatalf("manifest %s of %s: %v", ref, repo, err)
	}
	p, err := oci.ParseManifest(m.MediaType, m.Payload)
	if err != nil {
		e.t.Fatal(err)
	}
	p.Annotations = m.Annotations
	return p
}

// read reads a blob whole.
func (e *env) read(d digest.Digest) []byte {
	e.t.Helper()
	rc, err := e.svc.OpenBlob(ctx, d, 0, -1)
	if err != nil {
		e.t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// payload is the stored payload of a manifest.
func (e *env) payload(repo string, d digest.Digest) []byte {
	e.t.Helper()
	m, err := e.svc.Manifest(ctx, repo, registry.Reference{Digest: d})
	if err != nil {
		e.t.Fatal(err)
	}
	return m.Payload
}
