package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
)

// RouteKind is what a /v2/ path addresses. The zero value, RouteNone, addresses nothing.
type RouteKind uint8

// The kinds of /v2/ paths.
const (
	RouteNone       RouteKind = iota
	RoutePing                 // /v2/
	RouteCatalog              // /v2/_catalog
	RouteTags                 // /v2/<name>/tags/list
	RouteManifest             // /v2/<name>/manifests/<reference>
	RouteBlob                 // /v2/<name>/blobs/<digest>
	RouteUploads              // /v2/<name>/blobs/uploads/ (starts a session)
	RouteUpload               // /v2/<name>/blobs/uploads/<id> (one session)
	RouteReferrers            // /v2/<name>/referrers/<digest>
	RouteTagHistory           // /berth/v1/repositories/<name>/tags/<tag>/history
)

// String is the kind's name as metrics label it. Both upload kinds are "upload": limits
// in front of the API treat every request that carries blob bytes alike.
func (k RouteKind) String() string {
	switch k {
	case RoutePing:
		return "ping"
	case RouteCatalog:
		return "catalog"
	case RouteTags:
		return "tags"
	case RouteManifest:
		return "manifest"
	case RouteBlob:
		return "blob"
	case RouteUploads, RouteUpload:
		return "upload"
	case RouteReferrers:
		return "referrers"
	case RouteTagHistory:
		return "tag_history"
	}
	return ""
}

// Classify names what a /v2/ or /berth/v1/ path addresses (RouteNone: nothing), for
// metrics and limits
// in front of the API that must agree with its routing. A path of the right shape with
// an invalid repository name still has its kind: the API answers it NAME_INVALID.
func Classify(path string) RouteKind {
	rt, _ := parseRoute(path)
	return rt.kind
}

// route is what a /v2/ path addresses.
type route struct {
	kind RouteKind
	name string // repository
	arg  string // reference, digest or upload id
}

// berthPrefix starts Berth's own API (tag history), beside the OCI API under /v2/.
const berthPrefix = "/berth/v1/repositories/"

// parseRoute splits a /v2/ path by its shape from the end, because repository names
// contain slashes (and may contain "blobs" or "manifests" as components): the last
// segments decide what is addressed, and everything before them is the name. It fails
// with errNotFound when the path addresses nothing and with registry.ErrNameInvalid
// (keeping the kind) when the name is not a valid repository name, so that no handler
// ever sees an invalid name.
func parseRoute(path string) (route, error) {
	if rest, ok := strings.CutPrefix(path, berthPrefix); ok {
		return parseBerthRoute(rest)
	}
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		return route{}, errNotFound
	}
	switch rest {
	case "":
		return route{kind: RoutePing}, nil
	case "_catalog":
		return route{kind: RouteCatalog}, nil
	}
	seg := strings.Split(rest, "/")
	n := len(seg)
	if n < 3 {
		return route{}, errNotFound
	}
	var rt route
	name := func(k int) string { return strings.Join(seg[:n-k], "/") }
	switch {
	case seg[n-2] == "manifests":
		rt = route{RouteManifest, name(2), seg[n-1]}
	case seg[n-2] == "referrers":
		rt = route{RouteReferrers, name(2), seg[n-1]}
	case seg[n-2] == "tags" && seg[n-1] == "list":
		rt = route{RouteTags, name(2), ""}
	case seg[n-2] == "blobs" && seg[n-1] == "uploads":
		rt = route{RouteUploads, name(2), ""}
	case seg[n-2] == "blobs":
		rt = route{RouteBlob, name(2), seg[n-1]}
	case n >= 4 && seg[n-3] == "blobs" && seg[n-2] == "uploads" && seg[n-1] == "":
		rt = route{RouteUploads, name(3), ""}
	case n >= 4 && seg[n-3] == "blobs" && seg[n-2] == "uploads":
		rt = route{RouteUpload, name(3), seg[n-1]}
	default:
		return route{}, errNotFound
	}
	return checkRouteName(rt)
}

// parseBerthRoute reads what follows /berth/v1/repositories/: <name>/tags/<tag>/history.
func parseBerthRoute(rest string) (route, error) {
	seg := strings.Split(rest, "/")
	n := len(seg)
	if n < 4 || seg[n-3] != "tags" || seg[n-1] != "history" || seg[n-2] == "" {
		return route{}, errNotFound
	}
	return checkRouteName(route{RouteTagHistory, strings.Join(seg[:n-3], "/"), seg[n-2]})
}

func checkRouteName(rt route) (route, error) {
	if !oci.ValidRepository(rt.name) {
		return rt, fmt.Errorf("%w: %q", registry.ErrNameInvalid, rt.name)
	}
	return rt, nil
}

