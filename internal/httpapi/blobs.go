package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
)

func parseDigest(s string) (digest.Digest, error) {
	d, err := oci.ParseDigest(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", registry.ErrDigestInvalid, err)
	}
	return d, nil
}

// getBlob serves GET and HEAD of a blob, with a single byte range when asked.
func (a *API) getBlob(w http.ResponseWriter, r *http.Request, rt route) {
	d, err := parseDigest(rt.arg)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	b, err := a.svc.Blob(r.Context(), rt.name, d)
	var fetched io.ReadSeekCloser // a blob on its way from the upstream of a cached repository
	cacheStatus := ""
	if a.cached(rt.name) {
		cacheStatus = "hit"
	}
	if errors.Is(err, registry.ErrBlobUnknown) && cacheStatus != "" {
		cacheStatus = "miss"
		b, fetched, err = a.uncachedBlob(r, rt.name, d)
		if fetched != nil {
			defer fetched.Close()
		}
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	h := w.Header()
	if cacheStatus != "" {
		setCacheStatus(h, cacheStatus)
	}
	h.Set("Docker-Content-Digest", d.String())
	h.Set("ETag", `"`+d.String()+`"`)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Cache-Control", "max-age=31536000, immutable")

	offset, length, status := int64(0), b.Size, http.StatusOK
	if rh := r.Header.Get("Range"); rh != "" && r.Method == http.MethodGet {
		o, l, err := oci.ParseRange(rh, b.Size)
		switch {
		case errors.Is(err, oci.ErrRangeUnsatisfiable):
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", b.Size))
			a.writeError(w, r, fmt.Errorf("%w: %s of %d bytes", registry.ErrRangeUnsatisfiable, rh, b.Size))
			return
		case err == nil:
			offset, length, status = o, l, http.StatusPartialContent
			h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", o, o+l-1, b.Size))
		}
		// A malformed Range header is ignored: the whole blob is served (RFC 9110 §14.2).
	}
	if r.Method == http.MethodGet && fetched == nil {
		// The object store serves the bytes (and the Range) itself; clients follow the
		// redirect without sending the registry's credentials there.
		if u, err := a.svc.BlobURL(r.Context(), d); err != nil {
			a.writeError(w, r, err)
			return
		} else if u != "" {
			h.Del("Content-Range")
			http.Redirect(w, r, u, http.StatusTemporaryRedirect)
			return
		}
	}
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	rc, err := a.openBlob(r, fetched, d, offset, length)
	if err != nil {
		h.Del("Content-Range")
		a.writeError(w, r, err)
		return
	}
	defer rc.Close()
	w.WriteHeader(status)
	if _, err := io.Copy(w, rc); err != nil {
		// Headers are gone; the client sees a short body, which its digest check catches.
		a.log.DebugContext(r.Context(), "blob body interrupted", "digest", d, "err", err)
	}
}

func (a *API) deleteBlob(w http.ResponseWriter, r *http.Request, rt route) {
	d, err := parseDigest(rt.arg)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if err := a.svc.DeleteBlob(r.Context(), rt.name, d); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// openBlob opens the part of the blob to send: from the store, or from the stream of a
// blob on its way from an upstream.
func (a *API) openBlob(r *http.Request, fetched io.ReadSeekCloser, d digest.Digest, offset, length int64) (io.ReadCloser, error) {
	if fetched == nil {
		return a.svc.OpenBlob(r.Context(), d, offset, length)
	}
	if offset > 0 {
		if _, err := fetched.Seek(offset, io.SeekStart); err != nil {
			return nil, fmt.Errorf("seek in fetched blob %s: %w", d, err)
		}
	}
	return io.NopCloser(io.LimitReader(fetched, length)), nil
}
