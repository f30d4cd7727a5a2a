package sqlstore

import (
	"context"
	"fmt"
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

// FindImages returns the tagged images and lists matching f, ordered by repository.
func (s *Store) FindImages(ctx context.Context, f metadata.ImageFilter) ([]metadata.IndexedImage, []metadata.IndexedList, error) {
	images, imageIDs, err := s.findTaggedImages(ctx, f)
	if err != nil {
		return nil, nil, fmt.Errorf("find images: %w", err)
	}
	lists, listIDs, childIDs, err := s.findLists(ctx, f)
	if err != nil {
		return nil, nil, fmt.Errorf("find lists: %w", err)
	}
	facts, err := s.loadFacts(ctx, append(append(append([]int64{}, imageIDs...), listIDs...), childIDs...))
	if err != nil {
		return nil, nil, err
	}
	for i := range images {
		facts.fill(&images[i], imageIDs[i])
	}
	k := 0
	for i := range lists {
		lists[i].Tags = facts.tags[listIDs[i]]
		for j := range lists[i].Images {
			facts.fill(&lists[i].Images[j], childIDs[k])
			lists[i].Images[j].Tags = nil
			k++
		}
	}
	return images, lists, nil
}

func (s *Store) findTaggedImages(ctx context.Context, f metadata.ImageFilter) ([]metadata.IndexedImage, []int64, error) {
	var w where
	taggedCondition(&w, "m", f)
	w.in("r.name", f.Repositories)
	imageConditions(&w, "m", f)
	rows, err := s.r.QueryContext(ctx, `SELECT r.name, m.id, m.digest, m.media_type, m.os, m.architecture
		FROM manifests m JOIN repositories r ON r.id = m.repository_id
		WHERE `+w.String()+` ORDER BY r.name, m.digest`, w.args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var (
		out []metadata.IndexedImage
		ids []int64
	)
	for rows.Next() {
		var im metadata.IndexedImage
		var id int64
		var d string
		if err := rows.Scan(&im.Repository, &id, &d, &im.MediaType, &im.OS, &im.Architecture); err != nil {
			return nil, nil, err
		}
		if !f.Admits(im.Repository) {
			continue
		}
		im.Digest = digest.Digest(d)
		out, ids = append(out, im), append(ids, id)
	}
	return out, ids, rows.Err()
}

// findLists returns tagged lists with their matching images, in one join; childIDs are
// the ids of the images in order of appearance.
func (s *Store) findLists(ctx context.Context, f metadata.ImageFilter) (lists []metadata.IndexedList, listIDs, childIDs []int64, err error) {
	var w where
	w.add("l.media_type IN (" + listTypes + ")")
	taggedCondition(&w, "l", f)
	w.in("r.name", f.Repositories)
	imageConditions(&w, "c", f)
	rows, err := s.r.QueryContext(ctx, `SELECT r.name, l.id, l.digest, l.media_type, c.id, c.digest, c.media_type, c.os, c.architecture
		FROM manifests l
		JOIN repositories r ON r.id = l.repository_id
		JOIN manifest_children mc ON mc.manifest_id = l.id
		JOIN manifests c ON c.repository_id = l.repository_id AND c.digest = mc.child_digest
		WHERE `+w.String()+` ORDER BY r.name, l.digest, c.digest`, w.args...)
	if err != nil {
		return nil, nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			repo, ld, lmt, cd string
			lid, cid          int64
			im                metadata.IndexedImage
		)
		if err := rows.Scan(&repo, &lid, &ld, &lmt, &cid, &cd, &im.MediaType, &im.OS, &im.Architecture); err != nil {
			return nil, nil, nil, err
		}
		if !f.Admits(repo) {
			continue
		}
		im.Repository, im.Digest = repo, digest.Digest(cd)
		if n := len(listIDs); n == 0 || listIDs[n-1] != lid {
			lists = append(lists, metadata.IndexedList{Repository: repo, Digest: digest.Digest(ld), MediaType: lmt})
			listIDs = append(listIDs, lid)
		}
		last := &lists[len(lists)-1]
		last.Images = append(last.Images, im)
		childIDs = append(childIDs, cid)
	}
	return lists, listIDs, childIDs, rows.Err()
}

// facts are the tags, labels and annotations of a set of manifests.
type facts struct {
	tags        map[int64][]string
	labels      map[int64]map[string]string
	annotations map[int64]map[string]string
}

func (fs *facts) fill(im *metadata.IndexedImage, id int64) {
	im.Tags, im.Labels, im.Annotations = fs.tags[id], fs.labels[id], fs.annotations[id]
}

// loadFacts reads the facts of the manifests in batches bounded by SQLite's parameter
// limit.
func (s *Store) loadFacts(ctx context.Context, ids []int64) (*facts, error) {
	fs := &facts{tags: map[int64][]string{}, labels: map[int64]map[string]string{}, annotations: map[int64]map[string]string{}}
	const batch = 500
	for start := 0; start < len(ids); start += batch {
		chunk := ids[start:min(start+batch, len(ids))]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		in := "(" + placeholders(len(chunk)) + ")"
		err := s.eachRow(ctx, `SELECT manifest_id, name, '' FROM tags WHERE manifest_id IN `+in+` ORDER BY name`, args, func(id int64, k, _ string) {
			fs.tags[id] = append(fs.tags[id], k)
		})
		if err != nil {
			return nil, fmt.Errorf("load tags: %w", err)
		}
		for _, t := range []struct {
			table string
			into  map[int64]map[string]string
		}{{"manifest_labels", fs.labels}, {"manifest_annotations", fs.annotations}} {
			err := s.eachRow(ctx, `SELECT manifest_id, key, value FROM `+t.table+` WHERE manifest_id IN `+in, args, func(id int64, k, v string) {
				if t.into[id] == nil {
					t.into[id] = map[string]string{}
				}
				t.into[id][k] = v
			})
			if err != nil {
				return nil, fmt.Errorf("load %s: %w", t.table, err)
			}
		}
	}
	return fs, nil
}

func (s *Store) eachRow(ctx context.Context, query string, args []any, fn func(id int64, a, b string)) error {
	rows, err := s.r.QueryContext(ctx, query, args...)
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
