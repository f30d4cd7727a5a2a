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
	return collect(c.TagPages(ctx, repo))
}

// TagPages walks the tag list a page at a time, as the registry pages it. A page may
// repeat tags of earlier pages (registries that do not sort); Tags removes them.
func (c *Client) TagPages(ctx context.Context, repo Repository) iter.Seq2[[]string, error] {
	return c.pages(ctx, repo.Host, "/v2/"+repo.Name+"/tags/list", "repository:"+repo.Name+":pull", "tags")
}

// Catalog returns every repository of the registry at host, in byte order.
func (c *Client) Catalog(ctx context.Context, host string) ([]string, error) {
	return collect(c.CatalogPages(ctx, host))
}

// CatalogPages walks the catalog a page at a time.
func (c *Client) CatalogPages(ctx context.Context, host string) iter.Seq2[[]string, error] {
	return c.pages(ctx, host, "/v2/_catalog", "registry:catalog:*", "repositories")
}

func collect(pages iter.Seq2[[]string, error]) ([]string, error) {
	seen := map[string]bool{}
	out := []string{}
	for page, err := range pages {
		if err != nil {
			return nil, err
		}
		for _, s := range page {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// pages implements the listing walk of distribution-spec pagination as registries
// actually do it: ask with n; follow rel="next" Links verbatim (resolved against the
// response, same origin only, n=0 replaced by the page size); without a Link, continue
// with n and last only when the page was exactly n long and sorted; stop on an empty page,
// a page that adds nothing, a URL already visited, or fail at the page cap.
func (c *Client) pages(ctx context.Context, host, path, scope, field string) iter.Seq2[[]string, error] {
	return func(yield func([]string, error) bool) {
		first, err := url.Parse(c.baseURL(host) + path)
		if err != nil {
			yield(nil, err)
			return
		}
		next := withPageSize(first, c.pageSize)
		visited := map[string]bool{}
		seen := map[string]bool{}
		retriedWithoutN := false
		for page := 0; next != nil; page++ {
			if page == c.maxPages {
				yield(nil, fmt.Errorf("%s%s: more than %d pages; stopping", host, path, c.maxPages))
				return
			}
			u := next
			next = nil
			visited[u.String()] = true
			items, resp, err := c.fetchPage(ctx, u, scope, field)
			if err != nil {
				// A registry that refuses n: once, ask again without it.
				if StatusCode(err) == http.StatusBadRequest && page == 0 && !retriedWithoutN && u.Query().Has("n") {
					retriedWithoutN = true
					next = withoutPageSize(u)
					page--
					continue
				}
				yield(nil, err)
				return
			}
			fresh := 0
			for _, it := range items {
				if !seen[it] {
					seen[it] = true
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
					yield(nil, fmt.Errorf("%s: bad Link target %q: %w", host, link, err))
					return
				}
				if target.Scheme != u.Scheme || target.Host != u.Host {
					yield(nil, fmt.Errorf("%s: next page link points to %s://%s; not following it off the registry", host, target.Scheme, target.Host))
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
			if n, _ := strconv.Atoi(u.Query().Get("n")); n > 0 && len(items) == n && slices.IsSorted(items) {
				target := withPageSize(u, n)
				q := target.Query()
				q.Set("last", items[len(items)-1])
				target.RawQuery = q.Encode()
				if !visited[target.String()] {
					next = target
				}
			}
		}
	}
}

func (c *Client) fetchPage(ctx context.Context, u *url.URL, scope, field string) ([]string, *http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.do(ctx, req, scope)
	if err != nil {
		return nil, nil, err
	}
	if err := expect(resp, http.StatusOK); err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := decodeJSON(io.LimitReader(resp.Body, 256<<20), &body); err != nil {
		return nil, nil, fmt.Errorf("%s: page is not JSON: %w", u, err)
	}
	raw, _ := body[field].([]any)
	items := make([]string, 0, len(raw))
	for _, v := range raw {
		if s, ok := v.(string); ok {
			items = append(items, s)
		}
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

// nextLink is the resolved rel="next" target of a response, or nil.
func nextLink(resp *http.Response) *url.URL {
	link := httphdr.NextLink(resp.Header.Values("Link"))
	if link == "" {
		return nil
	}
	u, err := httphdr.ResolveTarget(resp.Request.URL, link)
	if err != nil {
		return nil
	}
	return u
}
