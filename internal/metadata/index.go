package metadata

import "github.com/opencontainers/go-digest"

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
