package metadata

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// Upload is an upload session. Offset is the number of bytes received so far and
// HashState the serialised state of the digester after those bytes, so that any
// replica can continue the session.
type Upload struct {
	ID         string
	Repository string
	Algorithm  digest.Algorithm
	Offset     int64
	HashState  []byte
	StartedAt  time.Time
	UpdatedAt  time.Time
}

// Uploads keeps blob upload sessions.
type Uploads interface {
	// CreateUpload records a new upload session (Offset 0).
	CreateUpload(ctx context.Context, u Upload) error
	// Upload returns the session, or ErrNotFound.
	Upload(ctx context.Context, id string) (Upload, error)
	// AdvanceUpload moves the session from offset `from` to u.Offset with u.HashState;
	// ErrUploadConflict if it was not at `from`, ErrNotFound if it does not exist.
	AdvanceUpload(ctx context.Context, u Upload, from int64) error
	// DeleteUpload ends the session; ErrNotFound if it does not exist.
	DeleteUpload(ctx context.Context, id string) error
}
