package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"
)

// tagChange is one entry of GET /berth/v1/repositories/<name>/tags/<tag>/history: old is
// absent when the tag was created, new when it was removed.
type tagChange struct {
	ID      int64         `json:"id"`
	Time    time.Time     `json:"time"`
	Old     digest.Digest `json:"old,omitempty"`
	New     digest.Digest `json:"new,omitempty"`
	Actor   string        `json:"actor"`
	Replica string        `json:"replica"`
}

// tagHistory answers a tag's moves, newest first, a page at a time: last is the id of
// the last change seen (the cursor the Link names), n the page size (clamped to the
// maximum, which is also the size without n).
func (a *API) tagHistory(w http.ResponseWriter, r *http.Request, rt route) {
	p, err := pageRequest(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	pg, err := a.svc.TagHistory(r.Context(), rt.name, rt.arg, p)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	if pg.More {
		setNextLink(w, rt.path(), strconv.FormatInt(pg.Items[len(pg.Items)-1].ID, 10), pg.N, nil)
	}
	out := make([]tagChange, len(pg.Items))
	for i, c := range pg.Items {
		out[i] = tagChange{ID: c.ID, Time: c.At.UTC(), Old: c.Old, New: c.New, Actor: c.Actor.Name, Replica: c.Actor.Replica}
	}
	a.writeJSON(w, r, "application/json", struct {
		Name    string      `json:"name"`
		Tag     string      `json:"tag"`
		History []tagChange `json:"history"`
	}{rt.name, rt.arg, out})
}
