package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blobstore"
)

// minPart is S3's smallest part of a multipart upload, but for the last one.
const minPart = 5 << 20

// part is one object of an upload: the bytes appended at offset.
type part struct {
	key          string
	offset, size int64
}

func (s *Store) uploadPrefix(id string) (string, error) {
	if !blobstore.ValidUploadID(id) {
		return "", fmt.Errorf("invalid upload id %q", id)
	}
	return s.key("uploads", id) + "/", nil
}

// parts lists an upload's part objects in offset order; their keys end in the offset,
// zero-padded so that key order is offset order.
func (s *Store) parts(ctx context.Context, id string) ([]part, error) {
	prefix, err := s.uploadPrefix(id)
	if err != nil {
		return nil, err
	}
	var out []part
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: &s.o.Bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list upload %s: %w", id, err)
		}
		for _, o := range page.Contents {
			off, err := strconv.ParseInt(strings.TrimPrefix(aws.ToString(o.Key), prefix), 10, 64)
			if err != nil {
				continue
			}
			out = append(out, part{key: aws.ToString(o.Key), offset: off, size: aws.ToInt64(o.Size)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].offset < out[j].offset })
	return out, nil
}

// contiguous returns the parts that hold bytes [0, end) without a gap, dropping (and
// deleting) those at or beyond `from`: what a failed append left behind.
func (s *Store) contiguous(ctx context.Context, id string, from int64) ([]part, int64, error) {
	ps, err := s.parts(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	var keep []part
	var end int64
	for _, p := range ps {
		if p.offset >= from {
			if err := s.deleteKey(ctx, p.key); err != nil {
				return nil, 0, err
			}
			continue
		}
		if p.offset != end {
			return nil, 0, fmt.Errorf("%w: upload %s has a gap at %d", blobstore.ErrOffset, id, end)
		}
		keep = append(keep, p)
		end += p.size
	}
	return keep, end, nil
}

// buffers hold one part each while it is sent. They grow only as far as a part needs,
// so the many small blobs of a push (configs, layers of a few KiB) do not each take a
// whole PartSize; and never past it (bytes.Buffer.ReadFrom would double a full 8 MiB
// part to 16 MiB while it looks for the end).
var buffers = sync.Pool{New: func() any { return new([]byte) }}

// Append writes r as part objects of at most PartSize bytes each. A part is written only
// whole, so a failed append leaves complete parts, which the next append at the same
// offset removes.
func (s *Store) Append(ctx context.Context, id string, offset int64, r io.Reader) (int64, error) {
	prefix, err := s.uploadPrefix(id)
	if err != nil {
		return 0, err
	}
	_, end, err := s.contiguous(ctx, id, offset)
	if err != nil {
		return 0, err
	}
	if end != offset {
		return 0, fmt.Errorf("%w: upload %s holds %d bytes, append at %d", blobstore.ErrOffset, id, end, offset)
	}
	return inParts(r, s.o.PartSize, func(at int64, part []byte) error {
		key := fmt.Sprintf("%s%020d", prefix, offset+at)
		if _, err := s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.o.Bucket, Key: &key,
			Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part)))}); err != nil {
			return fmt.Errorf("write upload %s: %w", id, err)
		}
		return nil
	})
}

// inParts reads r in parts of size bytes (the last one shorter, none empty) and hands
// each to send with its offset in r; it returns how many bytes were sent.
func inParts(r io.Reader, size int64, send func(at int64, part []byte) error) (int64, error) {
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	var sent int64
	for {
		part, err := fill(r, bp, int(size))
		if err != nil {
			return sent, err
		}
		if len(part) == 0 {
			return sent, nil
		}
		if err := send(sent, part); err != nil {
			return sent, err
		}
		sent += int64(len(part))
		if len(part) < int(size) {
			return sent, nil
		}
	}
}

// fill reads r into *bp until it holds size bytes or r ends, doubling *bp (from 64 KiB,
// never beyond size) only when the data outgrows it.
func fill(r io.Reader, bp *[]byte, size int) ([]byte, error) {
	buf := (*bp)[:0]
	defer func() { *bp = buf[:0] }()
	for len(buf) < size {
		if len(buf) == cap(buf) {
			// Not slices.Grow: append's growth would take up to 2.4 times the data.
			grown := make([]byte, len(buf), min(max(2*cap(buf), 64<<10), size))
			copy(grown, buf)
			buf = grown
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), size)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// Commit makes the first size bytes of the upload the blob d, then removes the upload.
// The blob appears at once when the copy or multipart upload completes, never partly.
func (s *Store) Commit(ctx context.Context, id string, size int64, d digest.Digest) error {
	ps, end, err := s.contiguous(ctx, id, 1<<62)
	if err != nil {
		return err
	}
	if end < size {
		return fmt.Errorf("%w: upload %s holds %d bytes, commit of %d", blobstore.ErrOffset, id, end, size)
	}
	// Keep the parts that hold [0, size).
	var used []part
	for _, p := range ps {
		if p.offset >= size {
			break
		}
		used = append(used, p)
	}
	dst := s.blobKey(d)
	switch {
	case size == 0:
		_, err = s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.o.Bucket, Key: &dst, Body: bytes.NewReader(nil), ContentLength: aws.Int64(0)})
	case len(used) == 1 && used[0].size == size:
		_, err = s.c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.o.Bucket, Key: &dst, CopySource: aws.String(s.o.Bucket + "/" + used[0].key)})
	default:
		err = s.assemble(ctx, dst, used, size)
	}
	if err != nil {
		return fmt.Errorf("commit upload %s as %s: %w", id, d, err)
	}
	return s.Abort(ctx, id)
}

