package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/registry"
)

func (a *API) getManifest(w http.ResponseWriter, r *http.Request, rt route) {
	ref, err := registry.ParseReference(rt.arg)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	cacheStatus := ""
	if a.cached(rt.name) {
		if cacheStatus, err = a.mirror.Refresh(r.Context(), rt.name, ref); err != nil {
			a.writeError(w, r, err)
			return
		}
	}
	m, err := a.svc.Manifest(r.Context(), rt.name, ref)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	h := w.Header()
	if cacheStatus != "" {
		setCacheStatus(h, cacheStatus)
	}
	h.Set("Content-Type", m.MediaType)
	h.Set("Content-Length", strconv.Itoa(len(m.Payload)))
	h.Set("Docker-Content-Digest", m.Digest.String())
	h.Set("ETag", `"`+m.Digest.String()+`"`)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(m.Payload)
	}
}

func (a *API) putManifest(w http.ResponseWriter, r *http.Request, rt route) {
	ref, err := registry.ParseReference(rt.arg)
	if errors.Is(err, registry.ErrReferenceInvalid) {
		err = fmt.Errorf("%w: %v", registry.ErrManifestInvalid, err)
	}
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	extra := r.URL.Query()["tag"]
	if len(extra) > 0 && ref.Digest == "" {
		a.writeError(w, r, fmt.Errorf("%w: ?tag= needs a push by digest", registry.ErrManifestInvalid))
		return
	}
	body := newRequestBody(r)
	res, err := a.svc.PutManifest(r.Context(), rt.name, ref, r.Header.Get("Content-Type"), body, extra)
	if err != nil {
		if b := body.blame(err); errors.Is(b, errRequestBody) {
			err = fmt.Errorf("%w: %w", registry.ErrManifestInvalid, b)
		}
		a.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Location", route{RouteManifest, rt.name, res.Digest.String()}.path())
	h.Set("Docker-Content-Digest", res.Digest.String())
	if res.Subject != "" {
		h.Set("OCI-Subject", res.Subject.String())
	}
	for _, t := range extra {
		h.Add("OCI-Tag", t)
	}
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

func (a *API) deleteManifest(w http.ResponseWriter, r *http.Request, rt route) {
	ref, err := registry.ParseReference(rt.arg)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	if v, ok := r.URL.Query()["override"]; ok {
		if len(v) != 1 || v[0] != "immutable" {
			a.writeError(w, r, fmt.Errorf("%w: override=%q (the one override is override=immutable)", errBadRequest, v))
			return
		}
		// Only a caller the guard knows as an admin; without access control there is no
		// admin, so an immutable tag stays until its rule is removed.
		if c := callerOf(ctx); c == nil || !c.Admin() {
			a.writeError(w, r, errOverrideDenied)
			return
		}
		ctx = metadata.WithImmutableOverride(ctx)
	}
	if err := a.svc.DeleteManifest(ctx, rt.name, ref); err != nil {
		a.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}
