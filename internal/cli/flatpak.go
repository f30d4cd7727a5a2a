package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/flatpak/index"
	"github.com/berth-registry/berth/internal/oci"
)

const flatpakRefLabel = "org.flatpak.ref"

// flatpakCmd runs `berth flatpak index`: a static Flatpak index for registries that have
// none (ghcr.io, gitlab, ... — flatpak issue #4744). It walks every tag of the given
// repositories (or of the catalog), reads each image's config for its labels, and writes
// the JSON Berth's own /index/static would answer, for any static web server to serve.
var flatpakIndexHelp = Command{Name: "flatpak index", Usage: "[flags] REGISTRY [REPO...]",
	Help: `Crawl a registry that serves no Flatpak index (ghcr.io, GitLab, ...) into the JSON
of a static one (/index/static), for any web server to serve beside it. Without
REPOs, every repository of the catalog is crawled.`}

func flatpakIndex(ctx context.Context, e *env, args []string) error {
	fs := e.flags(remoteFlags | pageSizeFlag)
	out := fs.String("output", "-", "write the index to `file` (- for standard output)")
	fs.StringVar(out, "o", "-", "same as --output")
	registryURL := fs.String("registry-url", "", "the Registry field: the registry's `URL` as clients reach it (default https://REGISTRY/, or http:// with --plain-http)")
	all := fs.Bool("all", false, "index every image, not only those with an org.flatpak.ref label")
	workers := fs.Int("workers", 8, "`n` repositories crawled at once")
	pos, err := e.args(fs, args, -1, "REGISTRY and optionally repositories")
	if err != nil {
		return err
	}
	host, err := parseHost(pos[0])
	if err != nil {
		return &UsageError{Cmd: e.cmd.Name, Err: err}
	}
	repos := pos[1:]
	for _, r := range repos {
		if _, err := parseRepository(host + "/" + r); err != nil {
			return &UsageError{Cmd: e.cmd.Name, Err: err}
		}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	if len(repos) == 0 {
		if repos, err = c.Catalog(ctx, host); err != nil {
			return e.explain(err, "list repositories of "+host)
		}
	}
	reg := *registryURL
	if reg == "" {
		scheme := "https"
		if e.plainHTTP {
			scheme = "http"
		}
		reg = scheme + "://" + host + "/"
	}
	cr := &crawler{e: e, c: c, all: *all, idx: index.NewBuilder(reg)}
	if err := cr.crawl(ctx, host, repos, max(*workers, 1)); err != nil {
		return err
	}
	idx := cr.idx.Index()
	var w io.Writer = e.stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(idx); err != nil {
		return err
	}
	e.note("indexed %d images and %d lists in %d repositories", cr.images, cr.lists, len(repos))
	return nil
}

type crawler struct {
	e   *env
	c   *client.Client
	all bool

	mu            sync.Mutex
	idx           *index.Builder // orders what it is given as Berth's own index does
	images, lists int
}

func (cr *crawler) crawl(ctx context.Context, host string, repos []string, workers int) error {
	work := make(chan string)
	errs := make(chan error, len(repos))
	var wg sync.WaitGroup
	for range min(workers, max(len(repos), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for name := range work {
				if err := cr.repository(ctx, client.Repository{Host: host, Name: name}); err != nil {
					errs <- err
				}
			}
		}()
	}
	for _, r := range repos {
		work <- r
	}
	close(work)
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if len(all) > 0 {
		return fmt.Errorf("crawl %s: %w", host, all[0])
	}
	return nil
}

// repository indexes every tagged manifest of repo, each manifest once whatever the
// number of its tags.
func (cr *crawler) repository(ctx context.Context, repo client.Repository) error {
	tags, err := cr.c.Tags(ctx, repo)
	if err != nil {
		return cr.e.explain(err, "list tags of "+repo.String())
	}
	type manifest struct {
		desc client.Descriptor
		body []byte
		tags []string
	}
	byDigest := map[string]*manifest{}
	for _, tag := range tags {
		desc, body, err := cr.c.ManifestGet(ctx, repo, tag)
		if err != nil {
			return cr.e.explain(err, fmt.Sprintf("get %s:%s", repo, tag))
		}
		if m := byDigest[desc.Digest]; m != nil {
			m.tags = append(m.tags, tag)
			continue
		}
		byDigest[desc.Digest] = &manifest{desc, body, []string{tag}}
	}
	for _, m := range byDigest {
		parsed, err := oci.ParseManifest(m.desc.MediaType, m.body)
		if err != nil {
			continue // not a manifest a Flatpak index can show
		}
		if !parsed.IsIndex() {
			im, ok, err := cr.image(ctx, repo, m.desc, parsed)
			if err != nil {
				return err
			}
			if ok {
				cr.addImage(repo.Name, m.tags, im)
			}
			continue
		}
		list := index.List{Digest: m.desc.Digest, MediaType: parsed.MediaType, Tags: m.tags}
		for _, child := range parsed.Manifests {
			desc, body, err := cr.c.ManifestGet(ctx, repo, child.Digest.String())
			if err != nil {
				return cr.e.explain(err, fmt.Sprintf("get %s@%s", repo, child.Digest))
			}
			cm, err := oci.ParseManifest(desc.MediaType, body)
			if err != nil || cm.IsIndex() {
				continue
			}
			im, ok, err := cr.image(ctx, repo, desc, cm)
			if err != nil {
				return err
			}
			if ok {
				list.Images = append(list.Images, im)
			}
		}
		if len(list.Images) > 0 {
			cr.addList(repo.Name, list)
		}
	}
	return nil
}

// image reads an image's config for its platform and labels; ok is false for images the
// index leaves out (no Flatpak ref, unless --all).
func (cr *crawler) image(ctx context.Context, repo client.Repository, desc client.Descriptor, m *oci.Manifest) (index.ListImage, bool, error) {
	im := index.ListImage{Digest: desc.Digest, MediaType: m.MediaType, Annotations: m.Annotations}
	if m.Config.MediaType == oci.MediaTypeImageConfig || m.Config.MediaType == oci.MediaTypeDockerConfig {
		rc, _, err := cr.c.BlobGet(ctx, repo, m.Config.Digest.String())
		if err != nil {
			return im, false, cr.e.explain(err, fmt.Sprintf("get config of %s@%s", repo, desc.Digest))
		}
		raw, err := io.ReadAll(io.LimitReader(rc, 4<<20))
		rc.Close()
		if err != nil {
			return im, false, fmt.Errorf("read config of %s@%s: %w", repo, desc.Digest, err)
		}
		if cfg, err := oci.ParseImageConfig(raw); err == nil {
			im.OS, im.Architecture, im.Labels = cfg.OS, cfg.Architecture, cfg.Labels
		}
	}
	_, isFlatpak := im.Labels[flatpakRefLabel]
	return im, isFlatpak || cr.all, nil
}

func (cr *crawler) addImage(repo string, tags []string, im index.ListImage) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.idx.AddImage(repo, tags, im)
	cr.images++
}

func (cr *crawler) addList(repo string, l index.List) {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	cr.idx.AddList(repo, l)
	cr.lists++
}