// path is the route's /v2/ path, as Location and Link headers name it; parseRoute reads it
// back as the same route.
func (rt route) path() string {
	switch rt.kind {
	case RoutePing:
		return "/v2/"
	case RouteCatalog:
		return "/v2/_catalog"
	case RouteTags:
		return "/v2/" + rt.name + "/tags/list"
	case RouteManifest:
		return "/v2/" + rt.name + "/manifests/" + rt.arg
	case RouteBlob:
		return "/v2/" + rt.name + "/blobs/" + rt.arg
	case RouteUploads:
		return "/v2/" + rt.name + "/blobs/uploads/"
	case RouteUpload:
		return "/v2/" + rt.name + "/blobs/uploads/" + rt.arg
	case RouteReferrers:
		return "/v2/" + rt.name + "/referrers/" + rt.arg
	case RouteTagHistory:
		return berthPrefix + rt.name + "/tags/" + rt.arg + "/history"
	}
	return ""
}

// action is what a caller must be allowed to do for a request.
type action uint8

const (
	actAuthenticated action = iota // any identified caller (the version check)
	actCatalog                     // list repositories
	actPull                        // on the route's repository
	actPush
	actDelete
)

// endpoint is one (kind, method) the API answers, the handler that answers it and the
// right it requires.
type endpoint struct {
	kind   RouteKind
	method string
	need   action
	handle func(*API, http.ResponseWriter, *http.Request, route)
}

// endpoints is the API: every request is routed, authorised and, when its method does not
// fit, answered 405 from this one table.
var endpoints = []endpoint{
	{RoutePing, http.MethodGet, actAuthenticated, (*API).ping},
	{RoutePing, http.MethodHead, actAuthenticated, (*API).ping},
	{RouteCatalog, http.MethodGet, actCatalog, (*API).catalog},
	{RouteTags, http.MethodGet, actPull, (*API).tags},
	{RouteManifest, http.MethodGet, actPull, (*API).getManifest},
	{RouteManifest, http.MethodHead, actPull, (*API).getManifest},
	{RouteManifest, http.MethodPut, actPush, (*API).putManifest},
	{RouteManifest, http.MethodDelete, actDelete, (*API).deleteManifest},
	{RouteBlob, http.MethodGet, actPull, (*API).getBlob},
	{RouteBlob, http.MethodHead, actPull, (*API).getBlob},
	{RouteBlob, http.MethodDelete, actDelete, (*API).deleteBlob},
	{RouteUploads, http.MethodPost, actPush, (*API).startUpload},
	// Every request on a session needs push: its status tells how far a push got.
	{RouteUpload, http.MethodGet, actPush, (*API).uploadStatus},
	{RouteUpload, http.MethodPatch, actPush, (*API).patchUpload},
	{RouteUpload, http.MethodPut, actPush, (*API).finishUpload},
	{RouteUpload, http.MethodDelete, actPush, (*API).cancelUpload},
	{RouteReferrers, http.MethodGet, actPull, (*API).referrers},
	{RouteTagHistory, http.MethodGet, actPull, (*API).tagHistory},
	{RouteTagHistory, http.MethodHead, actPull, (*API).tagHistory},
}

// methodOrder is the order of methods in an Allow header, whatever the table's order.
var methodOrder = []string{http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPost, http.MethodPatch, http.MethodDelete}

// lookup finds the endpoint of a kind and method; without one, it returns the Allow
// header value of the kind.
func lookup(kind RouteKind, method string) (endpoint, string, bool) {
	for _, e := range endpoints {
		if e.kind == kind && e.method == method {
			return e, "", true
		}
	}
	return endpoint{}, allow(kind), false
}

// allow lists the methods the table answers for kind, in methodOrder.
func allow(kind RouteKind) string {
	var ms []string
	for _, m := range methodOrder {
		for _, e := range endpoints {
			if e.kind == kind && e.method == m {
				ms = append(ms, m)
				break
			}
		}
	}
	return strings.Join(ms, ", ")
}

// scope is the token scope a client should ask for to make a request needing `need` on
// the route.
func scope(rt route, need action) string {
	switch need {
	case actAuthenticated:
		return ""
	case actCatalog:
		return "registry:catalog:*"
	case actPush:
		return "repository:" + rt.name + ":pull,push" // what docker and containerd ask for when pushing
	case actDelete:
		return "repository:" + rt.name + ":delete"
	}
	return "repository:" + rt.name + ":pull"
}

// repositoryAction is the Guard's name of a repository action.
func repositoryAction(need action) string {
	switch need {
	case actPush:
		return "push"
	case actDelete:
		return "delete"
	}
	return "pull"
}
