package sqlstore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// scanBatch is how many manifests' facts are read at a time: the memory a scan holds.
const scanBatch = 256

// algorithmCondition keeps manifests whose digest uses the filter's algorithm.
func algorithmCondition(w *where, m string, f metadata.ImageFilter) {
	if f.Algorithm != "" {
		w.add(m+".digest LIKE ?", f.Algorithm+":%")
	}
}

// imagesWhere and listsWhere are the conditions of the two halves of an index query:
// tagged images (manifest m), and images c of tagged lists l.
func imagesWhere(f metadata.ImageFilter) *where {
	var w where
	taggedCondition(&w, "m", f)
	w.in("r.name", f.Repositories)
	imageConditions(&w, "m", f)
	algorithmCondition(&w, "m", f)
	return &w
}

func listsWhere(f metadata.ImageFilter) *where {
	var w where
	w.add("l.media_type IN (" + listTypes + ")")
	taggedCondition(&w, "l", f)
	w.in("r.name", f.Repositories)
	imageConditions(&w, "c", f)
	algorithmCondition(&w, "l", f)
	algorithmCondition(&w, "c", f)
	return &w
}

// digestScanner scans a TEXT column into a digest.
type digestScanner digest.Digest

func (d *digestScanner) Scan(v any) error {
	switch v := v.(type) {
	case string:
		*d = digestScanner(v)
	case []byte:
		*d = digestScanner(v)
	default:
		return fmt.Errorf("digest column: unexpected %T", v)
	}
	return nil
}

// imageRow is a tagged image as the scan reads it, before its facts.
type imageRow struct {
	id int64
	im metadata.IndexedImage
}

// listRow is one image of a tagged list.
type listRow struct {
	listID int64
	list   metadata.IndexedList // without Images
	child  imageRow
}

// ScanIndex streams the matches of f in index order. Two ordered queries stay open —
// tagged images, and images of tagged lists — and are merged repository by repository
// (images first); their facts (tags, labels, annotations, icons) are read for a batch
// of entries at a time on other connections of the pool.
func (s *Store) ScanIndex(ctx context.Context, f metadata.ImageFilter, opts metadata.ScanOptions, fn func(metadata.IndexEntry) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	iw := imagesWhere(f)
	// Both queries walk repositories in name order and their manifests by digest along
	// the unique indexes (CROSS JOIN fixes that order on SQLite), so the engine streams
	// rows without sorting the whole answer in memory first.
	images, err := s.bulk.QueryContext(ctx, `SELECT r.name, m.id, m.digest, m.media_type, m.os, m.architecture
		FROM repositories r CROSS JOIN manifests m
		WHERE m.repository_id = r.id AND `+iw.String()+` ORDER BY r.name, m.digest`, iw.args...)
	if err != nil {
		return fmt.Errorf("scan index images: %w", err)
	}
	defer images.Close()
	lw := listsWhere(f)
	lists, err := s.bulk.QueryContext(ctx, `SELECT r.name, l.id, l.digest, l.media_type, c.id, c.digest, c.media_type, c.os, c.architecture
		FROM repositories r CROSS JOIN manifests l CROSS JOIN manifest_children mc CROSS JOIN manifests c
		WHERE l.repository_id = r.id AND mc.manifest_id = l.id AND c.repository_id = l.repository_id AND c.digest = mc.child_digest
			AND `+lw.String()+` ORDER BY r.name, l.digest, mc.child_digest`, lw.args...)
	if err != nil {
		return fmt.Errorf("scan index lists: %w", err)
	}
	defer lists.Close()

	sc := &indexScan{s: s, opts: opts, fn: fn}
	nextImage := func() (*imageRow, error) {
		if !images.Next() {
			return nil, images.Err()
		}
		var r imageRow
		err := images.Scan(&r.im.Repository, &r.id, (*digestScanner)(&r.im.Digest), &r.im.MediaType, &r.im.OS, &r.im.Architecture)
		return &r, err
	}
	nextListRow := func() (*listRow, error) {
		if !lists.Next() {
			return nil, lists.Err()
		}
		var r listRow
		err := lists.Scan(&r.list.Repository, &r.listID, (*digestScanner)(&r.list.Digest), &r.list.MediaType,
			&r.child.id, (*digestScanner)(&r.child.im.Digest), &r.child.im.MediaType, &r.child.im.OS, &r.child.im.Architecture)
		r.child.im.Repository = r.list.Repository
		return &r, err
	}
	im, err := nextImage()
	if err != nil {
		return err
	}
	lr, err := nextListRow()
	if err != nil {
		return err
	}
	for im != nil || lr != nil {
		if im != nil && (lr == nil || im.im.Repository <= lr.list.Repository) {
			// Hidden repositories are dropped before any of their facts are read.
			if f.Admits(im.im.Repository) {
				if err := sc.addImage(ctx, *im); err != nil {
					return err
				}
			}
			if im, err = nextImage(); err != nil {
				return err
			}
			continue
		}
		// One list: its rows are consecutive.
		l := &pendingList{id: lr.listID, list: lr.list}
		for lr != nil && lr.listID == l.id {
			l.children = append(l.children, lr.child)
			if lr, err = nextListRow(); err != nil {
				return err
			}
		}
		if f.Admits(l.list.Repository) {
			if err := sc.addList(ctx, l); err != nil {
				return err
			}
		}
	}
	return sc.flush(ctx)
}

