package client

import (
	"context"
	"io"
	"net/url"
	"strconv"
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
	out := []TagChange{}
	for page, err := range walk(ctx, c, listing[TagChange]{
		host:   repo.Host,
		path:   "/berth/v1/repositories/" + repo.Name + "/tags/" + url.PathEscape(tag) + "/history",
		scope:  pullScope(repo),
		accept: "application/json",
		decode: func(r io.Reader) ([]TagChange, error) {
			var body struct {
				History []TagChange `json:"history"`
			}
			err := decodeJSON(io.LimitReader(r, 64<<20), &body)
			return body.History, err
		},
		key: func(ch TagChange) string { return strconv.FormatInt(ch.ID, 10) },
	}) {
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if limit > 0 && len(out) >= limit {
			return out[:limit], nil
		}
	}
	return out, nil
}
