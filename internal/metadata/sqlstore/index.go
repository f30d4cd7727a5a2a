package sqlstore

import (
	"context"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// Media types are spelled here rather than imported: the store only stores them.
const (
	imageTypes = `'application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json'`
	listTypes  = `'application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json'`
)

// where accumulates SQL conditions and their parameters; values are never spliced.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) in(column string, values []string) {
	if len(values) == 0 {
		return
	}
	w.add(column+" IN ("+placeholders(len(values))+")", anys(values)...)
}

func (w *where) String() string { return strings.Join(w.conds, " AND ") }

func anys(vs []string) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// imageConditions are the filter's conditions on the image manifest m.
func imageConditions(w *where, m string, f metadata.ImageFilter) {
	w.add(m + ".media_type IN (" + imageTypes + ")")
	w.in(m+".os", f.OS)
	w.in(m+".architecture", f.Architectures)
	for _, kf := range f.Labels {
		keyCondition(w, "manifest_labels", m, kf)
	}
	for _, kf := range f.Annotations {
		keyCondition(w, "manifest_annotations", m, kf)
	}
}

func keyCondition(w *where, table, m string, kf metadata.KeyFilter) {
	cond := "EXISTS (SELECT 1 FROM " + table + " k WHERE k.manifest_id = " + m + ".id AND k.key = ?"
	args := []any{kf.Key}
	if len(kf.Values) > 0 {
		cond += " AND k.value IN (" + placeholders(len(kf.Values)) + ")"
		args = append(args, anys(kf.Values)...)
	}
	w.add(cond+")", args...)
}

// taggedCondition: the manifest m carries a tag (one of f.Tags, when given).
func taggedCondition(w *where, m string, f metadata.ImageFilter) {
	cond := "EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = " + m + ".id"
	if len(f.Tags) > 0 {
		cond += " AND t.name IN (" + placeholders(len(f.Tags)) + ")"
	}
	w.add(cond+")", anys(f.Tags)...)
}

// facts are the tags, labels, annotations and icons of a set of manifests.
type facts struct {
	tags        map[int64][]string
	labels      map[int64]map[string]string
	annotations map[int64]map[string]string
	icons       map[int64]map[string]digest.Digest // nil unless icons were asked for by digest
}

func newFacts() *facts {
	return &facts{tags: map[int64][]string{}, labels: map[int64]map[string]string{}, annotations: map[int64]map[string]string{}}
}

func (fs *facts) fill(im *metadata.IndexedImage, id int64) {
	im.Tags, im.Labels, im.Annotations = fs.tags[id], fs.labels[id], fs.annotations[id]
	if fs.icons != nil {
		im.Icons = fs.icons[id]
	}
}

// put returns a row callback that adds key=value to the manifest's map in into.
func (fs *facts) put(into map[int64]map[string]string) func(id int64, k, v string) {
	return func(id int64, k, v string) {
		if into[id] == nil {
			into[id] = map[string]string{}
		}
		into[id][k] = v
	}
}

func (s *Store) eachRow(ctx context.Context, query string, args []any, fn func(id int64, a, b string)) error {
	rows, err := s.bulk.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var a, b string
		if err := rows.Scan(&id, &a, &b); err != nil {
			return err
		}
		fn(id, a, b)
	}
	return rows.Err()
}
