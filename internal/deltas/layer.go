package deltas

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/tardiff"
)

var (
	// errNotWorth: the delta grew past the size at which it would be published.
	errNotWorth = errors.New("delta saves too little")
	// errVerify: the delta, applied to the old layer, does not rebuild the target.
	errVerify = errors.New("delta does not rebuild its target")
	// errLayer: a layer that cannot be read as a tar stream of a known compression, or
	// whose content is not its DiffID.
	errLayer = errors.New("unusable layer")
)

// isRefusal tells a layer that deltas cannot be made of (beyond the bound, a
// decompression bomb, not a tar, a DiffID that lies) from a failure that may pass.
func isRefusal(err error) bool {
	return errors.Is(err, tardiff.ErrTooLarge) || errors.Is(err, errLayer)
}

// uncompressed streams the uncompressed tar of a layer blob.
func (w *Worker) uncompressed(ctx context.Context, l oci.Descriptor) (io.ReadCloser, error) {
	rc, err := w.reg.OpenBlob(ctx, l.Digest, 0, -1)
	if err != nil {
		return nil, err
	}
	switch l.MediaType {
	case "application/vnd.oci.image.layer.v1.tar+gzip", "application/vnd.docker.image.rootfs.diff.tar.gzip":
		zr, err := gzip.NewReader(rc)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("%w: %s: %w", errLayer, l.Digest, err)
		}
		return readCloser{zr, func() error { return errors.Join(zr.Close(), rc.Close()) }}, nil
	case "application/vnd.oci.image.layer.v1.tar+zstd":
		// One goroutine, a bounded window: a hostile frame cannot claim much memory.
		zr, err := zstd.NewReader(rc, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxMemory(256<<20), zstd.WithDecoderMaxWindow(128<<20))
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("%w: %s: %w", errLayer, l.Digest, err)
		}
		return readCloser{zr, func() error { zr.Close(); return rc.Close() }}, nil
	case "application/vnd.oci.image.layer.v1.tar", "application/vnd.docker.image.rootfs.diff.tar":
		return rc, nil
	}
	rc.Close()
	return nil, fmt.Errorf("%w: %s has media type %q", errLayer, l.Digest, l.MediaType)
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// layerErr makes a read error of a layer's stream a refusal: a corrupt stream stays
// corrupt. The bound's own error is kept as it is.
func layerErr(d digest.Digest, err error) error {
	if errors.Is(err, tardiff.ErrTooLarge) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %s: %w", errLayer, d, err)
}

// unpack indexes the uncompressed source layer l, whose DiffID must be from.
func (w *Worker) unpack(ctx context.Context, l oci.Descriptor, from digest.Digest, dir string) (*tardiff.TarIndex, error) {
	rc, err := w.uncompressed(ctx, l)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	h := sha256.New()
	ix, err := tardiff.IndexTar(io.TeeReader(rc, h), dir, tardiff.Limits{MaxTarSize: w.opts.MaxLayerSize})
	if err != nil {
		return nil, layerErr(l.Digest, err)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != from {
		ix.Close()
		return nil, fmt.Errorf("%w: layer %s uncompressed is %s, not its DiffID %s", errLayer, l.Digest, got, from)
	}
	return ix, nil
}

// made is a delta made and verified, in an unlinked temporary file.
type made struct {
	file                 *os.File
	size                 int64
	digest               digest.Digest
	makeTime, verifyTime time.Duration
}

// makeDelta writes the delta from old to the target layer l (DiffID to) and checks it by
// applying it to old. It gives up with errNotWorth once the delta passes worthAt bytes.
func (w *Worker) makeDelta(ctx context.Context, old *tardiff.TarIndex, l oci.Descriptor, to digest.Digest, worthAt int64, dir string) (made, error) {
	start := time.Now()
	rc, err := w.uncompressed(ctx, l)
	if err != nil {
		return made{}, err
	}
	defer rc.Close()
	f, err := createUnlinked(dir, "delta-*")
	if err != nil {
		return made{}, err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	tarSum, deltaSum := sha256.New(), sha256.New()
	out := &boundedWriter{w: io.MultiWriter(f, deltaSum), max: worthAt}
	st, err := w.diff(ctx, old, io.TeeReader(rc, tarSum), out, tardiff.Options{Limits: tardiff.Limits{MaxTarSize: w.opts.MaxLayerSize}, TempDir: dir})
	if errors.Is(err, errNotWorth) {
		return made{size: out.n}, err
	}
	if err != nil {
		return made{}, layerErr(l.Digest, err)
	}
	if got := digest.NewDigest(digest.SHA256, tarSum); got != to {
		return made{}, fmt.Errorf("%w: layer %s uncompressed is %s, not its DiffID %s", errLayer, l.Digest, got, to)
	}
	m := made{file: f, size: out.n, digest: digest.NewDigest(digest.SHA256, deltaSum), makeTime: time.Since(start)}
	if err := w.verify(ctx, f, old, to, st.TarSize); err != nil {
		return made{}, err
	}
	m.verifyTime = time.Since(start) - m.makeTime
	ok = true
	return m, nil
}

// verify applies the delta in f to old, as a client applies it to its installed tree,
// and checks that the output is size bytes whose sha256 is to.
func (w *Worker) verify(ctx context.Context, f *os.File, old *tardiff.TarIndex, to digest.Digest, size int64) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	h := &countingHash{Hash: sha256.New()}
	err := tardiff.Apply(ctx, f, old, h, tardiff.ApplyLimits{MaxOutput: size})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w: %w", errVerify, err)
	}
	if got := digest.NewDigest(digest.SHA256, h); got != to || h.n != size {
		return fmt.Errorf("%w: rebuilt %d bytes with digest %s, want %d bytes of %s", errVerify, h.n, got, size, to)
	}
	return nil
}

type countingHash struct {
	hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.Hash.Write(p)
}

// boundedWriter fails with errNotWorth once more than max bytes are written.
type boundedWriter struct {
	w   io.Writer
	n   int64
	max int64
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	if b.n+int64(len(p)) > b.max {
		b.n += int64(len(p))
		return 0, errNotWorth
	}
	n, err := b.w.Write(p)
	b.n += int64(n)
	return n, err
}
