package client

import (
	"context"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/client/internal/httphdr"
)

// Tags returns every tag of the repository, without duplicates, in byte order.
func (c *Client) Tags(ctx context.Context, repo Repository) ([]string, error) {
	return sortedSet(c.TagPages(ctx, repo))
}

// TagPages walks the tag list a page at a time, as the registry pages it. A page may
// repeat tags of earlier pages (registries that do not sort); Tags removes them.
func (c *Client) TagPages(ctx context.Context, repo Repository) iter.Seq2[[]string, error] {
	return walk(ctx, c, nameListing(repo.Host, "/v2/"+repo.Name+"/tags/list", pullScope(repo), "tags"))
}

// Catalog returns every repository of the registry at host, in byte order.
func (c *Client) Catalog(ctx context.Context, host string) ([]string, error) {
	return sortedSet(c.CatalogPages(ctx, host))
}

// CatalogPages walks the catalog a page at a time.
func (c *Client) CatalogPages(ctx context.Context, host string) iter.Seq2[[]string, error] {
	return walk(ctx, c, nameListing(host, "/v2/_catalog", "registry:catalog:*", "repositories"))
}

// Referrers lists the manifests whose subject is d (of artifactType only, when given),
// in the order the registry pages them, each once.
func (c *Client) Referrers(ctx context.Context, repo Repository, d, artifactType string) ([]Descriptor, error) {
	path := "/v2/" + repo.Name + "/referrers/" + d
	if artifactType != "" {
		path += "?" + url.Values{"artifactType": {artifactType}}.Encode()
	}
	return collect(walk(ctx, c, listing[Descriptor]{
		host:   repo.Host,
		path:   path,
		scope:  pullScope(repo),
		accept: "application/vnd.oci.image.index.v1+json",
		decode: func(r io.Reader) ([]Descriptor, error) {
			var idx struct{ Manifests []Descriptor }
			err := decodeJSON(io.LimitReader(r, maxManifestSize), &idx)
			return idx.Manifests, err
		},
		key: func(d Descriptor) string { return d.Digest },
	}), func(d Descriptor) string { return d.Digest })
}

// listing is one paginated listing of a registry, as walk follows it.
type listing[T any] struct {
	host   string
	path   string // with the query of the first page, if any
	scope  string
	accept string
	decode func(io.Reader) ([]T, error) // the items of a page body
	key    func(T) string               // what tells items apart
	// sized listings take n and last (tags, catalog): walk asks for its page size, and
	// continues with last where a registry honours n but sends no Link.
	sized bool
}

// nameListing is a distribution-spec listing of names: tags or repositories, in the
// JSON array field.
func nameListing(host, path, scope, field string) listing[string] {
	return listing[string]{
		host:   host,
		path:   path,
		scope:  scope,
		accept: "application/json",
		decode: func(r io.Reader) ([]string, error) {
			var body map[string]any
			if err := decodeJSON(io.LimitReader(r, 256<<20), &body); err != nil {
				return nil, err
			}
			raw, _ := body[field].([]any)
			items := make([]string, 0, len(raw))
			for _, v := range raw {
				if s, ok := v.(string); ok {
					items = append(items, s)
				}
			}
			return items, nil
		},
		key:   func(s string) string { return s },
		sized: true,
	}
}

// collect gathers every item of the pages once, in order of appearance.
func collect[T any](pages iter.Seq2[[]T, error], key func(T) string) ([]T, error) {
	seen := map[string]bool{}
	out := []T{}
	for page, err := range pages {
		if err != nil {
			return nil, err
		}
		for _, it := range page {
			if k := key(it); !seen[k] {
				seen[k] = true
				out = append(out, it)
			}
		}
	}
	return out, nil
}

func sortedSet(pages iter.Seq2[[]string, error]) ([]string, error) {
	out, err := collect(pages, func(s string) string { return s })
	slices.Sort(out)
	return out, err
}

