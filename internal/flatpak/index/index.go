// Package index is the JSON document of the Flatpak registry-index protocol, shared by
// the server's /index/static and /index/dynamic and by `berth flatpak index`, the
// crawler that writes the same document for registries that serve none: one
// definition, so both write the same document for the same images. It holds types and
// pure functions only, imports nothing of Berth, and both the server side and the
// client side may import it.
package index

import (
	"slices"
	"strings"
)

// Index is the document. Field names are the protocol's, capitalised; arrays and maps
// are never null (flatpak ≥ 1.16 requires them).
type Index struct {
	Registry string
	Results  []Result
}

// Result is one repository with at least one match.
type Result struct {
	Name   string
	Images []Image
	Lists  []List
}

// Image is a tagged image manifest: its tags, then what a list shows of an image (the
// JSON has the same fields in the same order).
type Image struct {
	Tags []string
	ListImage
}

// List is a tagged image list with its matching images.
type List struct {
	Tags      []string
	Digest    string
	MediaType string
	Images    []ListImage
}

// ListImage is an image inside a list; it has no tags of its own.
type ListImage struct {
	Digest       string
	MediaType    string
	OS           string
	Architecture string
	Labels       map[string]string
	Annotations  map[string]string
}

// Builder groups images and lists by repository into an Index. The zero Builder is not
// ready; use NewBuilder.
type Builder struct {
	registry string
	results  map[string]*Result
}

// NewBuilder starts the index of the registry at the URL registry (the document's
// Registry field).
func NewBuilder(registry string) *Builder {
	return &Builder{registry: registry, results: map[string]*Result{}}
}

func (b *Builder) result(repo string) *Result {
	r := b.results[repo]
	if r == nil {
		r = &Result{Name: repo, Images: []Image{}, Lists: []List{}}
		b.results[repo] = r
	}
	return r
}

// AddImage adds an image of repo tagged tags; im is what a list would show of it.
func (b *Builder) AddImage(repo string, tags []string, im ListImage) {
	r := b.result(repo)
	r.Images = append(r.Images, Image{Tags: nonNil(tags), ListImage: im.normal()})
}

// normal is the image with empty maps for absent labels and annotations.
func (im ListImage) normal() ListImage {
	im.Labels, im.Annotations = nonNilMap(im.Labels), nonNilMap(im.Annotations)
	return im
}

// AddList adds a tagged list of repo. A list without images (none of them matched) is
// left out.
func (b *Builder) AddList(repo string, l List) {
	if len(l.Images) == 0 {
		return
	}
	images := make([]ListImage, len(l.Images))
	for i, im := range l.Images {
		images[i] = im.normal()
	}
	slices.SortStableFunc(images, func(a, b ListImage) int { return strings.Compare(a.Digest, b.Digest) })
	l.Tags, l.Images = nonNil(l.Tags), images
	r := b.result(repo)
	r.Lists = append(r.Lists, l)
}

// Index returns the document: repositories in byte order of their names, and within
// each the images, the lists and a list's images in byte order of their digests, however
// they were added.
func (b *Builder) Index() Index {
	idx := Index{Registry: b.registry, Results: make([]Result, 0, len(b.results))}
	for _, r := range b.results {
		res := *r
		res.Images = slices.Clone(r.Images)
		res.Lists = slices.Clone(r.Lists)
		slices.SortStableFunc(res.Images, func(a, b Image) int { return strings.Compare(a.Digest, b.Digest) })
		slices.SortStableFunc(res.Lists, func(a, b List) int { return strings.Compare(a.Digest, b.Digest) })
		idx.Results = append(idx.Results, res)
	}
	slices.SortFunc(idx.Results, func(a, b Result) int { return strings.Compare(a.Name, b.Name) })
	return idx
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func nonNilMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
