// Package httpapi is the /v2/ HTTP edge of the registry: it routes requests, turns
// headers and query parameters into calls of the registry service, and maps the service's
// errors to OCI error JSON in one place. It holds no registry logic of its own.
package httpapi

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/registry"
)

// API serves the OCI Distribution API under /v2/.
type API struct {
	svc   *registry.Service
	log   *slog.Logger
	guard Guard
}

// New returns the API over svc; guard (nil: none) decides who may do what.
func New(svc *registry.Service, log *slog.Logger, guard Guard) *API {
	return &API{svc: svc, log: log, guard: guard}
}

// route is what a /v2/ path addresses.
type route struct {
	kind string // "ping", "catalog", "manifest", "blob", "upload", "tags", "referrers"
	name string // repository
	arg  string // reference, digest or upload id
}

// parseRoute splits a /v2/ path by its shape from the end, because repository names
// contain slashes (and may contain "blobs" or "manifests" as components): the last
// segments decide what is addressed, and everything before them is the name.
func parseRoute(path string) (route, bool) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return route{}, false
	}
	switch rest {
	case "":
		return route{kind: "ping"}, true
	case "_catalog":
		return route{kind: "catalog"}, true
	}
	seg := strings.Split(rest, "/")
	n := len(seg)
	if n < 3 {
		return route{}, false
	}
	name := func(k int) string { return strings.Join(seg[:n-k], "/") }
	switch {
	case seg[n-2] == "manifests":
		return route{"manifest", name(2), seg[n-1]}, true
	case seg[n-2] == "referrers":
		return route{"referrers", name(2), seg[n-1]}, true
	case seg[n-2] == "tags" && seg[n-1] == "list":
		return route{"tags", name(2), ""}, true
	case seg[n-2] == "blobs" && seg[n-1] == "uploads":
		return route{"upload", name(2), ""}, true
	case seg[n-2] == "blobs":
		return route{"blob", name(2), seg[n-1]}, true
	case n >= 4 && seg[n-3] == "blobs" && seg[n-2] == "uploads":
		return route{"upload", name(3), seg[n-1]}, true
	}
	return route{}, false
}

// RouteKind names what a /v2/ path addresses — ping, catalog, manifest, blob, upload,
// tags or referrers — or "" when it addresses nothing, for metrics and limits in front of
// the API that must agree with its routing.
func RouteKind(path string) string {
	rt, _ := parseRoute(path)
	return rt.kind
}

// ServeHTTP routes a request under /v2/.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, ok := parseRoute(r.URL.Path)
	if !ok {
		a.writeError(w, r, errNotFound)
		return
	}
	type handler func(http.ResponseWriter, *http.Request, route)
	var methods map[string]handler
	switch rt.kind {
	case "ping":
		methods = map[string]handler{"GET": a.ping, "HEAD": a.ping}
	case "catalog":
		methods = map[string]handler{"GET": a.catalog}
	case "tags":
		methods = map[string]handler{"GET": a.tags}
	case "manifest":
		methods = map[string]handler{"GET": a.getManifest, "HEAD": a.getManifest, "PUT": a.putManifest, "DELETE": a.deleteManifest}
	case "blob":
		methods = map[string]handler{"GET": a.getBlob, "HEAD": a.getBlob, "DELETE": a.deleteBlob}
	case "upload":
		if rt.arg == "" {
			methods = map[string]handler{"POST": a.startUpload}
		} else {
			methods = map[string]handler{"GET": a.uploadStatus, "PATCH": a.patchUpload, "PUT": a.finishUpload, "DELETE": a.cancelUpload}
		}
	case "referrers":
		methods = map[string]handler{"GET": a.referrers}
	}
	h, ok := methods[r.Method]
	if !ok {
		allow := make([]string, 0, len(methods))
		for m := range methods {
			allow = append(allow, m)
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		a.writeError(w, r, errMethodNotAllowed)
		return
	}
	if r = a.authorize(w, r, rt); r == nil {
		return
	}
	h(w, r, rt)
}

func (a *API) ping(w http.ResponseWriter, r *http.Request, _ route) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte("{}"))
	}
}
