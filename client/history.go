package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// TagChange is one move of a tag, as Berth's history API lists it: Old is empty when
// the tag was created, New when it was removed.
type TagChange struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Old     string    `json:"old,omitempty"`
	New     string    `json:"new,omitempty"`
	Actor   string    `json:"actor"`
	Replica string    `json:"replica"`
}

// TagHistory returns the moves of repo:tag, newest first, at most limit of them (all
// when limit <= 0), following the registry's Link from page to page. It is Berth's own
// API (GET /berth/v1/repositories/<name>/tags/<tag>/history), asked with pull rights;
// other registries answer 404.
func (c *Client) TagHistory(ctx context.Context, repo Repository, tag string, limit int) ([]TagChange, error) {
	u, err := url.Parse(c.baseURL(repo.Host) + "/berth/v1/repositories/" + repo.Name + "/tags/" + url.PathEscape(tag) + "/history")
	if err != nil {
		return nil, err
	}
	out := []TagChange{}
	visited := map[string]bool{}
	for page := 0; u != nil; page++ {
		if page == c.maxPages || visited[u.String()] {
			return out, fmt.Errorf("%s: history of %s pages without end; stopping", repo.Host, tag)
		}
		visited[u.String()] = true
		var body struct {
			History []TagChange `json:"history"`
		}
		next, err := c.historyPage(ctx, repo, u, &body)
		if err != nil {
			return nil, err
		}
		out = append(out, body.History...)
		if limit > 0 && len(out) >= limit {
			return out[:limit], nil
		}
		if len(body.History) == 0 {
			break
		}
		if next != nil && (next.Scheme != u.Scheme || next.Host != u.Host) {
			return nil, fmt.Errorf("%s: next page link points to %s://%s; not following it off the registry", repo.Host, next.Scheme, next.Host)
		}
		u = next
	}
	return out, nil
}

func (c *Client) historyPage(ctx context.Context, repo Repository, u *url.URL, body any) (*url.URL, error) {
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.do(ctx, req, pullScope(repo))
	if err != nil {
		return nil, err
	}
	if err := expect(resp, http.StatusOK); err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if err := decodeJSON(io.LimitReader(resp.Body, 64<<20), body); err != nil {
		return nil, fmt.Errorf("%s: history page is not JSON: %w", u, err)
	}
	return nextLink(resp), nil
}
