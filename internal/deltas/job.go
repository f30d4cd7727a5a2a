package deltas

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
)

// Report counts what a job did.
type Report struct {
	// Targets is the number of target images (one per architecture).
	Targets int
	// Published deltas were made, verified and published by this job; Kept were already.
	Published, Kept int
	// NotWorth deltas saved too little; Refused layers were beyond the bound or unreadable;
	// VerifyFailed deltas did not rebuild their target.
	NotWorth, Refused, VerifyFailed int
	// Saved is the bytes the published deltas save over their layers.
	Saved int64

	// refusedLayers are the target layers refused in this job, which the deltas from
	// the other sources skip.
	refusedLayers map[digest.Digest]bool
}

// image is a Flatpak image with what deltas need of it.
type image struct {
	m       *metadata.Manifest
	layers  []oci.Descriptor
	diffIDs []digest.Digest
	left    time.Time // when it left the tag (sources)
}

func (im image) ref() string { return im.m.Labels[metadata.FlatpakRefLabel] }

func (im image) platform() string {
	return im.m.OS + "/" + im.m.Architecture + "/" + im.m.Variant
}

// runJob makes the deltas of the images the job's target holds.
func (w *Worker) runJob(ctx context.Context, j metadata.DeltaJob) (Report, error) {
	var rep Report
	top, err := w.reg.Manifest(ctx, j.Repository, registry.Reference{Digest: j.Target})
	if errors.Is(err, registry.ErrManifestUnknown) {
		return rep, nil // deleted since it was tagged
	}
	if err != nil {
		return rep, err
	}
	targets, err := w.flatpakImages(ctx, j.Repository, top, time.Time{})
	if err != nil {
		return rep, err
	}
	sources, err := w.sources(ctx, j)
	if err != nil {
		return rep, err
	}
	dir, err := os.MkdirTemp(w.opts.TempDir, "berth-delta-*")
	if err != nil {
		return rep, err
	}
	defer os.RemoveAll(dir)
	for _, t := range targets {
		rep.Targets++
		var from []image
		for _, s := range sources {
			if len(from) == w.opts.Sources {
				break
			}
			if i := slices.IndexFunc(s, func(im image) bool {
				return im.m.Digest != t.m.Digest && im.ref() == t.ref() && im.platform() == t.platform()
			}); i >= 0 {
				from = append(from, s[i])
			}
		}
		if err := w.target(ctx, j.Repository, t, from, dir, &rep); err != nil {
			return rep, fmt.Errorf("deltas to %s: %w", t.m.Digest, err)
		}
	}
	if err := w.writeIndex(ctx, j.Repository); err != nil {
		return rep, fmt.Errorf("write _deltaindex: %w", err)
	}
	return rep, nil
}

// sources lists the Flatpak images of the manifests the job's tag held within the window,
// the one that left last first, each once; every manifest gives its images (one per
// architecture for a list).
func (w *Worker) sources(ctx context.Context, j metadata.DeltaJob) ([][]image, error) {
	cut := time.Now().Add(-w.opts.Window)
	seen := map[digest.Digest]bool{j.Target: true}
	var out [][]image
	const page = 100
	for before := int64(0); len(out) < w.opts.Sources; {
		moves, err := w.meta.TagHistory(ctx, j.Repository, j.Tag, before, page)
		if err != nil {
			return nil, fmt.Errorf("tag history: %w", err)
		}
		for _, c := range moves {
			if c.At.Before(cut) {
				return out, nil
			}
			if c.Old == "" || seen[c.Old] {
				continue
			}
			seen[c.Old] = true
			m, err := w.reg.Manifest(ctx, j.Repository, registry.Reference{Digest: c.Old})
			if errors.Is(err, registry.ErrManifestUnknown) {
				continue // collected, or deleted
			}
			if err != nil {
				return nil, err
			}
			ims, err := w.flatpakImages(ctx, j.Repository, m, c.At)
			if err != nil {
				w.log.Warn("delta source skipped", "repo", j.Repository, "source", c.Old, "err", err)
				continue
			}
			if len(ims) > 0 {
				out = append(out, ims)
			}
			if len(out) == w.opts.Sources {
				return out, nil
			}
		}
		if len(moves) < page {
			return out, nil
		}
		before = moves[len(moves)-1].ID
	}
	return out, nil
}

// flatpakImages returns m if it is a Flatpak image, or the Flatpak images of the list m.
func (w *Worker) flatpakImages(ctx context.Context, repo string, m *metadata.Manifest, left time.Time) ([]image, error) {
	if !oci.IsIndexMediaType(m.MediaType) {
		if m.Labels[metadata.FlatpakRefLabel] == "" {
			return nil, nil
		}
		im, err := w.describe(ctx, m)
		im.left = left
		return []image{im}, err
	}
	var out []image
	for _, c := range m.Children {
		child, err := w.reg.Manifest(ctx, repo, registry.Reference{Digest: c})
		if err != nil {
			return nil, fmt.Errorf("image %s of list %s: %w", c, m.Digest, err)
		}
		if oci.IsIndexMediaType(child.MediaType) || child.Labels[metadata.FlatpakRefLabel] == "" {
			continue
		}
		im, err := w.describe(ctx, child)
		if err != nil {
			return nil, err
		}
		im.left = left
		out = append(out, im)
	}
	return out, nil
}

// maxConfig bounds the image config read for its DiffIDs.
const maxConfig = 4 << 20

// describe reads the layers and DiffIDs of an image; they must agree in number.
func (w *Worker) describe(ctx context.Context, m *metadata.Manifest) (image, error) {
	im := image{m: m}
	p, err := oci.ParseManifest(m.MediaType, m.Payload)
	if err != nil {
		return im, permanent("parse manifest %s: %w", m.Digest, err)
	}
	if p.Config == nil || len(p.Layers) == 0 {
		return im, permanent("image %s has no layers", m.Digest)
	}
	rc, err := w.reg.OpenBlob(ctx, p.Config.Digest, 0, -1)
	if err != nil {
		return im, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, io.LimitReader(rc, maxConfig)); err != nil {
		return im, fmt.Errorf("read config %s: %w", p.Config.Digest, err)
	}
	cfg, err := oci.ParseImageConfig(buf.Bytes())
	if err != nil {
		return im, permanent("image %s: %w", m.Digest, err)
	}
	if len(cfg.DiffIDs) != len(p.Layers) {
		return im, permanent("image %s has %d layers and %d diff_ids", m.Digest, len(p.Layers), len(cfg.DiffIDs))
	}
	for _, s := range cfg.DiffIDs {
		d, err := digest.Parse(s)
		if err != nil || d.Algorithm() != digest.SHA256 {
			return im, permanent("image %s: diff_id %q is not a sha256 digest", m.Digest, s)
		}
		im.diffIDs = append(im.diffIDs, d)
	}
	im.layers = p.Layers
	return im, nil
}
