// Package flatpak serves the Flatpak registry index (/index/static, /index/dynamic) and
// one-click install files. Queries are answered from metadata extracted at push time —
// never by opening blobs — and static answers are cached until public content changes.
// Only repositories the visibility rule calls public ever appear.
package flatpak

import (
	"net/url"
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/metadata"
)

// ParseQuery reads an index query. All parameters combine with AND; a parameter repeated
// with different values matches any of them. `label:K:exists` and `annotation:K:exists`
// check presence whatever their value (the protocol defines only 1). Unknown parameters
// are ignored, as the protocol asks, and returned (sorted) so that the answer can name
// them: a newer client's extra filter degrades to a wider answer rather than a broken
// remote, and a typo is visible. The filter is normalised: equal queries, however their
// parameters are ordered, give equal filters and equal Key()s.
func ParseQuery(q url.Values) (f metadata.ImageFilter, ignored []string) {
	labels, annotations := map[string][]string{}, map[string][]string{}
	for key, values := range q {
		switch key {
		case "repository":
			f.Repositories = append(f.Repositories, values...)
		case "tag":
			f.Tags = append(f.Tags, values...)
		case "os":
			f.OS = append(f.OS, values...)
		case "architecture":
			f.Architectures = append(f.Architectures, values...)
		default:
			if k, ok := strings.CutPrefix(key, "label:"); ok && k != "" {
				addKeyFilter(labels, k, values)
			} else if k, ok := strings.CutPrefix(key, "annotation:"); ok && k != "" {
				addKeyFilter(annotations, k, values)
			} else {
				ignored = append(ignored, key)
			}
		}
	}
	f.Repositories = normalise(f.Repositories)
	f.Tags = normalise(f.Tags)
	f.OS = normalise(f.OS)
	f.Architectures = normalise(f.Architectures)
	f.Labels = keyFilters(labels)
	f.Annotations = keyFilters(annotations)
	slices.Sort(ignored)
	return f, ignored
}

// exists marks a presence check in the maps of addKeyFilter; it cannot collide with a
// value because it is not valid UTF-8 text a URL query would decode to.
const exists = "\xff"

func addKeyFilter(m map[string][]string, key string, values []string) {
	if k, ok := strings.CutSuffix(key, ":exists"); ok && k != "" {
		m[k] = append(m[k], exists)
		return
	}
	m[key] = append(m[key], values...)
}

// keyFilters turns key → values into filters; a key with both a presence check and
// values needs only the values (having a value implies presence).
func keyFilters(m map[string][]string) []metadata.KeyFilter {
	out := make([]metadata.KeyFilter, 0, len(m))
	for k, vs := range m {
		vs = normalise(vs)
		if len(vs) > 1 || (len(vs) == 1 && vs[0] != exists) {
			vs = slices.DeleteFunc(vs, func(v string) bool { return v == exists })
		} else {
			vs = nil
		}
		out = append(out, metadata.KeyFilter{Key: k, Values: vs})
	}
	slices.SortFunc(out, func(a, b metadata.KeyFilter) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func normalise(vs []string) []string {
	if len(vs) == 0 {
		return nil
	}
	vs = slices.Clone(vs)
	slices.Sort(vs)
	return slices.Compact(vs)
}

// Key is the canonical form of a filter, the cache key of its answer.
func Key(f metadata.ImageFilter) string {
	var b strings.Builder
	list := func(name string, vs []string) {
		for _, v := range vs {
			b.WriteString(url.QueryEscape(name))
			b.WriteByte('=')
			b.WriteString(url.QueryEscape(v))
			b.WriteByte('&')
		}
	}
	list("repository", f.Repositories)
	list("tag", f.Tags)
	list("os", f.OS)
	list("architecture", f.Architectures)
	for _, kf := range f.Labels {
		if kf.Values == nil {
			list("label:"+kf.Key+":exists", []string{"1"})
		}
		list("label:"+kf.Key, kf.Values)
	}
	for _, kf := range f.Annotations {
		if kf.Values == nil {
			list("annotation:"+kf.Key+":exists", []string{"1"})
		}
		list("annotation:"+kf.Key, kf.Values)
	}
	return b.String()
}
