// Package registrysim simulates how real registries list tags, from their documented and
// observed behaviour (see Berth's docs on pagination), in httptest servers: gitlab,
// ghcr.io, Docker Hub (with its token flow), Quay, Distribution 2.8 and Distribution v3.
// Each holds a tag set that tests may change while a client walks it. Reusable by any
// project that wants to test a registry client against them.
package registrysim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
)

// Kind is a registry behaviour.
type Kind string

// The simulated registries.
const (
	// GitLab pages at 100 even without n (n=0 also means 100), sorted, with a relative
	// Link `</v2/<name>/tags/list?last=X&n=100>; rel="next"` while more remain.
	GitLab Kind = "gitlab"
	// GHCR paginates by default (100), in its own order (not sorted), with an absolute
	// Link that carries n=0; taken literally, n=0 is an empty page.
	GHCR Kind = "ghcr"
	// DockerHub pages at 100 (n is capped at 100), sorted, relative Link, behind the
	// Bearer token flow; repositories under "library/" refuse listing with
	// insufficient_scope even with a fresh token, as official images do.
	DockerHub Kind = "dockerhub"
	// Quay pages at 50 by default (n up to 100) and links the next page with an opaque
	// next_page token instead of last.
	Quay Kind = "quay"
	// Distribution28 ignores n and last: every tag, unsorted, no Link.
	Distribution28 Kind = "distribution-2.8"
	// DistributionV3 sorts, returns everything without n, clamps n to 1000 with a Link,
	// sends a Link after an exactly full final page, and answers a bad n with 400
	// PAGINATION_NUMBER_INVALID.
	DistributionV3 Kind = "distribution-v3"
)

// Kinds lists every simulated registry.
var Kinds = []Kind{GitLab, GHCR, DockerHub, Quay, Distribution28, DistributionV3}

// Registry is a running simulation.
type Registry struct {
	*httptest.Server
	kind Kind

	mu    sync.Mutex
	repos map[string]*tagSet
	// Requests counts tags/list requests, for tests that check round trips.
	requests int
}

// tagSet keeps tags with a sequence number: the order of registries that do not sort
// (ghcr.io), stable across deletes through tombstones.
type tagSet struct {
	seq     map[string]int
	deleted map[string]int
	next    int
}

// New starts a simulation of kind. Close it when done.
func New(kind Kind) *Registry {
	r := &Registry{kind: kind, repos: map[string]*tagSet{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", r.token)
	mux.HandleFunc("/v2/", r.serve)
	r.Server = httptest.NewServer(mux)
	return r
}

// Host is the registry's host:port.
func (r *Registry) Host() string { return strings.TrimPrefix(r.URL, "http://") }

// Requests returns how many tags/list requests were answered.
func (r *Registry) Requests() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests
}

// AddTags adds tags to repo (creating it).
func (r *Registry) AddTags(repo string, tags ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.repos[repo]
	if s == nil {
		s = &tagSet{seq: map[string]int{}, deleted: map[string]int{}}
		r.repos[repo] = s
	}
	for _, t := range tags {
		if _, ok := s.seq[t]; !ok {
			// A stable scramble of insertion order: ghcr.io's pages are not sorted.
			s.next++
			s.seq[t] = s.next
			delete(s.deleted, t)
		}
	}
}

// DeleteTags removes tags from repo.
func (r *Registry) DeleteTags(repo string, tags ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.repos[repo]; s != nil {
		for _, t := range tags {
			if n, ok := s.seq[t]; ok {
				s.deleted[t] = n
				delete(s.seq, t)
			}
		}
	}
}

// sorted returns the tags in byte order; byCreation in sequence order.
func (s *tagSet) sorted() []string {
	out := make([]string, 0, len(s.seq))
	for t := range s.seq {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

func (s *tagSet) byCreation() []string {
	out := make([]string, 0, len(s.seq))
	for t := range s.seq {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b string) int { return s.seq[a] - s.seq[b] })
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]string{{"code": code, "message": msg}}})
}

func (r *Registry) serve(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/v2/" {
		w.WriteHeader(http.StatusOK)
		return
	}
	name, ok := strings.CutSuffix(strings.TrimPrefix(req.URL.Path, "/v2/"), "/tags/list")
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "not simulated")
		return
	}
	if r.kind == DockerHub && !r.authorised(w, req, name) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	s := r.repos[name]
	if s == nil {
		writeError(w, http.StatusNotFound, "NAME_UNKNOWN", "repository name not known to registry")
		return
	}
	q := req.URL.Query()
	switch r.kind {
	case GitLab:
		r.keyset(w, name, s.sorted(), q.Get("last"), pageSize(q, 100, 1000, true), false)
	case DockerHub:
		r.keyset(w, name, s.sorted(), q.Get("last"), pageSize(q, 100, 100, true), false)
	case GHCR:
		r.ghcr(w, req, name, s, q)
	case Quay:
		r.quay(w, name, s, q)
	case Distribution28:
		tags := s.byCreation()
		// Reverse creation order: neither sorted nor stable across requests of a set
		// that changes, like the filesystem walk of Distribution 2.8.
		slices.Reverse(tags)
		writeJSON(w, map[string]any{"name": name, "tags": tags})
	case DistributionV3:
		r.distributionV3(w, name, s, q)
	}
}

// pageSize reads n: def when absent (or zero, when zeroIsDefault), clamped to max.
func pageSize(q map[string][]string, def, max int, zeroIsDefault bool) int {
	n := def
	if v, ok := q["n"]; ok {
		fmt.Sscan(v[0], &n)
		if n <= 0 && zeroIsDefault {
			n = def
		}
	}
	return min(n, max)
}

// keyset answers a sorted page after last, linking the next page relatively while more
// remain.
func (r *Registry) keyset(w http.ResponseWriter, name string, sorted []string, last string, n int, linkWhenFull bool) {
	i, _ := slices.BinarySearch(sorted, last)
	if i < len(sorted) && sorted[i] == last {
		i++
	}
	page := sorted[i:min(i+n, len(sorted))]
	more := i+n < len(sorted)
	if len(page) > 0 && (more || (linkWhenFull && len(page) == n)) {
		w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?last=%s&n=%d>; rel="next"`, name, page[len(page)-1], n))
	}
	if page == nil {
		page = []string{}
	}
	writeJSON(w, map[string]any{"name": name, "tags": page})
}

func (r *Registry) ghcr(w http.ResponseWriter, req *http.Request, name string, s *tagSet, q map[string][]string) {
	n := 100
	if v, ok := q["n"]; ok {
		fmt.Sscan(v[0], &n)
	}
	n = min(max(n, 0), 1000)
	order := s.byCreation()
	start := 0
	if last := first(q["last"]); last != "" {
		pos, ok := s.seq[last]
		if !ok {
			pos = s.deleted[last]
		}
		start = len(order)
		for i, t := range order {
			if s.seq[t] > pos {
				start = i
				break
			}
		}
	}
	page := order[start:min(start+n, len(order))]
	if len(page) > 0 && start+n < len(order) {
		w.Header().Set("Link", fmt.Sprintf(`<http://%s/v2/%s/tags/list?last=%s&n=0>; rel="next"`, req.Host, name, page[len(page)-1]))
	}
	writeJSON(w, map[string]any{"name": name, "tags": page})
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}
