package registry

import (
	"context"
	"crypto/rand"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blobstore"
	"github.com/berth-registry/berth/internal/metadata"
)

// StartUpload opens an upload session in repo whose content will be hashed with alg.
func (s *Service) StartUpload(ctx context.Context, repo string, alg digest.Algorithm) (metadata.Upload, error) {
	if err := checkName(repo); err != nil {
		return metadata.Upload{}, err
	}
	h, err := newHash(alg)
	if err != nil {
		return metadata.Upload{}, err
	}
	state, err := marshalHash(h)
	if err != nil {
		return metadata.Upload{}, err
	}
	now := time.Now()
	u := metadata.Upload{
		ID:         rand.Text(),
		Repository: repo,
		Algorithm:  alg,
		HashState:  state,
		StartedAt:  now,
		UpdatedAt:  now,
	}
	if err := s.meta.CreateUpload(ctx, u); err != nil {
		return metadata.Upload{}, fmt.Errorf("create upload in %s: %w", repo, err)
	}
	return u, nil
}

// Upload returns the session id of repo.
func (s *Service) Upload(ctx context.Context, repo, id string) (metadata.Upload, error) {
	if err := checkName(repo); err != nil {
		return metadata.Upload{}, err
	}
	u, err := s.meta.Upload(ctx, id)
	if errors.Is(err, metadata.ErrNotFound) || (err == nil && u.Repository != repo) {
		return metadata.Upload{}, fmt.Errorf("%w: %s", ErrUploadUnknown, id)
	}
	if err != nil {
		return metadata.Upload{}, fmt.Errorf("look up upload %s: %w", id, err)
	}
	return u, nil
}

// AppendUpload adds r to the session. start is where the client says the chunk begins
// (-1 when it did not say: a streamed PATCH), and size the chunk's length (-1: unknown).
// A chunk that does not start at the session's offset is ErrUploadOutOfOrder, and the
// session is left as it was so the client can ask for its status and resume.
func (s *Service) AppendUpload(ctx context.Context, repo, id string, start, size int64, r io.Reader) (metadata.Upload, error) {
	unlock := s.uploadLocks.lock(id)
	defer unlock()
	u, err := s.Upload(ctx, repo, id)
	if err != nil {
		return u, err
	}
	return s.appendLocked(ctx, u, "", start, size, r)
}

// appendLocked appends a chunk to the session, refusing it before any byte is stored
// when the chunk's size would take the upload past the room its namespace has left (a
// blob d the namespace holds already costs nothing), and cutting a body of unknown
// size where it would. A refused upload is ended: no session is left half counted.
func (s *Service) appendLocked(ctx context.Context, u metadata.Upload, d digest.Digest, start, size int64, r io.Reader) (metadata.Upload, error) {
	if start >= 0 && start != u.Offset {
		return u, fmt.Errorf("%w: chunk starts at %d, upload has %d bytes", ErrUploadOutOfOrder, start, u.Offset)
	}
	room, err := s.meta.StorageRoom(ctx, u.Repository, d)
	if err != nil {
		return u, err
	}
	var within *roomReader
	if room.Limit > 0 && !room.Counted {
		if size >= 0 && !room.Admits(u.Offset+size) {
			return u, s.refuse(ctx, u.ID, room.Refusal(u.Offset+size))
		}
		within = &roomReader{r: r, left: room.Left() - u.Offset}
		r = within
	}
	h, err := newHash(u.Algorithm)
	if err != nil {
		return u, err
	}
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
		return u, fmt.Errorf("restore hash state of upload %s: %w", u.ID, err)
	}
	n, err := s.blobs.Append(ctx, u.ID, u.Offset, io.TeeReader(r, h))
	if within != nil && within.over {
		return u, s.refuse(ctx, u.ID, room.Refusal(u.Offset+n+1))
	}
	if err != nil {
		if errors.Is(err, blobstore.ErrOffset) {
			return u, fmt.Errorf("%w: stored data of upload %s is shorter than its offset", ErrUploadInvalid, u.ID)
		}
		return u, fmt.Errorf("append to upload %s: %w", u.ID, err)
	}
	if size >= 0 && n != size {
		return u, fmt.Errorf("%w: chunk has %d bytes, expected %d", ErrUploadInvalid, n, size)
	}
	state, err := marshalHash(h)
	if err != nil {
		return u, err
	}
	from := u.Offset
	u.Offset += n
	u.HashState = state
	u.UpdatedAt = time.Now()
	if err := s.meta.AdvanceUpload(ctx, u, from); err != nil {
		if errors.Is(err, metadata.ErrUploadConflict) || errors.Is(err, metadata.ErrNotFound) {
			return u, fmt.Errorf("%w: upload %s changed concurrently", ErrUploadInvalid, u.ID)
		}
		return u, fmt.Errorf("advance upload %s: %w", u.ID, err)
	}
	return u, nil
}