// walk is the one pagination loop of the client, for every listing: follow rel="next"
// Links verbatim (resolved against the page, same origin only — scheme, host and port,
// so never down from https to http — n=0 replaced by the page size); for a sized listing
// without a Link, continue with n and last only when the page was exactly n long and
// sorted, and ask once more without n when the first page refuses it; stop on an empty
// page, a page that adds nothing, or a URL already visited; fail at the page cap.
func walk[T any](ctx context.Context, c *Client, l listing[T]) iter.Seq2[[]T, error] {
	return func(yield func([]T, error) bool) {
		next, err := url.Parse(c.baseURL(l.host) + l.path)
		if err != nil {
			yield(nil, err)
			return
		}
		if l.sized {
			next = withPageSize(next, c.pageSize)
		}
		visited := map[string]bool{}
		seen := map[string]bool{}
		retriedWithoutN := false
		for page := 0; next != nil; page++ {
			if page == c.maxPages {
				yield(nil, fmt.Errorf("%s%s: more than %d pages; stopping", l.host, l.path, c.maxPages))
				return
			}
			u := next
			next = nil
			visited[u.String()] = true
			items, resp, err := fetchPage(ctx, c, u, l)
			if err != nil {
				// A registry that refuses n: once, ask again without it.
				if l.sized && StatusCode(err) == http.StatusBadRequest && page == 0 && !retriedWithoutN && u.Query().Has("n") {
					retriedWithoutN = true
					next = withoutPageSize(u)
					page--
					continue
				}
				yield(nil, err)
				return
			}
			keys := make([]string, len(items))
			fresh := 0
			for i, it := range items {
				keys[i] = l.key(it)
				if !seen[keys[i]] {
					seen[keys[i]] = true
					fresh++
				}
			}
			if len(items) == 0 || fresh == 0 {
				return
			}
			if !yield(items, nil) {
				return
			}
			if link := httphdr.NextLink(resp.Header.Values("Link")); link != "" {
				target, err := httphdr.ResolveTarget(u, link)
				if err != nil {
					yield(nil, fmt.Errorf("%s: bad Link target %q: %w", l.host, link, err))
					return
				}
				if target.Scheme != u.Scheme || target.Host != u.Host {
					yield(nil, fmt.Errorf("%s: next page link points to %s://%s; not following it off the registry", l.host, target.Scheme, target.Host))
					return
				}
				target.RawQuery = replaceZeroN(target.RawQuery, c.pageSize)
				if !visited[target.String()] {
					next = target
				}
				continue
			}
			// No Link: continue with last only when the registry evidently honoured n
			// and sorted the page, so last means what it says.
			if n, _ := strconv.Atoi(u.Query().Get("n")); l.sized && n > 0 && len(items) == n && slices.IsSorted(keys) {
				target := withPageSize(u, n)
				q := target.Query()
				q.Set("last", keys[len(keys)-1])
				target.RawQuery = q.Encode()
				if !visited[target.String()] {
					next = target
				}
			}
		}
	}
}

func fetchPage[T any](ctx context.Context, c *Client, u *url.URL, l listing[T]) ([]T, *http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", l.accept)
	resp, err := c.do(ctx, req, l.scope)
	if err != nil {
		return nil, nil, err
	}
	if err := expect(resp, http.StatusOK); err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	items, err := l.decode(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: page is not JSON: %w", u, err)
	}
	return items, resp, nil
}

func withPageSize(u *url.URL, n int) *url.URL {
	v := *u
	q := v.Query()
	q.Set("n", strconv.Itoa(n))
	v.RawQuery = q.Encode()
	return &v
}

// replaceZeroN rewrites an n=0 in a link's query (ghcr.io sends it; taken literally it
// asks for an empty page) and leaves everything else byte for byte: page tokens are
// opaque.
func replaceZeroN(rawQuery string, n int) string {
	parts := strings.Split(rawQuery, "&")
	for i, p := range parts {
		if p == "n=0" {
			parts[i] = "n=" + strconv.Itoa(n)
		}
	}
	return strings.Join(parts, "&")
}

func withoutPageSize(u *url.URL) *url.URL {
	v := *u
	q := v.Query()
	q.Del("n")
	v.RawQuery = q.Encode()
	return &v
}
