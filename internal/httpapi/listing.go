package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
)

// pageRequest reads n and last. n must be a non-negative decimal number when present.
func pageRequest(r *http.Request) (registry.PageRequest, error) {
	q := r.URL.Query()
	p := registry.PageRequest{Last: q.Get("last")}
	if ns, ok := q["n"]; ok {
		n, err := strconv.Atoi(ns[0])
		if err != nil || n < 0 {
			return p, fmt.Errorf("%w: n=%q", registry.ErrPaginationInvalid, ns[0])
		}
		p.N, p.Limited = n, true
	}
	return p, nil
}

// setNextLink sends the RFC 8288 link to the page after `last`, relative and escaped; the
// caller sends it only when more items remain, so a full final page has none.
func setNextLink(w http.ResponseWriter, path, last string, n int, extra url.Values) {
	q := url.Values{"last": {last}, "n": {strconv.Itoa(n)}}
	for k, v := range extra {
		q[k] = v
	}
	w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, path, q.Encode()))
}

func (a *API) writeJSON(w http.ResponseWriter, r *http.Request, contentType string, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		a.writeError(w, r, fmt.Errorf("marshal response: %w", err))
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func (a *API) tags(w http.ResponseWriter, r *http.Request, rt route) {
	p, err := pageRequest(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	pg, err := a.svc.Tags(r.Context(), rt.name, p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if pg.More {
		setNextLink(w, rt.path(), pg.Items[len(pg.Items)-1], pg.N, nil)
	}
	a.writeJSON(w, r, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, pg.Items})
}

func (a *API) catalog(w http.ResponseWriter, r *http.Request, _ route) {
	p, err := pageRequest(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	pg, err := a.svc.Catalog(r.Context(), p, visibleTo(r.Context()))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if pg.More {
		setNextLink(w, route{kind: RouteCatalog}.path(), pg.Items[len(pg.Items)-1], pg.N, nil)
	}
	a.writeJSON(w, r, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{pg.Items})
}

type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       digest.Digest     `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
}

func (a *API) referrers(w http.ResponseWriter, r *http.Request, rt route) {
	subject, err := parseDigest(rt.arg)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	p, err := pageRequest(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	artifactType := r.URL.Query().Get("artifactType")
	pg, err := a.svc.Referrers(r.Context(), rt.name, subject, artifactType, p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	if pg.More {
		var extra url.Values
		if artifactType != "" {
			extra = url.Values{"artifactType": {artifactType}}
		}
		setNextLink(w, route{RouteReferrers, rt.name, subject.String()}.path(), pg.Items[len(pg.Items)-1].Digest.String(), pg.N, extra)
	}
	ds := make([]descriptor, len(pg.Items))
	for i, ref := range pg.Items {
		ds[i] = referrerDescriptor(ref)
	}
	a.writeJSON(w, r, oci.MediaTypeImageIndex, struct {
		SchemaVersion int          `json:"schemaVersion"`
		MediaType     string       `json:"mediaType"`
		Manifests     []descriptor `json:"manifests"`
	}{2, oci.MediaTypeImageIndex, ds})
}

func referrerDescriptor(ref metadata.Referrer) descriptor {
	return descriptor{
		MediaType:    ref.MediaType,
		Digest:       ref.Digest,
		Size:         ref.Size,
		ArtifactType: ref.ArtifactType,
		Annotations:  ref.Annotations,
	}
}
