package flatpak

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/appstream"
	"github.com/berth-registry/berth/internal/flatpak/index"
	"github.com/berth-registry/berth/internal/metadata"
)

// place names an image of an answer: its repository, the tagged list holding it ("" for
// a tagged image) and its digest.
type place struct {
	repo  string
	list  digest.Digest
	image digest.Digest
}

// render writes the answer to f. What the real client cannot use never appears:
// repositories anonymous callers may not pull, manifests with other digests than sha256
// (its pull code asserts sha256), and, of images sharing an (architecture, ref), all but
// one (it neither de-duplicates nor filters, and duplicates break installs).
func (h *Handler) render(ctx context.Context, f metadata.ImageFilter, w io.Writer) error {
	f.Algorithm = string(digest.SHA256)
	f.Visible = h.opts.Visible // hidden images are dropped before their facts are read
	drop, err := h.duplicates(ctx, f)
	if err != nil {
		return err
	}
	enc := index.NewEncoder(w, h.opts.Registry)
	opts := metadata.ScanOptions{IconsByDigest: h.opts.Icons == IconsURL}
	b := &deltaBatch{h: h}
	write := func(e metadata.IndexEntry) error {
		if im := e.Image; im != nil {
			return enc.Image(im.Repository, im.Tags, h.listImage(*im, b.url(im.Repository, im.Digest)))
		}
		l := e.List
		out := index.List{Tags: l.Tags, Digest: l.Digest.String(), MediaType: l.MediaType}
		for _, im := range l.Images {
			out.Images = append(out.Images, h.listImage(im, b.url(l.Repository, im.Digest)))
		}
		return enc.List(l.Repository, out)
	}
	err = h.store.ScanIndex(ctx, f, opts, func(e metadata.IndexEntry) error {
		if im := e.Image; im != nil {
			if drop[place{im.Repository, "", im.Digest}] {
				return nil
			}
		} else {
			l := *e.List
			l.Images = slices.DeleteFunc(slices.Clone(l.Images), func(im metadata.IndexedImage) bool {
				return drop[place{l.Repository, l.Digest, im.Digest}]
			})
			e.List = &l
		}
		if !h.opts.DeltaURLs {
			return write(e)
		}
		return b.add(ctx, e, write)
	})
	if err == nil {
		err = b.flush(ctx, write)
	}
	if err != nil {
		return fmt.Errorf("render index: %w", err)
	}
	return enc.Close()
}

// deltaBatchSize is how many images a deltaBatch holds before it asks the store for
// their delta manifests.
const deltaBatchSize = 64

// deltaBatch holds index entries until it has deltaBatchSize images, then finds their
// delta manifests with one store query and writes them: the answer still streams, and
// its delta URLs cost a query per batch, not per image.
type deltaBatch struct {
	h       *Handler
	entries []metadata.IndexEntry
	images  []metadata.ManifestRef
	found   map[metadata.ManifestRef]digest.Digest
}

func (b *deltaBatch) add(ctx context.Context, e metadata.IndexEntry, write func(metadata.IndexEntry) error) error {
	b.entries = append(b.entries, e)
	if im := e.Image; im != nil {
		b.images = append(b.images, metadata.ManifestRef{Repository: im.Repository, Digest: im.Digest})
	} else {
		for _, im := range e.List.Images {
			b.images = append(b.images, metadata.ManifestRef{Repository: e.List.Repository, Digest: im.Digest})
		}
	}
	if len(b.images) < deltaBatchSize {
		return nil
	}
	return b.flush(ctx, write)
}

func (b *deltaBatch) flush(ctx context.Context, write func(metadata.IndexEntry) error) error {
	if len(b.entries) == 0 {
		return nil
	}
	found, err := b.h.store.DeltaManifests(ctx, b.images)
	if err != nil {
		return fmt.Errorf("delta manifests: %w", err)
	}
	b.found = found
	for _, e := range b.entries {
		if err := write(e); err != nil {
			return err
		}
	}
	b.entries, b.images, b.found = b.entries[:0], b.images[:0], nil
	return nil
}

