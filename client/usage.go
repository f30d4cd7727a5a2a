package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
)

// Usage is what a namespace of a Berth registry stores, from Berth's usage API
// (/berth/v1/usage): Bytes in Objects (each blob once however many of its repositories
// link it, and the manifests each stores), against Limit (0:
// none). Repository, Tags and TagLimit are set when a repository was asked about.
// Other registries do not have this API and answer 404.
type Usage struct {
	Namespace  string `json:"namespace"`
	Bytes      int64  `json:"bytes"`
	Objects    int64  `json:"objects"`
	Limit      int64  `json:"limit"`
	Repository string `json:"repository,omitempty"`
	Tags       int    `json:"tags,omitempty"`
	TagLimit   int    `json:"tag_limit,omitempty"`
}

// UsagePath is where a Berth registry answers usage.
const UsagePath = "/berth/v1/usage"

// Usage asks for the usage of repo's namespace and repo's tags (the right to pull repo
// is needed).
func (c *Client) Usage(ctx context.Context, repo Repository) (Usage, error) {
	var u Usage
	req, err := http.NewRequest(http.MethodGet, c.baseURL(repo.Host)+UsagePath+"/"+repo.Name, nil)
	if err != nil {
		return u, err
	}
	resp, err := c.do(ctx, req, pullScope(repo))
	if err != nil {
		return u, err
	}
	if err := expect(resp, http.StatusOK); err != nil {
		return u, err
	}
	defer resp.Body.Close()
	if err := decodeJSON(io.LimitReader(resp.Body, 1<<20), &u); err != nil {
		return u, fmt.Errorf("%s: usage is not JSON: %w", repo, err)
	}
	return u, nil
}

// Usages lists the namespaces of host that store anything and that the caller may see
// into, following the registry's pages.
func (c *Client) Usages(ctx context.Context, host string) ([]Usage, error) {
	next, err := http.NewRequest(http.MethodGet, c.baseURL(host)+UsagePath, nil)
	if err != nil {
		return nil, err
	}
	next.URL = withPageSize(next.URL, c.pageSize)
	var out []Usage
	visited := map[string]bool{}
	for page := 0; next != nil; page++ {
		if page == c.maxPages || visited[next.URL.String()] {
			return nil, fmt.Errorf("%s%s: pages do not end; stopping", host, UsagePath)
		}
		visited[next.URL.String()] = true
		resp, err := c.do(ctx, next, "registry:catalog:*")
		if err != nil {
			return nil, err
		}
		if err := expect(resp, http.StatusOK); err != nil {
			return nil, err
		}
		var body struct {
			Namespaces []Usage `json:"namespaces"`
		}
		err = decodeJSON(io.LimitReader(resp.Body, 256<<20), &body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: usage page is not JSON: %w", host, err)
		}
		out = append(out, body.Namespaces...)
		next = nil
		if u := nextLink(resp); u != nil && u.Host == resp.Request.URL.Host && len(body.Namespaces) > 0 {
			if next, err = http.NewRequest(http.MethodGet, u.String(), nil); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}
