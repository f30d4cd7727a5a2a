package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/registry"
)

// Mirror is the pull-through cache as the API consults it (package mirror implements
// it): the repositories it covers are read-only to clients, and what the store lacks of
// them comes from an upstream registry.
type Mirror interface {
	// Covers reports whether repo is a cached repository.
	Covers(repo string) bool
	// Refresh makes the store hold what ref names in repo, asking the upstream when
	// needed, and returns the cache status for the Berth-Cache header; "stale" means
	// the upstream failed and the stored copy is served.
	Refresh(ctx context.Context, repo string, ref registry.Reference) (string, error)
	// StatBlob returns the size of a blob of repo the store lacks, from the upstream.
	StatBlob(ctx context.Context, repo string, d digest.Digest) (int64, error)
	// FetchBlob streams a blob of repo the store lacks, from the upstream, while it is
	// stored; the stream fails rather than ends if the blob does not verify. It can Seek
	// from the start before the first Read.
	FetchBlob(ctx context.Context, repo string, d digest.Digest) (io.ReadSeekCloser, int64, error)
}

// UseMirror makes the API consult the pull-through cache m for the repositories it
// covers.
func (a *API) UseMirror(m Mirror) { a.mirror = m }

func (a *API) cached(repo string) bool { return a.mirror != nil && a.mirror.Covers(repo) }

// readOnly refuses a write to a cached repository before anything else, so a client
// learns why at once rather than after authenticating for a push it cannot make.
func (a *API) readOnly(w http.ResponseWriter, r *http.Request, rt route, need action) bool {
	if (need != actPush && need != actDelete) || rt.name == "" || !a.cached(rt.name) {
		return false
	}
	a.writeError(w, r, fmt.Errorf("%w: %s is a read-only pull-through cache of an upstream registry; push to a repository outside its prefix", registry.ErrDenied, rt.name))
	return true
}

// setCacheStatus tells the client how the cache answered; a stale answer carries the
// HTTP warning for it too (RFC 7234 §5.5.1).
func setCacheStatus(h http.Header, status string) {
	h.Set("Berth-Cache", status)
	if status == "stale" {
		h.Set("Warning", `110 - "Response is Stale"`)
	}
}

// uncachedBlob answers for a blob of a cached repository that the store lacks: its size
// (HEAD) or a stream of it (GET), both from the upstream.
func (a *API) uncachedBlob(r *http.Request, repo string, d digest.Digest) (metadata.Blob, io.ReadSeekCloser, error) {
	if r.Method == http.MethodHead {
		size, err := a.mirror.StatBlob(r.Context(), repo, d)
		return metadata.Blob{Digest: d, Size: size}, nil, err
	}
	rs, size, err := a.mirror.FetchBlob(r.Context(), repo, d)
	return metadata.Blob{Digest: d, Size: size}, rs, err
}
