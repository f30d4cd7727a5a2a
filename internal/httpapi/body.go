package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// errRequestBody is a request body that could not be read to its end: the client stalled
// past the transfer idle timeout, or its connection broke. The fault is the client's, so
// it is answered as the client's (400), never as the registry's (500).
var errRequestBody = errors.New("request body could not be read")

// requestBody remembers why reading a client's body failed. The layers below may wrap
// that failure in their own words or lose it (a storage driver's upload error); blame
// puts it back, so that the client's failure is reported as such whatever became of it.
type requestBody struct {
	r   io.Reader
	n   int64
	err error
}

func newRequestBody(r *http.Request) *requestBody { return &requestBody{r: r.Body} }

func (b *requestBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	b.n += int64(n)
	if err != nil && !errors.Is(err, io.EOF) && b.err == nil {
		b.err = err
	}
	return n, err
}

// blame returns err, or the body's own failure when reading it failed: a 500 for the
// storage write that the broken body cut short would be wrong.
func (b *requestBody) blame(err error) error {
	if err == nil || b.err == nil {
		return err
	}
	return fmt.Errorf("%w after %d bytes: %w", errRequestBody, b.n, b.err)
}
