package metadata

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// Index is the query side of registry indexes such as Flatpak's: tagged images selected
// by the facts extracted at push time, streamed so that no answer is ever held whole, and
// a generation counter for caches of answers.
type Index interface {
	// ScanIndex calls fn with every match of f, repository by repository in byte order;
	// within one, the tagged images by digest, then the tagged lists by digest, each
	// with its matching images by digest. Facts are read a batch at a time, so the
	// memory a scan holds is bounded by the batch, not by the answer. An error from fn
	// ends the scan.
	ScanIndex(ctx context.Context, f ImageFilter, opts ScanOptions, fn func(IndexEntry) error) error
	// IndexDuplicates returns the matches of f (tagged images and images in tagged
	// lists) that share the value of label `key` and their architecture with another
	// match: what an index that must hold one image per (architecture, ref) chooses
	// among. Matches without the label are never duplicates.
	IndexDuplicates(ctx context.Context, f ImageFilter, key string) ([]IndexKey, error)
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
	// Algorithm, when set, keeps only manifests (images and lists) whose digests use it:
	// the Flatpak client can pull sha256 content only.
	Algorithm string
}

// KeyFilter matches a label or annotation: present with one of Values, or merely present
// when Values is empty.
type KeyFilter struct {
	Key    string
	Values []string
}

// IndexEntry is one match of an index query: a tagged image, or a tagged list with its
// matching images. Exactly one of Image and List is set.
type IndexEntry struct {
	Image *IndexedImage
	List  *IndexedList
}

// ScanOptions shape what ScanIndex reports of each image.
type ScanOptions struct {
	// IconsByDigest leaves the icon labels (IconLabels) out of the Labels of images
	// whose App facts were extracted, and reports the extracted icons' digests in
	// IndexedImage.Icons instead, so that an index can give icons by URL without reading
	// their data.
	IconsByDigest bool
}

// IndexKey places an index match and gives the value of one of its labels.
type IndexKey struct {
	Repository   string
	List         digest.Digest // the tagged list holding the image; "" for a tagged image
	Image        digest.Digest
	Architecture string
	Value        string
	TaggedAt     int64 // when the tagged manifest (image or list) was last tagged, Unix ns
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
	// Icons are the digests of the icons extracted from the image's labels at push, by
	// label, when ScanOptions.IconsByDigest asked for them and the image's App facts
	// were extracted (an empty map when none of its icons was valid); nil otherwise.
	Icons map[string]digest.Digest
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