// FinishUpload appends r (if not nil) as the last chunk, checks that the content has digest
// d, and makes it a blob of the repository. A digest mismatch ends the session.
func (s *Service) FinishUpload(ctx context.Context, repo, id string, d digest.Digest, start, size int64, r io.Reader) (metadata.Blob, error) {
	unlock := s.uploadLocks.lock(id)
	defer unlock()
	u, err := s.Upload(ctx, repo, id)
	if err != nil {
		return metadata.Blob{}, err
	}
	if r != nil {
		if u, err = s.appendLocked(ctx, u, d, start, size, r); err != nil {
			return metadata.Blob{}, err
		}
	} else if room, err := s.meta.StorageRoom(ctx, repo, d); err != nil {
		return metadata.Blob{}, err
	} else if !room.Admits(u.Offset) {
		return metadata.Blob{}, s.refuse(ctx, u.ID, room.Refusal(u.Offset))
	}
	got, err := s.uploadDigest(ctx, u, d.Algorithm())
	if err != nil {
		return metadata.Blob{}, err
	}
	if got != d {
		s.endUpload(ctx, u.ID)
		return metadata.Blob{}, fmt.Errorf("%w: got %s, want %s", ErrDigestInvalid, got, d)
	}
	b := metadata.Blob{Digest: d, Size: u.Offset}
	// A blob the registry already holds is linked first: once linked, garbage collection
	// leaves its bytes alone, so Commit may safely replace them. A blob the store does not
	// know (or that was collected a moment ago) is written first and linked after, so no
	// record ever points to bytes that are not there. Either way the bytes are committed
	// and one link is written, so finishing takes as long whether or not some repository
	// the caller cannot read holds the blob.
	// The links check the namespace's quota again, in their transactions: the checks
	// above only spare storing bytes that would be refused.
	_, err = s.meta.LinkExistingBlob(ctx, repo, d)
	known := err == nil
	if q := denied(err); q != nil {
		s.endUpload(ctx, u.ID)
		return metadata.Blob{}, q
	}
	if err != nil && !errors.Is(err, metadata.ErrNotFound) {
		return metadata.Blob{}, fmt.Errorf("link blob %s into %s: %w", d, repo, err)
	}
	if err := s.blobs.Commit(ctx, u.ID, u.Offset, d); err != nil {
		return metadata.Blob{}, fmt.Errorf("commit upload %s as %s: %w", u.ID, d, err)
	}
	if !known {
		if err := s.meta.LinkBlob(ctx, repo, b); err != nil {
			if q := denied(err); q != nil {
				// Refused by a push that took the room since the check: the store kept
				// the blob's record, unlinked, for collection to reclaim its bytes.
				s.endUpload(ctx, u.ID)
				return metadata.Blob{}, q
			}
			return metadata.Blob{}, fmt.Errorf("link blob %s into %s: %w", d, repo, err)
		}
	}
	if err := s.meta.DeleteUpload(ctx, u.ID); err != nil && !errors.Is(err, metadata.ErrNotFound) {
		s.log.Warn("finished upload not removed", "upload", u.ID, "err", err)
	}
	return b, nil
}

