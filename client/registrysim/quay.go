package registrysim

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// quay pages with an opaque token: the base64 (standard alphabet, so '+', '/' and '='
// appear and must survive the round trip) of the last tag's position.
func (r *Registry) quay(w http.ResponseWriter, name string, s *tagSet, q url.Values) {
	n := pageSize(q, 50, 100, true)
	sorted := s.sorted()
	last := ""
	if tok := q.Get("next_page"); tok != "" {
		raw, err := base64.StdEncoding.DecodeString(tok)
		if err != nil || !strings.HasPrefix(string(raw), "quay-after:") {
			writeError(w, http.StatusBadRequest, "INVALID_PAGE", "bad next_page token")
			return
		}
		last = strings.TrimPrefix(string(raw), "quay-after:")
	}
	i := 0
	for i < len(sorted) && sorted[i] <= last && last != "" {
		i++
	}
	page := sorted[i:min(i+n, len(sorted))]
	if i+n < len(sorted) {
		tok := base64.StdEncoding.EncodeToString([]byte("quay-after:" + page[len(page)-1] + "\xff\xfe"))
		w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?n=%d&next_page=%s>; rel="next"`, name, n, url.QueryEscape(tok)))
	}
	if page == nil {
		page = []string{}
	}
	writeJSON(w, map[string]any{"name": name, "tags": page})
}

func (r *Registry) distributionV3(w http.ResponseWriter, name string, s *tagSet, q url.Values) {
	sorted := s.sorted()
	v, ok := q["n"]
	if !ok {
		writeJSON(w, map[string]any{"name": name, "tags": sorted})
		return
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 0 {
		writeError(w, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID", "invalid number of results requested")
		return
	}
	r.keyset(w, name, sorted, q.Get("last"), min(n, 1000), true)
}
