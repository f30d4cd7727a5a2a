// Package fs is the blob store of the embedded mode: blobs as files under
// <root>/blobs/<algorithm>/<first two hex>/<hex>, uploads under <root>/uploads/<id>. A blob
// file appears only by an atomic rename of a complete, fsynced upload, so a crash can
// never leave a partial blob where blobs are served from.
package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blobstore"
)

// Store keeps blobs in a directory tree.
type Store struct {
	blobs   string
	uploads string
	bufs    sync.Pool
}

// New returns a store rooted at root, creating its directories.
func New(root string) (*Store, error) {
	s := &Store{
		blobs:   filepath.Join(root, "blobs"),
		uploads: filepath.Join(root, "uploads"),
		bufs:    sync.Pool{New: func() any { b := make([]byte, 1<<20); return &b }},
	}
	for _, d := range []string{s.blobs, s.uploads} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	return s, nil
}

func (s *Store) blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("blob path of %q: %w", d, err)
	}
	hex := d.Encoded()
	return filepath.Join(s.blobs, string(d.Algorithm()), hex[:2], hex), nil
}

func (s *Store) uploadPath(id string) (string, error) {
	if !blobstore.ValidUploadID(id) {
		return "", fmt.Errorf("invalid upload id %q", id)
	}
	return filepath.Join(s.uploads, id), nil
}

func notFound(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return blobstore.ErrNotFound
	}
	return err
}

// Stat returns the size of a blob.
func (s *Store) Stat(_ context.Context, d digest.Digest) (int64, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return 0, notFound(err)
	}
	return fi.Size(), nil
}

// Open streams a part of a blob. The returned reader is an *os.File, or an
// *io.LimitedReader over one, which net/http turns into sendfile.
func (s *Store) Open(_ context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, error) {
	p, err := s.blobPath(d)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, notFound(err)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, fmt.Errorf("seek blob %s: %w", d, err)
		}
	}
	if length < 0 {
		return f, nil
	}
	return limitedFile{LimitedReader: &io.LimitedReader{R: f, N: length}, f: f}, nil
}

type limitedFile struct {
	*io.LimitedReader
	f *os.File
}

func (l limitedFile) Close() error { return l.f.Close() }

// WriteTo lets io.Copy hand the limited file to the destination's ReadFrom (sendfile on
// a TCP connection) instead of copying through a buffer.
func (l limitedFile) WriteTo(w io.Writer) (int64, error) {
	if rf, ok := w.(io.ReaderFrom); ok {
		return rf.ReadFrom(l.LimitedReader)
	}
	return io.Copy(w, l.LimitedReader)
}

// Delete removes a blob.
func (s *Store) Delete(_ context.Context, d digest.Digest) error {
	p, err := s.blobPath(d)
	if err != nil {
		return err
	}
	return notFound(os.Remove(p))
}

// Append writes r at offset of the upload, after dropping whatever a failed earlier
// append left beyond offset, and fsyncs before returning.
func (s *Store) Append(ctx context.Context, upload string, offset int64, r io.Reader) (int64, error) {
	p, err := s.uploadPath(upload)
	if err != nil {
		return 0, err
	}
	flags := os.O_WRONLY
	if offset == 0 {
		flags |= os.O_CREATE
	}
	f, err := os.OpenFile(p, flags, 0o640)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("upload %s has no data at offset %d: %w", upload, offset, blobstore.ErrOffset)
		}
		return 0, fmt.Errorf("open upload %s: %w", upload, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat upload %s: %w", upload, err)
	}
	if fi.Size() < offset {
		return 0, fmt.Errorf("upload %s holds %d bytes, not %d: %w", upload, fi.Size(), offset, blobstore.ErrOffset)
	}
	if fi.Size() > offset {
		if err := f.Truncate(offset); err != nil {
			return 0, fmt.Errorf("truncate upload %s: %w", upload, err)
		}
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return 0, fmt.Errorf("seek upload %s: %w", upload, err)
	}
	buf := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(buf)
	n, err := io.CopyBuffer(struct{ io.Writer }{f}, ctxReader{ctx, r}, *buf)
	if err != nil {
		return n, fmt.Errorf("write upload %s: %w", upload, err)
	}
	if err := f.Sync(); err != nil {
		return n, fmt.Errorf("sync upload %s: %w", upload, err)
	}
	return n, nil
}

// ctxReader stops a long copy when the request is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// OpenUpload streams the upload's bytes.
func (s *Store) OpenUpload(_ context.Context, upload string) (io.ReadCloser, error) {
	p, err := s.uploadPath(upload)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		return io.NopCloser(eofReader{}), nil
	}
	if err != nil {
		return nil, fmt.Errorf("open upload %s: %w", upload, err)
	}
	return f, nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// Commit moves the upload into place as blob d: truncate to size, fsync, rename, fsync of
// the directory. An upload without data becomes the empty blob.
func (s *Store) Commit(_ context.Context, upload string, size int64, d digest.Digest) error {
	src, err := s.uploadPath(upload)
	if err != nil {
		return err
	}
	dst, err := s.blobPath(d)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(src, os.O_WRONLY|os.O_CREATE, 0o640)
	if err != nil {
		return fmt.Errorf("open upload %s: %w", upload, err)
	}
	err = cutTo(f, size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("prepare upload %s: %w", upload, err)
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("commit upload %s as %s: %w", upload, d, err)
	}
	return syncDir(dir)
}

// cutTo makes f exactly size bytes long, refusing to grow it.
func cutTo(f *os.File, size int64) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() < size {
		return fmt.Errorf("upload holds %d bytes, not %d: %w", fi.Size(), size, blobstore.ErrOffset)
	}
	if fi.Size() > size {
		return f.Truncate(size)
	}
	return nil
}

func notFoundOK(err error) error {
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// Abort removes the upload's bytes.
func (s *Store) Abort(_ context.Context, upload string) error {
	p, err := s.uploadPath(upload)
	if err != nil {
		return err
	}
	return notFoundOK(os.Remove(p))
}