// uploadDigest is the digest of the session's content in algorithm alg. A session hashes
// with the algorithm it was started with (sha256 unless the client asked otherwise); a
// client that then finishes with another algorithm's digest costs one re-read of the
// bytes received.
func (s *Service) uploadDigest(ctx context.Context, u metadata.Upload, alg digest.Algorithm) (digest.Digest, error) {
	h, err := newHash(alg)
	if err != nil {
		return "", err
	}
	if alg == u.Algorithm {
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
			return "", fmt.Errorf("restore hash state of upload %s: %w", u.ID, err)
		}
		return digest.NewDigest(alg, h), nil
	}
	rc, err := s.blobs.OpenUpload(ctx, u.ID)
	if err != nil {
		return "", fmt.Errorf("read upload %s: %w", u.ID, err)
	}
	defer rc.Close()
	n, err := io.Copy(h, io.LimitReader(rc, u.Offset))
	if err != nil {
		return "", fmt.Errorf("read upload %s: %w", u.ID, err)
	}
	if n != u.Offset {
		return "", fmt.Errorf("%w: upload %s holds %d bytes, expected %d", ErrUploadInvalid, u.ID, n, u.Offset)
	}
	return digest.NewDigest(alg, h), nil
}

// PutBlob stores r as a blob of repo in one request (a POST with a digest, or a
// fallback for a mount that could not be done).
func (s *Service) PutBlob(ctx context.Context, repo string, d digest.Digest, size int64, r io.Reader) (metadata.Blob, error) {
	if err := checkName(repo); err != nil {
		return metadata.Blob{}, err
	}
	if size >= 0 {
		// Refused before a session is even recorded.
		if err := s.CheckRoom(ctx, repo, d, size); err != nil {
			return metadata.Blob{}, err
		}
	}
	u, err := s.StartUpload(ctx, repo, d.Algorithm())
	if err != nil {
		return metadata.Blob{}, err
	}
	b, err := s.FinishUpload(ctx, repo, u.ID, d, -1, size, r)
	if err != nil {
		s.endUpload(ctx, u.ID)
	}
	return b, err
}

// CheckRoom refuses with ErrDenied a blob of size bytes that repo's namespace has no
// room for (nothing, when the namespace holds d already).
func (s *Service) CheckRoom(ctx context.Context, repo string, d digest.Digest, size int64) error {
	room, err := s.meta.StorageRoom(ctx, repo, d)
	if err != nil {
		return err
	}
	if !room.Admits(size) {
		return fmt.Errorf("%w: %w", ErrDenied, room.Refusal(size))
	}
	return nil
}

// CancelUpload ends the session and discards its data.
func (s *Service) CancelUpload(ctx context.Context, repo, id string) error {
	unlock := s.uploadLocks.lock(id)
	defer unlock()
	if _, err := s.Upload(ctx, repo, id); err != nil {
		return err
	}
	s.endUpload(ctx, id)
	return nil
}

// refuse ends a session its namespace has no room for and returns the refusal.
func (s *Service) refuse(ctx context.Context, id string, qe *metadata.QuotaError) error {
	s.endUpload(ctx, id)
	return fmt.Errorf("%w: %w", ErrDenied, qe)
}

// roomReader passes at most left bytes and then, if the body goes on, stops with over
// set: a body of unknown size is cut where it would pass its namespace's room, before
// the byte that would.
type roomReader struct {
	r    io.Reader
	left int64
	over bool
}

var errNoRoom = errors.New("upload passes its namespace's storage quota")

func (q *roomReader) Read(p []byte) (int, error) {
	if q.left <= 0 {
		var probe [1]byte
		n, err := q.r.Read(probe[:])
		if n > 0 {
			q.over = true
			return 0, errNoRoom
		}
		return 0, err
	}
	if int64(len(p)) > q.left {
		p = p[:q.left]
	}
	n, err := q.r.Read(p)
	q.left -= int64(n)
	return n, err
}

// endUpload discards a session and its bytes; failures only leave garbage for the
// collector, so they are logged, not returned.
func (s *Service) endUpload(ctx context.Context, id string) {
	if err := s.meta.DeleteUpload(ctx, id); err != nil && !errors.Is(err, metadata.ErrNotFound) {
		s.log.Warn("remove upload session", "upload", id, "err", err)
	}
	if err := s.blobs.Abort(ctx, id); err != nil {
		s.log.Warn("remove upload data", "upload", id, "err", err)
	}
}

func newHash(alg digest.Algorithm) (hash.Hash, error) {
	if alg != digest.SHA256 && alg != digest.SHA512 {
		return nil, fmt.Errorf("%w: algorithm %q", ErrDigestInvalid, alg)
	}
	return alg.Hash(), nil
}

func marshalHash(h hash.Hash) ([]byte, error) {
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("save hash state: %w", err)
	}
	return state, nil
}
