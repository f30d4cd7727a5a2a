// Package blobstore defines where blob bytes live: content-addressed, written once,
// served only when complete. Implementations live in sub-packages (fs for the embedded
// mode, s3 for the scaled one) and all pass the contract suite in storetest. The store
// trusts its caller to have verified the digest of an upload before Commit; it never
// buffers a blob in memory.
package blobstore

import (
	"context"
	"errors"
	"io"
	"regexp"

	"github.com/opencontainers/go-digest"
)

// ErrNotFound reports that the blob or upload does not exist.
var ErrNotFound = errors.New("blob not found")

// ErrOffset reports that an Append did not start where the upload's stored data ends.
var ErrOffset = errors.New("upload offset mismatch")

// Store holds blob bytes and the bytes of uploads in progress.
type Store interface {
	// Stat returns the size of a committed blob, or ErrNotFound.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Open streams length bytes of a committed blob from offset (length < 0: to the end).
	Open(ctx context.Context, d digest.Digest, offset, length int64) (io.ReadCloser, error)
	// Delete removes a committed blob; ErrNotFound if absent.
	Delete(ctx context.Context, d digest.Digest) error

	// Append writes r to the upload at offset and returns the bytes written. offset 0
	// creates the upload. Data stored beyond offset by an earlier failed Append is
	// discarded first; ErrOffset if less than offset bytes are stored. The bytes are
	// durable when Append returns without error.
	Append(ctx context.Context, upload string, offset int64, r io.Reader) (int64, error)
	// Commit makes the first size bytes of the upload the blob d, atomically and durably,
	// and removes the upload; bytes beyond size (left by a failed Append) are dropped. If
	// d already exists it is replaced (readers of it see the old or the new bytes, which
	// are the same by their digest): the work, and so the time, of a commit must not tell
	// whether some repository already held the blob. ErrOffset if fewer than size bytes
	// are stored.
	Commit(ctx context.Context, upload string, size int64, d digest.Digest) error
	// OpenUpload streams the bytes an upload holds so far (none: an empty stream). It
	// serves the rare finish whose digest algorithm differs from the session's.
	OpenUpload(ctx context.Context, upload string) (io.ReadCloser, error)
	// Abort removes the upload's bytes; no error if there are none.
	Abort(ctx context.Context, upload string) error
}

// uploadID is unbounded here and bounded in ValidUploadID: {1,128} would compile to 128
// copies of the class.
var uploadID = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ValidUploadID reports whether id can name an upload in every store: it becomes part of
// a file name or an object key, so it must not be able to climb out of its place.
func ValidUploadID(id string) bool { return len(id) <= 128 && uploadID.MatchString(id) }
