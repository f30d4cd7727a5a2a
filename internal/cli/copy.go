package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/oci"
)

var copyHelp = Command{Name: "copy", Usage: "[flags] SRC DST",
	Help: `Copy an image, an index with every platform, or an artifact. SRC and DST are each
HOST/REPO[:TAG|@DIGEST] or oci:DIR[:TAG] (an OCI image layout directory). Blobs the
destination has are skipped, blobs on the same registry are mounted, the rest are
streamed. Prints DST@DIGEST.`}

func copyCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags(remoteFlags | jsonFlag | progressFlags)
	referrers := fs.Bool("referrers", false, "also copy the referrers (signatures, SBOMs, ...) of every manifest")
	pos, err := e.args(fs, args, 2, "SRC and DST")
	if err != nil {
		return err
	}
	src, srcRef, err := e.parseEndpoint(pos[0])
	if err != nil {
		return err
	}
	dst, dstRef, err := e.parseEndpoint(pos[1])
	if err != nil {
		return err
	}
	return e.copyImage(ctx, src, srcRef, dst, dstRef, *referrers)
}

// copyImage copies one image or index and reports the result; push and pull of OCI
// layouts are copies too.
func (e *env) copyImage(ctx context.Context, src endpoint, srcRef string, dst endpoint, dstRef string, referrers bool) error {
	cp := &copier{src: src, dst: dst, referrers: referrers, done: map[string]bool{}}
	cp.prog = e.newProgress("copy")
	desc, err := cp.manifest(ctx, srcRef, dstRef, true)
	cp.prog.finish()
	if err != nil {
		return err
	}
	if e.jsonOut {
		return e.printJSON(map[string]any{"digest": desc.Digest, "mediaType": desc.MediaType, "blobs_copied": cp.copied, "blobs_mounted": cp.mounted, "blobs_skipped": cp.skipped})
	}
	fmt.Fprintf(e.stdout, "%s@%s\n", dst, desc.Digest)
	return nil
}

// copier copies manifests and their blobs from src to dst.
type copier struct {
	src, dst  endpoint
	referrers bool
	prog      *progress

	mu                       sync.Mutex
	done                     map[string]bool // manifests already copied
	copied, mounted, skipped int
}

// manifest copies the manifest srcRef and everything it refers to, children first, so
// the destination never holds a manifest whose content is missing. It stores it under
// dstRef; "" means the source's tag, or no tag when the source was named by digest.
func (cp *copier) manifest(ctx context.Context, srcRef, dstRef string, root bool) (client.Descriptor, error) {
	desc, body, err := cp.src.getManifest(ctx, srcRef)
	if err != nil {
		return desc, err
	}
	if dstRef == "" {
		dstRef = srcRef
		if dstRef == "" || isDigest(dstRef) {
			dstRef = desc.Digest
		}
	}
	if cp.done[desc.Digest] && dstRef == desc.Digest {
		return desc, nil
	}
	m, err := oci.ParseManifest(desc.MediaType, body)
	if err != nil {
		return desc, fmt.Errorf("%s:%s: %w", cp.src, srcRef, err)
	}
	desc.ArtifactType = m.ArtifactType
	for _, child := range m.Manifests {
		if _, err := cp.manifest(ctx, child.Digest.String(), child.Digest.String(), false); err != nil {
			return desc, err
		}
	}
	var blobs []oci.Descriptor
	if m.Config != nil {
		blobs = append(blobs, *m.Config)
	}
	for _, l := range m.Layers {
		if !oci.IsNonDistributable(l.MediaType) {
			blobs = append(blobs, l)
		}
	}
	if err := cp.blobs(ctx, blobs); err != nil {
		return desc, err
	}
	if err := cp.dst.putManifest(ctx, dstRef, desc, body, root); err != nil {
		return desc, err
	}
	cp.done[desc.Digest] = true
	if cp.referrers {
		refs, err := cp.src.referrers(ctx, desc.Digest)
		if err != nil {
			return desc, err
		}
		for _, r := range refs {
			if _, err := cp.manifest(ctx, r.Digest, r.Digest, true); err != nil {
				return desc, err
			}
		}
	}
	return desc, nil
}

// blobs copies blobs four at a time: skipped when the destination has them, mounted
// when both repositories are on one registry, streamed otherwise.
func (cp *copier) blobs(ctx context.Context, blobs []oci.Descriptor) error {
	for _, b := range blobs {
		cp.prog.expect(b.Size)
	}
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	errs := make([]error, len(blobs))
	for i, b := range blobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = cp.blob(ctx, b)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (cp *copier) blob(ctx context.Context, b oci.Descriptor) error {
	d := b.Digest.String()
	if cp.dst.hasBlob(ctx, d) {
		cp.count(&cp.skipped)
		cp.prog.skip(d, b.Size)
		return nil
	}
	if r, ok := cp.dst.(*remote); ok && r.mount(ctx, d, cp.src) {
		cp.count(&cp.mounted)
		cp.prog.skip(d, b.Size)
		return nil
	}
	rc, size, err := cp.src.getBlob(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	if size < 0 {
		size = b.Size
	}
	if err := cp.dst.putBlob(ctx, d, size, cp.prog.reader(rc)); err != nil {
		return err
	}
	cp.count(&cp.copied)
	cp.prog.blobDone(d, size)
	return nil
}

func (cp *copier) count(n *int) {
	cp.mu.Lock()
	*n++
	cp.mu.Unlock()
}
