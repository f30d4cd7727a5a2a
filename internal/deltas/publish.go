package deltas

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/tardiff"
)

// The names flatpak-oci-specs image-deltas.md gives, as the client (flatpak ≥ 1.8,
// common/flatpak-oci-registry.c) looks them up.
const (
	// IndexTag tags the OCI index that lists a repository's delta manifests.
	IndexTag = "_deltaindex"
	// ConfigMediaType is the media type of a delta manifest's config, whose content is {}.
	ConfigMediaType = "application/vnd.redhat.delta.config.v1+json"
	// TargetAnnotation names the image manifest a delta manifest leads to.
	TargetAnnotation = "io.github.containers.delta.target"
	// FromAnnotation and ToAnnotation give a delta layer's source and target DiffIDs.
	FromAnnotation = "io.github.containers.delta.from"
	ToAnnotation   = "io.github.containers.delta.to"
)

// emptyConfig is the content of every delta manifest's config.
var emptyConfig = []byte("{}")

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      digest.Digest     `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type manifestJSON struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Config        *descriptor       `json:"config,omitempty"`
	Layers        []descriptor      `json:"layers,omitempty"`
	Manifests     []descriptor      `json:"manifests,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// deltaManifest is the delta manifest of target listing the published deltas, the
// newest source first. Its layers carry no urls: a client would follow them, with the
// registry's token, and not fall back.
func deltaManifest(target digest.Digest, layers []metadata.LayerDelta) []byte {
	layers = slices.Clone(layers)
	slices.SortFunc(layers, func(a, b metadata.LayerDelta) int {
		return cmp.Or(b.SourceLeft.Compare(a.SourceLeft), strings.Compare(string(a.Source), string(b.Source)), cmp.Compare(a.Layer, b.Layer))
	})
	m := manifestJSON{SchemaVersion: 2, MediaType: oci.MediaTypeImageManifest,
		Config:      &descriptor{MediaType: ConfigMediaType, Digest: digest.FromBytes(emptyConfig), Size: int64(len(emptyConfig))},
		Layers:      []descriptor{},
		Annotations: map[string]string{TargetAnnotation: target.String()}}
	for _, l := range layers {
		m.Layers = append(m.Layers, descriptor{MediaType: tardiff.MediaType, Digest: l.Blob, Size: l.Size,
			Annotations: map[string]string{FromAnnotation: l.From.String(), ToAnnotation: l.To.String()}})
	}
	b, _ := json.Marshal(m) // cannot fail: strings and numbers
	return b
}

// deltaIndex is the _deltaindex of a repository: an OCI index of its delta manifests,
// each annotated with its target.
func deltaIndex(entries []metadata.DeltaManifest) []byte {
	m := manifestJSON{SchemaVersion: 2, MediaType: oci.MediaTypeImageIndex, Manifests: []descriptor{}}
	for _, e := range entries {
		m.Manifests = append(m.Manifests, descriptor{MediaType: oci.MediaTypeImageManifest, Digest: e.Manifest, Size: e.Size,
			Annotations: map[string]string{TargetAnnotation: e.Target.String()}})
	}
	b, _ := json.Marshal(m)
	return b
}

// publishManifest pushes the delta manifest of target (and the config it needs).
func (w *Worker) publishManifest(ctx context.Context, repo string, target digest.Digest, layers []metadata.LayerDelta) (*metadata.DeltaManifest, error) {
	cd := digest.FromBytes(emptyConfig)
	if _, err := w.reg.Blob(ctx, repo, cd); errors.Is(err, registry.ErrBlobUnknown) {
		if _, err := w.reg.PutBlob(ctx, repo, cd, int64(len(emptyConfig)), bytes.NewReader(emptyConfig)); err != nil {
			return nil, fmt.Errorf("push delta config: %w", err)
		}
	} else if err != nil {
		return nil, err
	}
	payload := deltaManifest(target, layers)
	d := digest.FromBytes(payload)
	if _, err := w.reg.PutManifest(ctx, repo, registry.Reference{Digest: d}, oci.MediaTypeImageManifest, bytes.NewReader(payload), nil); err != nil {
		return nil, fmt.Errorf("push delta manifest: %w", err)
	}
	return &metadata.DeltaManifest{Repository: repo, Target: target, Manifest: d, Size: int64(len(payload))}, nil
}

// writeIndex writes the _deltaindex of repo from what the store lists, until what is
// tagged is what the store lists: a job on another replica may record its deltas between
// this one's listing and its push, and its own push may come first.
func (w *Worker) writeIndex(ctx context.Context, repo string) error {
	w.indexMu.Lock()
	defer w.indexMu.Unlock()
	for attempt := 0; ; attempt++ {
		entries, err := w.meta.DeltaIndex(ctx, repo)
		if err != nil {
			return err
		}
		payload := deltaIndex(entries)
		cur, err := w.reg.Manifest(ctx, repo, registry.Reference{Tag: IndexTag})
		switch {
		case errors.Is(err, registry.ErrManifestUnknown):
			if len(entries) == 0 {
				return nil
			}
		case err != nil:
			return err
		case cur.Digest == digest.FromBytes(payload):
			return nil
		}
		if attempt == 5 {
			return errors.New("_deltaindex keeps changing")
		}
		_, err = w.reg.PutManifest(ctx, repo, registry.Reference{Tag: IndexTag}, oci.MediaTypeImageIndex, bytes.NewReader(payload), nil)
		if err != nil && !errors.Is(err, registry.ErrManifestBlobUnknown) {
			// A delta manifest collected since the listing is the one error the next
			// listing mends.
			return err
		}
	}
}
