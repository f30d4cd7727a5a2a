package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/oci"
)

func copyCmd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("copy [flags] SRC-HOST/REPO[:TAG|@DIGEST] DST-HOST/REPO[:TAG]")
	referrers := fs.Bool("referrers", false, "also copy the referrers (signatures, SBOMs, ...) of every manifest")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return fmt.Errorf("expected SRC and DST")
	}
	src, srcRef, err := splitRef(fs.Arg(0))
	if err != nil {
		return err
	}
	dst, dstRef, err := splitRef(fs.Arg(1))
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	cp := &copier{c: c, src: src, dst: dst, referrers: *referrers, done: map[string]bool{}}
	d, err := cp.manifest(ctx, srcRef, dstRef)
	if err != nil {
		return err
	}
	if e.jsonOut {
		return e.printJSON(map[string]any{"digest": d, "blobs_copied": cp.copied, "blobs_mounted": cp.mounted, "blobs_skipped": cp.skipped})
	}
	fmt.Fprintf(e.stdout, "%s@%s\n", dst, d)
	return nil
}

// copier copies manifests and their blobs from src to dst.
type copier struct {
	c         *client.Client
	src, dst  client.Repository
	referrers bool

	mu                       sync.Mutex
	done                     map[string]bool // manifests already copied
	copied, mounted, skipped int
}

// manifest copies the manifest srcRef (and everything it refers to) and stores it
// under dstRef; it returns the digest.
func (cp *copier) manifest(ctx context.Context, srcRef, dstRef string) (string, error) {
	desc, body, err := cp.c.ManifestGet(ctx, cp.src, srcRef)
	if err != nil {
		return "", explain(err, fmt.Sprintf("read %s:%s", cp.src, srcRef))
	}
	if cp.done[desc.Digest] && dstRef == desc.Digest {
		return desc.Digest, nil
	}
	m, err := oci.ParseManifest(desc.MediaType, body)
	if err != nil {
		return "", fmt.Errorf("%s:%s: %w", cp.src, srcRef, err)
	}
	for _, child := range m.Manifests {
		if _, err := cp.manifest(ctx, child.Digest.String(), child.Digest.String()); err != nil {
			return "", err
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
		return "", err
	}
	if _, err := cp.c.ManifestPut(ctx, cp.dst, dstRef, m.MediaType, body); err != nil {
		return "", explain(err, fmt.Sprintf("write %s:%s", cp.dst, dstRef))
	}
	cp.done[desc.Digest] = true
	if cp.referrers {
		refs, err := cp.c.Referrers(ctx, cp.src, desc.Digest, "")
		if err != nil && client.StatusCode(err) != http.StatusNotFound {
			return "", explain(err, "list referrers of "+desc.Digest)
		}
		for _, r := range refs {
			if _, err := cp.manifest(ctx, r.Digest, r.Digest); err != nil {
				return "", err
			}
		}
	}
	return desc.Digest, nil
}

// blobs copies blobs four at a time: skipped when the destination has them, mounted
// when both repositories are on one registry, streamed otherwise.
func (cp *copier) blobs(ctx context.Context, blobs []oci.Descriptor) error {
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
	if _, err := cp.c.BlobHead(ctx, cp.dst, d); err == nil {
		cp.count(&cp.skipped)
		return nil
	}
	if cp.src.Host == cp.dst.Host {
		if ok, err := cp.c.BlobMount(ctx, cp.dst, d, cp.src.Name); err == nil && ok {
			cp.count(&cp.mounted)
			return nil
		}
	}
	rc, size, err := cp.c.BlobGet(ctx, cp.src, d)
	if err != nil {
		return explain(err, "read blob "+d)
	}
	defer rc.Close()
	if size < 0 {
		size = b.Size
	}
	if err := cp.c.BlobPut(ctx, cp.dst, d, size, rc); err != nil {
		return explain(err, "write blob "+d)
	}
	cp.count(&cp.copied)
	return nil
}

func (cp *copier) count(n *int) {
	cp.mu.Lock()
	*n++
	cp.mu.Unlock()
}
