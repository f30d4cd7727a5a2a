package httpapi

import (
	"net/http"
	"strings"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
	"github.com/berth-registry/berth/internal/registry"
)

// UsagePath is where the usage API lives.
const UsagePath = "/berth/v1/usage"

// usageJSON is a namespace's usage as the API shows it; limit 0 means none.
type usageJSON struct {
	Namespace string `json:"namespace"`
	Bytes     int64  `json:"bytes"`
	Objects   int64  `json:"objects"`
	Limit     int64  `json:"limit"`
}

func usageOf(u metadata.Usage) usageJSON {
	return usageJSON{Namespace: u.Namespace, Bytes: u.Bytes, Objects: u.Objects, Limit: u.Limit}
}

// ServeUsage answers Berth's usage API, with the access control and error JSON of /v2/:
//
//   - GET /berth/v1/usage/<repository>: the usage of the repository's namespace, and the
//     repository's tags, to callers who may pull the repository;
//   - GET /berth/v1/usage?n=&last=: the namespaces that store anything, paged like the
//     catalog, to callers who may list it, each namespace only if they may pull one of
//     its repositories.
func (a *API) ServeUsage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		a.writeError(w, r, errMethodNotAllowed)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, UsagePath)
	switch {
	case !ok:
		a.writeError(w, r, errNotFound)
	case rest == "" || rest == "/":
		a.listUsage(w, r)
	default:
		a.repositoryUsage(w, r, strings.TrimPrefix(rest, "/"))
	}
}

func (a *API) repositoryUsage(w http.ResponseWriter, r *http.Request, repo string) {
	if !oci.ValidRepository(repo) {
		a.writeError(w, r, registry.ErrNameInvalid)
		return
	}
	if r = a.authorize(w, r, route{name: repo}, actPull); r == nil {
		return
	}
	u, err := a.svc.RepositoryUsage(r.Context(), repo)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	a.writeJSON(w, r, "application/json", struct {
		usageJSON
		Repository string `json:"repository"`
		Tags       int    `json:"tags"`
		TagLimit   int    `json:"tag_limit"`
	}{usageOf(u.Usage), u.Repository, u.Tags, u.TagLimit})
}

func (a *API) listUsage(w http.ResponseWriter, r *http.Request) {
	if r = a.authorize(w, r, route{kind: RouteCatalog}, actCatalog); r == nil {
		return
	}
	p, err := pageRequest(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	pg, err := a.svc.Usage(r.Context(), p, visibleTo(r.Context()), seesUnderFor(r.Context()))
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if pg.More {
		setNextLink(w, UsagePath, pg.Items[len(pg.Items)-1].Namespace, pg.N, nil)
	}
	list := make([]usageJSON, len(pg.Items))
	for i, u := range pg.Items {
		list[i] = usageOf(u)
	}
	a.writeJSON(w, r, "application/json", struct {
		Namespaces []usageJSON `json:"namespaces"`
	}{list})
}