// url is the DeltaUrl of an image of the batch being written, "" when it has none.
func (b *deltaBatch) url(repo string, d digest.Digest) string {
	dm, ok := b.found[metadata.ManifestRef{Repository: repo, Digest: d}]
	if !ok {
		return ""
	}
	return strings.TrimSuffix(b.h.opts.Registry, "/") + "/v2/" + repo + "/manifests/" + dm.String()
}

// duplicates chooses, among the visible matches that share an (architecture, ref), the
// one the answer keeps: the most recently tagged, then the first in index order. It
// returns the others. Hidden matches take no part (the store leaves them out), so they
// can neither appear nor displace a visible one.
func (h *Handler) duplicates(ctx context.Context, f metadata.ImageFilter) (map[place]bool, error) {
	dups, err := h.store.IndexDuplicates(ctx, f, metadata.LabelFlatpakRef)
	if err != nil {
		return nil, fmt.Errorf("index duplicates: %w", err)
	}
	drop := map[place]bool{}
	for start := 0; start < len(dups); {
		end := start + 1
		for end < len(dups) && dups[end].Value == dups[start].Value && dups[end].Architecture == dups[start].Architecture {
			end++
		}
		var keep *metadata.IndexKey
		for i := start; i < end; i++ {
			k := &dups[i]
			if keep == nil || k.TaggedAt > keep.TaggedAt || (k.TaggedAt == keep.TaggedAt && before(k, keep)) {
				if keep != nil {
					drop[place{keep.Repository, keep.List, keep.Image}] = true
				}
				keep = k
				continue
			}
			drop[place{k.Repository, k.List, k.Image}] = true
		}
		start = end
	}
	return drop, nil
}

// before reports whether a comes before b in index order: repository, then tagged
// images before lists, then digests.
func before(a, b *metadata.IndexKey) bool {
	return cmp.Or(strings.Compare(a.Repository, b.Repository), cmpListThenImage(a, b)) < 0
}

func cmpListThenImage(a, b *metadata.IndexKey) int {
	if (a.List == "") != (b.List == "") {
		if a.List == "" {
			return -1
		}
		return 1
	}
	return cmp.Or(strings.Compare(a.List.String(), b.List.String()), strings.Compare(a.Image.String(), b.Image.String()))
}

// DeltaURLLabel is the label an image's answer carries when the image has deltas: the
// URL of its delta manifest, resolved by the client against Registry (flatpak ≥ 1.8;
// flatpak-oci-specs image-deltas.md).
const DeltaURLLabel = "io.github.containers.DeltaUrl"

// listImage is what the answer shows of an image. With icons by URL, the icons
// extracted at push replace the icon labels (which the scan left out); with a delta
// manifest, deltaURL is added as DeltaURLLabel. The image's digest, by which the client
// knows its commit, is never touched, nor are the stored labels.
func (h *Handler) listImage(im metadata.IndexedImage, deltaURL string) index.ListImage {
	labels := im.Labels
	if len(im.Icons) > 0 || deltaURL != "" {
		labels = maps.Clone(labels)
		if labels == nil {
			labels = map[string]string{}
		}
		for label, d := range im.Icons {
			labels[label] = h.iconURL(d)
		}
		if deltaURL != "" {
			labels[DeltaURLLabel] = deltaURL
		}
	}
	return index.ListImage{
		Digest:       im.Digest.String(),
		MediaType:    im.MediaType,
		OS:           im.OS,
		Architecture: im.Architecture,
		Labels:       labels,
		Annotations:  im.Annotations,
	}
}

// iconURL is where an icon is served, relative to the index URL as Registry is (the
// client resolves both against <remote>/index/static).
func (h *Handler) iconURL(d digest.Digest) string {
	return strings.TrimSuffix(h.opts.Registry, "/") + appstream.IconPath(d)
}
