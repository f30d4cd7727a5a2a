package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/berth-registry/berth/client"
)

// endpoint is where images are copied from or to: a repository of a registry, or an OCI
// image layout directory. Copy, push and pull all go through it, so that every
// combination works the same way.
type endpoint interface {
	String() string
	// getManifest returns the manifest ref (a tag or digest) and its descriptor.
	getManifest(ctx context.Context, ref string) (client.Descriptor, []byte, error)
	// putManifest stores a manifest; ref is a tag, or its digest when it has none. root
	// reports whether it is what the user asked for (and not a child of an index), which
	// a layout records in its index.json.
	putManifest(ctx context.Context, ref string, desc client.Descriptor, body []byte, root bool) error
	hasBlob(ctx context.Context, d string) bool
	getBlob(ctx context.Context, d string) (io.ReadCloser, int64, error)
	putBlob(ctx context.Context, d string, size int64, r io.Reader) error
	// referrers lists the manifests whose subject is d.
	referrers(ctx context.Context, d string) ([]client.Descriptor, error)
}

// layoutPrefix marks an OCI image layout directory in a reference, as skopeo spells it.
const layoutPrefix = "oci:"

// parseEndpoint reads HOST/REPO[:TAG|@DIGEST] or oci:DIR[:TAG|@DIGEST]. An empty ref
// means the caller did not give one.
func (e *env) parseEndpoint(s string) (endpoint, string, error) {
	if dir, ok := strings.CutPrefix(s, layoutPrefix); ok {
		ref := ""
		if i := strings.LastIndex(dir, "@"); i >= 0 {
			dir, ref = dir[:i], dir[i+1:]
		} else if i := strings.LastIndex(dir, ":"); i > strings.LastIndex(dir, "/") {
			dir, ref = dir[:i], dir[i+1:]
		}
		if dir == "" {
			return nil, "", Usagef(e.cmd.Name, "%q: no directory after %s", s, layoutPrefix)
		}
		if isDigest(ref) {
			if err := checkDigest(ref); err != nil {
				return nil, "", &UsageError{Cmd: e.cmd.Name, Err: err}
			}
		}
		return &layout{dir: dir}, ref, nil
	}
	repo, ref, err := parseRef(s)
	if err != nil {
		return nil, "", &UsageError{Cmd: e.cmd.Name, Err: err}
	}
	c, err := e.client()
	if err != nil {
		return nil, "", err
	}
	return &remote{e: e, c: c, repo: repo}, ref, nil
}

// remote is a repository of a registry.
type remote struct {
	e    *env
	c    *client.Client
	repo client.Repository
}

func (r *remote) String() string { return r.repo.String() }

func (r *remote) getManifest(ctx context.Context, ref string) (client.Descriptor, []byte, error) {
	desc, body, err := r.c.ManifestGet(ctx, r.repo, ref)
	if err != nil {
		return desc, nil, r.e.explain(err, "read "+refString(r.repo, ref))
	}
	return desc, body, nil
}

func (r *remote) putManifest(ctx context.Context, ref string, desc client.Descriptor, body []byte, _ bool) error {
	if _, err := r.c.ManifestPut(ctx, r.repo, ref, desc.MediaType, body); err != nil {
		return r.e.explain(err, "write "+refString(r.repo, ref))
	}
	return nil
}

func (r *remote) hasBlob(ctx context.Context, d string) bool {
	_, err := r.c.BlobHead(ctx, r.repo, d)
	return err == nil
}

func (r *remote) getBlob(ctx context.Context, d string) (io.ReadCloser, int64, error) {
	rc, size, err := r.c.BlobGet(ctx, r.repo, d)
	if err != nil {
		return nil, 0, r.e.explain(err, fmt.Sprintf("read blob %s from %s", d, r.repo))
	}
	return rc, size, nil
}

func (r *remote) putBlob(ctx context.Context, d string, size int64, rd io.Reader) error {
	if err := r.c.BlobPut(ctx, r.repo, d, size, rd); err != nil {
		return r.e.explain(err, fmt.Sprintf("write blob %s to %s", d, r.repo))
	}
	return nil
}

func (r *remote) referrers(ctx context.Context, d string) ([]client.Descriptor, error) {
	refs, err := r.c.Referrers(ctx, r.repo, d, "")
	if err != nil && client.StatusCode(err) != http.StatusNotFound {
		return nil, r.e.explain(err, "list referrers of "+d)
	}
	return refs, nil
}

// mount tries a cross-repository mount from src, which must be on the same registry.
func (r *remote) mount(ctx context.Context, d string, src endpoint) bool {
	from, ok := src.(*remote)
	if !ok || from.repo.Host != r.repo.Host {
		return false
	}
	ok, err := r.c.BlobMount(ctx, r.repo, d, from.repo.Name)
	return err == nil && ok
}