// assemble builds dst from parts with a multipart upload: copied inside the object store
// when every part but the last is large enough to be a multipart part, streamed through
// Berth otherwise (many small chunks).
func (s *Store) assemble(ctx context.Context, dst string, used []part, size int64) (err error) {
	mu, err := s.c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &s.o.Bucket, Key: &dst})
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = s.c.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{Bucket: &s.o.Bucket, Key: &dst, UploadId: mu.UploadId})
		}
	}()
	copyable := true
	for _, p := range used[:len(used)-1] {
		copyable = copyable && p.size >= minPart
	}
	var done []types.CompletedPart
	if copyable {
		for i, p := range used {
			in := &s3.UploadPartCopyInput{Bucket: &s.o.Bucket, Key: &dst, UploadId: mu.UploadId,
				PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String(s.o.Bucket + "/" + p.key)}
			if p.offset+p.size > size {
				in.CopySourceRange = aws.String(fmt.Sprintf("bytes=0-%d", size-p.offset-1))
			}
			out, err := s.c.UploadPartCopy(ctx, in)
			if err != nil {
				return err
			}
			done = append(done, types.CompletedPart{PartNumber: in.PartNumber, ETag: out.CopyPartResult.ETag})
		}
	} else if done, err = s.streamParts(ctx, dst, mu.UploadId, used, size); err != nil {
		return err
	}
	_, err = s.c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: &s.o.Bucket, Key: &dst, UploadId: mu.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	return err
}

// streamParts re-reads the parts in order and uploads them in chunks of PartSize.
func (s *Store) streamParts(ctx context.Context, dst string, uploadID *string, used []part, size int64) ([]types.CompletedPart, error) {
	r := io.LimitReader(&partsReader{ctx: ctx, s: s, parts: used}, size)
	var done []types.CompletedPart
	_, err := inParts(r, max(s.o.PartSize, minPart), func(_ int64, part []byte) error {
		num := aws.Int32(int32(len(done) + 1))
		out, err := s.c.UploadPart(ctx, &s3.UploadPartInput{Bucket: &s.o.Bucket, Key: &dst, UploadId: uploadID,
			PartNumber: num, Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part)))})
		if err != nil {
			return err
		}
		done = append(done, types.CompletedPart{PartNumber: num, ETag: out.ETag})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return done, nil
}

// OpenUpload streams the bytes the upload holds so far.
func (s *Store) OpenUpload(ctx context.Context, id string) (io.ReadCloser, error) {
	ps, _, err := s.contiguous(ctx, id, 1<<62)
	if err != nil {
		return nil, err
	}
	return &partsReader{ctx: ctx, s: s, parts: ps}, nil
}

// Abort removes the upload's part objects.
func (s *Store) Abort(ctx context.Context, id string) error {
	ps, err := s.parts(ctx, id)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := s.deleteKey(ctx, p.key); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) deleteKey(ctx context.Context, key string) error {
	_, err := s.c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.o.Bucket, Key: &key})
	if err != nil && !errors.Is(notFound(err), blobstore.ErrNotFound) {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	return nil
}

// partsReader reads part objects one after the other, opening each when it is reached.
type partsReader struct {
	ctx   context.Context
	s     *Store
	parts []part
	cur   io.ReadCloser
}

func (r *partsReader) Read(b []byte) (int, error) {
	for {
		if r.cur == nil {
			if len(r.parts) == 0 {
				return 0, io.EOF
			}
			out, err := r.s.c.GetObject(r.ctx, &s3.GetObjectInput{Bucket: &r.s.o.Bucket, Key: &r.parts[0].key})
			if err != nil {
				return 0, err
			}
			r.cur, r.parts = out.Body, r.parts[1:]
		}
		n, err := r.cur.Read(b)
		if err == io.EOF {
			r.cur.Close()
			r.cur = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (r *partsReader) Close() error {
	if r.cur != nil {
		return r.cur.Close()
	}
	return nil
}
