package deltas

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/tardiff"
)

// pair names one delta of a target: from a source image to one of the target's layers.
type pair struct {
	source digest.Digest
	to     digest.Digest
}

// target makes what is missing of the deltas from the sources to t, publishes its delta
// manifest (or withdraws it when no delta is worth it) and records the result. Deltas
// recorded by an earlier job are kept as they are when their source is still among the
// sources; the others are dropped.
func (w *Worker) target(ctx context.Context, repo string, t image, sources []image, dir string, rep *Report) error {
	recorded, err := w.meta.LayerDeltas(ctx, repo, t.m.Digest)
	if err != nil {
		return err
	}
	have := map[pair]metadata.LayerDelta{}
	for _, l := range recorded {
		have[pair{l.Source, l.To}] = l
	}
	var keep []metadata.LayerDelta
	for _, s := range sources {
		made, err := w.fromSource(ctx, repo, t, s, have, dir, rep)
		if err != nil {
			return err
		}
		keep = append(keep, made...)
	}
	var published []metadata.LayerDelta
	for _, l := range keep {
		if l.Blob != "" {
			published = append(published, l)
		}
	}
	var dm *metadata.DeltaManifest
	if len(published) > 0 {
		if dm, err = w.publishManifest(ctx, repo, t.m.Digest, published); err != nil {
			return err
		}
	}
	return w.meta.RecordDeltas(ctx, repo, t.m.Digest, keep, dm)
}

// fromSource returns the deltas from source s to each layer of t: the ones recorded and
// still good, and new ones for the others. The source's last layer is unpacked once, and
// only when a delta must be made.
func (w *Worker) fromSource(ctx context.Context, repo string, t image, s image, have map[pair]metadata.LayerDelta, dir string, rep *Report) ([]metadata.LayerDelta, error) {
	from := s.diffIDs[len(s.diffIDs)-1]
	var out []metadata.LayerDelta
	var old *tardiff.TarIndex
	defer func() {
		if old != nil {
			old.Close()
		}
	}()
	for i, to := range t.diffIDs {
		if l, ok := have[pair{s.m.Digest, to}]; ok && l.From == from && l.Layer == i {
			ok, err := w.stillThere(ctx, repo, l)
			if err != nil {
				return nil, err
			}
			if ok {
				l.SourceLeft = s.left
				if l.Blob != "" {
					rep.Kept++
				}
				out = append(out, l)
				continue
			}
		}
		base := metadata.LayerDelta{Repository: repo, Target: t.m.Digest, Source: s.m.Digest, SourceLeft: s.left,
			Layer: i, From: from, To: to, LayerSize: t.layers[i].Size}
		var unpacked time.Duration // counted in the make time of the first delta from s
		if old == nil {
			start := time.Now()
			ix, err := w.unpack(ctx, s.layers[len(s.layers)-1], from, dir)
			if err != nil {
				if !isRefusal(err) {
					return nil, fmt.Errorf("source %s: %w", s.m.Digest, err)
				}
				w.refused(rep, repo, "source", s.m.Digest, err)
				// Recorded as refused, for every layer, so that no later job reads it again.
				for j, to := range t.diffIDs {
					out = append(out, metadata.LayerDelta{Repository: repo, Target: t.m.Digest, Source: s.m.Digest, SourceLeft: s.left,
						Layer: j, From: from, To: to, LayerSize: t.layers[j].Size})
				}
				return out, nil
			}
			old, unpacked = ix, time.Since(start)
		}
		l, err := w.layerDelta(ctx, repo, old, t, i, base, dir, rep)
		if err != nil {
			return nil, err
		}
		if l != nil {
			if l.MakeTime > 0 {
				l.MakeTime += unpacked
			}
			out = append(out, *l)
		}
	}
	return out, nil
}

// stillThere reports whether a recorded delta can be kept: not published, or its blob
// still in the repository.
func (w *Worker) stillThere(ctx context.Context, repo string, l metadata.LayerDelta) (bool, error) {
	if l.Blob == "" {
		return true, nil
	}
	_, err := w.reg.Blob(ctx, repo, l.Blob)
	if errors.Is(err, registry.ErrBlobUnknown) {
		return false, nil
	}
	return err == nil, err
}

// layerDelta makes, verifies and (when worth it) publishes the delta from old to layer i
// of t. It returns the record to keep, or nil when the delta failed verification (which
// is never recorded, so that the next job tries again).
func (w *Worker) layerDelta(ctx context.Context, repo string, old *tardiff.TarIndex, t image, i int, l metadata.LayerDelta, dir string, rep *Report) (*metadata.LayerDelta, error) {
	if rep.refusedLayers[t.layers[i].Digest] {
		return &l, nil // refused with the delta from another source: not read again
	}
	worthAt := int64(float64(t.layers[i].Size) * (1 - w.opts.MinSavings))
	d, err := w.makeDelta(ctx, old, t.layers[i], l.To, worthAt, dir)
	switch {
	case errors.Is(err, errNotWorth):
		rep.NotWorth++
		w.Totals.NotWorth.Add(1)
		l.Size = d.size
		return &l, nil
	case errors.Is(err, errVerify):
		rep.VerifyFailed++
		w.Totals.VerifyFailed.Add(1)
		w.log.Error("delta failed verification, not published", "repo", repo, "target", t.m.Digest, "source", l.Source,
			"layer", i, "err", err)
		return nil, nil
	case isRefusal(err):
		w.refused(rep, repo, "target", t.m.Digest, err)
		if rep.refusedLayers == nil {
			rep.refusedLayers = map[digest.Digest]bool{}
		}
		rep.refusedLayers[t.layers[i].Digest] = true
		return &l, nil
	case err != nil:
		return nil, err
	}
	defer d.file.Close()
	l.Size, l.MakeTime, l.VerifyTime = d.size, d.makeTime, d.verifyTime
	if _, err := d.file.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	if _, err := w.reg.PutBlob(ctx, repo, d.digest, d.size, d.file); err != nil {
		return nil, fmt.Errorf("publish delta blob: %w", err)
	}
	l.Blob = d.digest
	rep.Published++
	rep.Saved += l.LayerSize - l.Size
	w.Totals.Published.Add(1)
	w.Totals.BytesSaved.Add(l.LayerSize - l.Size)
	return &l, nil
}

func (w *Worker) refused(rep *Report, repo, what string, d digest.Digest, err error) {
	rep.Refused++
	w.Totals.Refused.Add(1)
	w.log.Warn("delta layer refused", "repo", repo, what, d, "err", err)
}

// createUnlinked creates a temporary file whose name is gone at once: only the
// descriptor holds it, so a crash leaves nothing behind.
func createUnlinked(dir, pattern string) (*os.File, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name())
	return f, nil
}
