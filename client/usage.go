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
// into, following the registry's pages by the rules of every listing (see walk).
func (c *Client) Usages(ctx context.Context, host string) ([]Usage, error) {
	return collect(walk(ctx, c, listing[Usage]{
		host:   host,
		path:   UsagePath,
		scope:  "registry:catalog:*",
		accept: "application/json",
		decode: func(r io.Reader) ([]Usage, error) {
			var body struct {
				Namespaces []Usage `json:"namespaces"`
			}
			err := decodeJSON(io.LimitReader(r, 256<<20), &body)
			return body.Namespaces, err
		},
		key:   func(u Usage) string { return u.Namespace },
		sized: true,
	}), func(u Usage) string { return u.Namespace })
}