type pendingList struct {
	id       int64
	list     metadata.IndexedList
	children []imageRow
}

// indexScan collects a batch of entries, reads their facts, and hands them on in order.
type indexScan struct {
	s     *Store
	opts  metadata.ScanOptions
	fn    func(metadata.IndexEntry) error
	batch []any // *imageRow or *pendingList, in order
	size  int   // manifests in the batch
}

func (sc *indexScan) addImage(ctx context.Context, r imageRow) error {
	sc.batch = append(sc.batch, &r)
	sc.size++
	return sc.maybeFlush(ctx)
}

func (sc *indexScan) addList(ctx context.Context, l *pendingList) error {
	sc.batch = append(sc.batch, l)
	sc.size += 1 + len(l.children)
	return sc.maybeFlush(ctx)
}

func (sc *indexScan) maybeFlush(ctx context.Context) error {
	if sc.size < scanBatch {
		return nil
	}
	return sc.flush(ctx)
}

func (sc *indexScan) flush(ctx context.Context) error {
	if len(sc.batch) == 0 {
		return nil
	}
	var ids, imageIDs []int64
	for _, e := range sc.batch {
		switch e := e.(type) {
		case *imageRow:
			ids, imageIDs = append(ids, e.id), append(imageIDs, e.id)
		case *pendingList:
			ids = append(ids, e.id)
			for _, c := range e.children {
				ids, imageIDs = append(ids, c.id), append(imageIDs, c.id)
			}
		}
	}
	fs, err := sc.s.loadFactsOf(ctx, ids, imageIDs, sc.opts)
	if err != nil {
		return err
	}
	for _, e := range sc.batch {
		var entry metadata.IndexEntry
		switch e := e.(type) {
		case *imageRow:
			fs.fill(&e.im, e.id)
			entry.Image = &e.im
		case *pendingList:
			l := e.list
			l.Tags = fs.tags[e.id]
			l.Images = make([]metadata.IndexedImage, len(e.children))
			for i, c := range e.children {
				fs.fill(&c.im, c.id)
				c.im.Tags = nil
				l.Images[i] = c.im
			}
			entry.List = &l
		}
		if err := sc.fn(entry); err != nil {
			return err
		}
	}
	sc.batch, sc.size = sc.batch[:0], 0
	return nil
}

