package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// pageSize is the number of rows of a listing page.
const pageSize = 50

// scanBatch is how many rows a listing reads at a time while it skips what the viewer
// may not see.
const scanBatch = 200

type reposPage struct {
	Query string
	Repos []metadata.RepositorySummary
	Next  string // URL of the next page, "" on the last
}

// repositories lists the repositories the viewer may pull, searched by a substring of
// their names, a keyset page at a time. Hidden ones are skipped while the page fills, so
// a page holds pageSize names when that many visible ones remain, and no link names a
// hidden one.
func (h *Handler) repositories(rq *request) {
	q := rq.r.URL.Query()
	query := strings.TrimSpace(q.Get("q"))
	if len(query) > 255 {
		rq.badRequest("The search is too long.")
		return
	}
	var out []metadata.RepositorySummary
	for after := q.Get("after"); len(out) <= pageSize; {
		rows, err := h.store.BrowseRepositories(rq.r.Context(), query, after, scanBatch)
		if err != nil {
			rq.fail(err)
			return
		}
		for _, rs := range rows {
			if rq.canPull(rs.Name) {
				out = append(out, rs)
			}
		}
		if len(rows) < scanBatch {
			break
		}
		after = rows[len(rows)-1].Name
	}
	p := reposPage{Query: query, Repos: out}
	if len(out) > pageSize {
		p.Repos = out[:pageSize]
		v := url.Values{"after": {out[pageSize-1].Name}}
		if query != "" {
			v.Set("q", query)
		}
		p.Next = "/?" + v.Encode()
	}
	title := "Repositories"
	if query != "" {
		title = "Repositories matching “" + query + "”"
	}
	rq.page(http.StatusOK, "repos", title, p)
}

type tagRow struct {
	Name     string
	PushedAt time.Time
	summary
}

type tagsPage struct {
	Repo     string
	Summary  metadata.RepositorySummary
	Newest   bool
	Tags     []tagRow
	Next     string
	Commands []string
}

// tags shows a repository's tags, by name or newest first: a keyset page of the tags
// index (or of tags_updated), with the manifests' sizes and platforms computed from the
// stored payloads of the page alone.
func (h *Handler) tags(rq *request, repo string) {
	if !oci.ValidRepository(repo) || !rq.canPull(repo) {
		rq.notFound()
		return
	}
	ctx := rq.r.Context()
	rs, err := h.store.RepositorySummary(ctx, repo)
	if rq.failed(err) {
		return
	}
	q := rq.r.URL.Query()
	order, newest := metadata.TagsByName, q.Get("sort") == "newest"
	var from metadata.TagCursor
	if newest {
		order = metadata.TagsNewest
		if b := q.Get("before"); b != "" {
			ns, name, ok := strings.Cut(b, ".")
			n, err := strconv.ParseInt(ns, 10, 64)
			if !ok || err != nil {
				rq.badRequest("The page link is not valid.")
				return
			}
			from = metadata.TagCursor{Name: name, UpdatedAt: time.Unix(0, n)}
		}
	} else {
		from.Name = q.Get("after")
	}
	rows, err := h.store.BrowseTags(ctx, repo, order, from, pageSize+1)
	if err != nil {
		rq.fail(err)
		return
	}
	p := tagsPage{Repo: repo, Summary: rs, Newest: newest}
	if len(rows) > pageSize {
		rows = rows[:pageSize]
		last := rows[pageSize-1]
		if newest {
			p.Next = repoURL(repo) + "?" + url.Values{"sort": {"newest"}, "before": {strconv.FormatInt(last.UpdatedAt.UnixNano(), 10) + "." + last.Name}}.Encode()
		} else {
			p.Next = repoURL(repo) + "?" + url.Values{"after": {last.Name}}.Encode()
		}
	}
	children, err := h.children(rq, repo, rows)
	if err != nil {
		rq.fail(err)
		return
	}
	for _, t := range rows {
		p.Tags = append(p.Tags, tagRow{Name: t.Name, PushedAt: t.UpdatedAt, summary: describe(t.Manifest, children[t.Manifest.Digest])})
	}
	ref := ":latest"
	if len(p.Tags) > 0 && !hasTag(p.Tags, "latest") {
		ref = ":" + p.Tags[0].Name
	}
	p.Commands = pullCommands(rq.baseHost(), repo, ref)
	rq.page(http.StatusOK, "repo", repo, p)
}

func hasTag(rows []tagRow, name string) bool {
	for _, r := range rows {
		if r.Name == name {
			return true
		}
	}
	return false
}

// children reads the stored images of the page's indexes in one query.
func (h *Handler) children(rq *request, repo string, rows []metadata.TagSummary) (map[digest.Digest][]metadata.ManifestSummary, error) {
	var lists []digest.Digest
	for _, t := range rows {
		if oci.IsIndexMediaType(t.Manifest.MediaType) {
			lists = append(lists, t.Manifest.Digest)
		}
	}
	if len(lists) == 0 {
		return nil, nil
	}
	return h.store.ListChildren(rq.r.Context(), repo, lists)
}
