package httpapi

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
)

func uploadLocation(name, id string) string { return route{RouteUpload, name, id}.path() }

// writeUploadState answers with where an upload session stands: its URL and the range of
// bytes it holds ("0-0" when empty, as Distribution does).
func writeUploadState(w http.ResponseWriter, u metadata.Upload, status int) {
	h := w.Header()
	h.Set("Location", uploadLocation(u.Repository, u.ID))
	h.Set("Docker-Upload-UUID", u.ID)
	h.Set("Range", fmt.Sprintf("0-%d", max(u.Offset-1, 0)))
	h.Set("Content-Length", "0")
	w.WriteHeader(status)
}

func writeBlobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	h := w.Header()
	h.Set("Location", route{RouteBlob, name, d.String()}.path())
	h.Set("Docker-Content-Digest", d.String())
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// startUpload handles POST .../blobs/uploads/: a mount, a whole blob in one request, or
// the start of a session.
func (a *API) startUpload(w http.ResponseWriter, r *http.Request, rt route) {
	ctx, q := r.Context(), r.URL.Query()
	if m := q.Get("mount"); m != "" {
		d, err := parseDigest(m)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		// The caller's rights decide, not its token: clients ask for a token scoped to
		// the repository they push to, as the challenge names it.
		mounted, err := a.svc.Mount(ctx, rt.name, d, q.Get("from"), visibleTo(ctx))
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		if mounted {
			writeBlobCreated(w, rt.name, d)
			return
		}
		// Not mountable: the spec's answer is a normal upload session (202).
	} else if ds := q.Get("digest"); ds != "" {
		d, err := parseDigest(ds)
		if err != nil {
			a.writeError(w, r, err)
			return
		}
		body := newRequestBody(r)
		if _, err := a.svc.PutBlob(ctx, rt.name, d, r.ContentLength, body); err != nil {
			a.writeError(w, r, body.blame(err))
			return
		}
		writeBlobCreated(w, rt.name, d)
		return
	}
	alg := digest.Canonical
	if as := q.Get("digest-algorithm"); as != "" {
		var err error
		if alg, err = oci.ParseAlgorithm(as); err != nil {
			a.writeError(w, r, fmt.Errorf("%w: %w", registry.ErrDigestInvalid, err))
			return
		}
	}
	u, err := a.svc.StartUpload(ctx, rt.name, alg)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeUploadState(w, u, http.StatusAccepted)
}

func (a *API) uploadStatus(w http.ResponseWriter, r *http.Request, rt route) {
	u, err := a.svc.Upload(r.Context(), rt.name, rt.arg)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	writeUploadState(w, u, http.StatusNoContent)
}

// chunk reads where a request body belongs in an upload: start -1 and size -1 for a
// streamed body without Content-Range.
func chunk(r *http.Request) (start, size int64, err error) {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return -1, -1, nil
	}
	s, e, err := oci.ParseUploadRange(cr)
	if err != nil {
		return 0, 0, fmt.Errorf("%w: Content-Range %q: %w", registry.ErrUploadOutOfOrder, cr, err)
	}
	size = e - s + 1
	if r.ContentLength >= 0 && r.ContentLength != size {
		return 0, 0, fmt.Errorf("%w: Content-Range %q does not match Content-Length %d", registry.ErrUploadOutOfOrder, cr, r.ContentLength)
	}
	return s, size, nil
}

func (a *API) patchUpload(w http.ResponseWriter, r *http.Request, rt route) {
	start, size, err := chunk(r)
	if err == nil {
		if size < 0 {
			size = r.ContentLength // known before any byte arrives: the quota's first check
		}
		var u metadata.Upload
		body := newRequestBody(r)
		if u, err = a.svc.AppendUpload(r.Context(), rt.name, rt.arg, start, size, body); err == nil {
			writeUploadState(w, u, http.StatusAccepted)
			return
		}
		err = body.blame(err)
	}
	a.writeUploadError(w, r, rt, err)
}

func (a *API) finishUpload(w http.ResponseWriter, r *http.Request, rt route) {
	ds := r.URL.Query().Get("digest")
	if ds == "" {
		a.writeError(w, r, fmt.Errorf("%w: digest parameter missing", registry.ErrDigestInvalid))
		return
	}
	d, err := parseDigest(ds)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	start, size, err := chunk(r)
	if err != nil {
		a.writeUploadError(w, r, rt, err)
		return
	}
	var body io.Reader
	rb := newRequestBody(r)
	if r.ContentLength != 0 {
		body = rb
		if size < 0 {
			size = r.ContentLength
		}
	}
	if _, err := a.svc.FinishUpload(r.Context(), rt.name, rt.arg, d, start, size, body); err != nil {
		a.writeUploadError(w, r, rt, rb.blame(err))
		return
	}
	writeBlobCreated(w, rt.name, d)
}

// writeUploadError adds the session's state to a 416, so the client can resume from it.
func (a *API) writeUploadError(w http.ResponseWriter, r *http.Request, rt route, err error) {
	if errors.Is(err, registry.ErrUploadOutOfOrder) {
		if u, uerr := a.svc.Upload(r.Context(), rt.name, rt.arg); uerr == nil {
			w.Header().Set("Location", uploadLocation(u.Repository, u.ID))
			w.Header().Set("Range", fmt.Sprintf("0-%d", max(u.Offset-1, 0)))
		}
	}
	a.writeError(w, r, err)
}

func (a *API) cancelUpload(w http.ResponseWriter, r *http.Request, rt route) {
	if err := a.svc.CancelUpload(r.Context(), rt.name, rt.arg); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
}