// loadFactsOf reads the facts of a batch: tags of every manifest, labels and
// annotations of the images. With opts.IconsByDigest, the icons of images whose App
// facts were extracted come as digests, and their icon labels are not even read.
func (s *Store) loadFactsOf(ctx context.Context, ids, imageIDs []int64, opts metadata.ScanOptions) (*facts, error) {
	fs := newFacts()
	if err := s.loadTags(ctx, fs, ids); err != nil {
		return nil, err
	}
	if len(imageIDs) == 0 {
		return fs, nil
	}
	args := int64Args(imageIDs)
	in := "(" + placeholders(len(imageIDs)) + ")"
	labels, labelArgs := `SELECT manifest_id, key, value FROM manifest_labels WHERE manifest_id IN `+in, args
	if opts.IconsByDigest {
		// The icons of the images with App facts come as digests; their icon labels
		// (kilobytes of base64 each) are not even read.
		fs.icons = map[int64]map[string]digest.Digest{}
		err := s.eachRow(ctx, `SELECT manifest_id, coalesce(icon64, ''), coalesce(icon128, '') FROM manifest_apps WHERE manifest_id IN `+in, args,
			func(id int64, i64, i128 string) {
				m := map[string]digest.Digest{}
				if i64 != "" {
					m[metadata.LabelIcon64] = digest.Digest(i64)
				}
				if i128 != "" {
					m[metadata.LabelIcon128] = digest.Digest(i128)
				}
				fs.icons[id] = m
			})
		if err != nil {
			return nil, fmt.Errorf("load icons: %w", err)
		}
		var apps []int64
		for _, id := range imageIDs {
			if _, ok := fs.icons[id]; ok {
				apps = append(apps, id)
			}
		}
		if len(apps) > 0 {
			labels += ` AND (key NOT IN (?, ?) OR manifest_id NOT IN (` + placeholders(len(apps)) + `))`
			labelArgs = append(append(append([]any{}, args...), metadata.LabelIcon64, metadata.LabelIcon128), int64Args(apps)...)
		}
	}
	if err := s.eachRow(ctx, labels, labelArgs, fs.put(fs.labels)); err != nil {
		return nil, fmt.Errorf("load labels: %w", err)
	}
	if err := s.eachRow(ctx, `SELECT manifest_id, key, value FROM manifest_annotations WHERE manifest_id IN `+in, args, fs.put(fs.annotations)); err != nil {
		return nil, fmt.Errorf("load annotations: %w", err)
	}
	return fs, nil
}

func (s *Store) loadTags(ctx context.Context, fs *facts, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.eachRow(ctx, `SELECT manifest_id, name, '' FROM tags WHERE manifest_id IN (`+placeholders(len(ids))+`) ORDER BY name`,
		int64Args(ids), func(id int64, k, _ string) { fs.tags[id] = append(fs.tags[id], k) })
	if err != nil {
		return fmt.Errorf("load tags: %w", err)
	}
	return nil
}

func int64Args(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// IndexDuplicates returns the matches of f that share their architecture and the value
// of label key with another match, ordered by (value, architecture, repository, list,
// image): one pass over the matches, counted by a window over (value, architecture).
// Matches in repositories f does not admit are dropped from the answer, not from the
// count, so that the query costs the same whatever is hidden.
func (s *Store) IndexDuplicates(ctx context.Context, f metadata.ImageFilter, key string) ([]metadata.IndexKey, error) {
	iw, lw := imagesWhere(f), listsWhere(f)
	q := `SELECT repo, list, image, arch, value, (SELECT max(t.updated_at) FROM tags t WHERE t.manifest_id = tagged_id) FROM (
			SELECT repo, list, image, arch, value, tagged_id, count(*) OVER (PARTITION BY value, arch) AS n FROM (
				SELECT r.name AS repo, '' AS list, m.digest AS image, m.architecture AS arch, v.value AS value, m.id AS tagged_id
				FROM manifests m JOIN repositories r ON r.id = m.repository_id
				JOIN manifest_labels v ON v.manifest_id = m.id AND v.key = ?
				WHERE ` + iw.String() + `
				UNION ALL
				SELECT r.name, l.digest, c.digest, c.architecture, v.value, l.id
				FROM manifests l
				JOIN repositories r ON r.id = l.repository_id
				JOIN manifest_children mc ON mc.manifest_id = l.id
				JOIN manifests c ON c.repository_id = l.repository_id AND c.digest = mc.child_digest
				JOIN manifest_labels v ON v.manifest_id = c.id AND v.key = ?
				WHERE ` + lw.String() + `) AS matches) AS counted
		WHERE n > 1 ORDER BY value, arch, repo, list, image`
	args := append(append(append([]any{key}, iw.args...), key), lw.args...)
	rows, err := s.bulk.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("index duplicates: %w", err)
	}
	defer rows.Close()
	out := []metadata.IndexKey{}
	for rows.Next() {
		var k metadata.IndexKey
		var tagged sql.NullInt64
		if err := rows.Scan(&k.Repository, (*digestScanner)(&k.List), (*digestScanner)(&k.Image), &k.Architecture, &k.Value, &tagged); err != nil {
			return nil, err
		}
		if f.Admits(k.Repository) {
			k.TaggedAt = tagged.Int64
			out = append(out, k)
		}
	}
	return out, rows.Err()
}
