// Package httpapi is the /v2/ HTTP edge of the registry: it routes requests, turns
// headers and query parameters into calls of the registry service, and maps the service's
// errors to OCI error JSON in one place. It holds no registry logic of its own.
package httpapi

import (
	"log/slog"
	"net/http"

	"github.com/berth-registry/berth/internal/registry"
)

// API serves the OCI Distribution API under /v2/.
type API struct {
	svc    *registry.Service
	log    *slog.Logger
	guard  Guard
	mirror Mirror // nil: no pull-through cache
}

// New returns the API over svc; guard (nil: none) decides who may do what.
func New(svc *registry.Service, log *slog.Logger, guard Guard) *API {
	return &API{svc: svc, log: log, guard: guard}
}

// ServeHTTP routes a request under /v2/ through the endpoint table.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, err := parseRoute(r.URL.Path)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	e, allow, ok := lookup(rt.kind, r.Method)
	if !ok {
		w.Header().Set("Allow", allow)
		a.writeError(w, r, errMethodNotAllowed)
		return
	}
	if a.readOnly(w, r, rt, e.need) {
		return
	}
	if r = a.authorize(w, r, rt, e.need); r == nil {
		return
	}
	e.handle(a, w, r, rt)
}

func (a *API) ping(w http.ResponseWriter, r *http.Request, _ route) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "2")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write([]byte("{}"))
	}
}
