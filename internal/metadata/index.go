package metadata

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// Index is the query side of registry indexes such as Flatpak's: tagged images selected
// by the facts extracted at push time, and a generation counter for caches of answers.
type Index interface {
	// FindImages returns the tagged images and the tagged lists (with their images that
	// match) selected by f, ordered by repository then digest.
	FindImages(ctx context.Context, f ImageFilter) ([]IndexedImage, []IndexedList, error)
	// Generation is a counter that moves whenever repositories, tags or manifests change,
	// in this process or any other sharing the store; caches compare it to stay fresh.
	Generation(ctx context.Context) (int64, error)
}

// ImageFilter selects tagged manifests by the facts extracted at push time, for registry
// indexes such as Flatpak's. Every non-empty field must match (AND); within a field any
// of its values matches (OR).
type ImageFilter struct {
	Repositories  []string
	Tags          []string // applies to the tagged manifest: the image, or the list holding images
	OS            []string
	Architectures []string
	Labels        []KeyFilter
	Annotations   []KeyFilter
	// Visible, when set, admits the repositories whose images may be returned. The store
	// drops the others as it meets them, before reading anything more of them, so that
	// what an index costs does not grow with what it hides.
	Visible func(repo string) bool
}

// KeyFilter matches a label or annotation: present with one of Values, or merely present
// when Values is empty.
type KeyFilter struct {
	Key    string
	Values []string
}

// IndexedImage is an image manifest as an index shows it. Tags is empty for an image
// found inside a list.
type IndexedImage struct {
	Repository   string
	Digest       digest.Digest
	MediaType    string
	OS           string
	Architecture string
	Labels       map[string]string
	Annotations  map[string]string
	Tags         []string
}

// IndexedList is a tagged image list (OCI index or Docker manifest list) with those of
// its images that match the filter.
type IndexedList struct {
	Repository string
	Digest     digest.Digest
	MediaType  string
	Tags       []string
	Images     []IndexedImage
}

// Admits reports whether the filter's Visible admits repo (no Visible: every repository).
func (f ImageFilter) Admits(repo string) bool { return f.Visible == nil || f.Visible(repo) }
