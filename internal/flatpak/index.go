package flatpak

import (
	"slices"
	"strings"

	"github.com/berth-registry/berth/internal/metadata"
)

// Index is the JSON document of the Flatpak registry-index protocol. Field names are the
// protocol's, capitalised; arrays and maps are never null (flatpak ≥ 1.16 requires them).
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

// Image is a tagged image manifest.
type Image struct {
	Tags         []string
	Digest       string
	MediaType    string
	OS           string
	Architecture string
	Labels       map[string]string
	Annotations  map[string]string
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

// BuildIndex groups images and lists by repository, keeping only visible repositories.
// Both inputs are ordered by repository, as the store returns them.
func BuildIndex(registry string, images []metadata.IndexedImage, lists []metadata.IndexedList, visible func(string) bool) Index {
	idx := Index{Registry: registry, Results: []Result{}}
	byRepo := map[string]int{}
	result := func(repo string) *Result {
		i, ok := byRepo[repo]
		if !ok {
			i = len(idx.Results)
			byRepo[repo] = i
			idx.Results = append(idx.Results, Result{Name: repo, Images: []Image{}, Lists: []List{}})
		}
		return &idx.Results[i]
	}
	for _, im := range images {
		if !visible(im.Repository) {
			continue
		}
		r := result(im.Repository)
		r.Images = append(r.Images, Image{
			Tags:         nonNil(im.Tags),
			Digest:       im.Digest.String(),
			MediaType:    im.MediaType,
			OS:           im.OS,
			Architecture: im.Architecture,
			Labels:       nonNilMap(im.Labels),
			Annotations:  nonNilMap(im.Annotations),
		})
	}
	for _, l := range lists {
		if !visible(l.Repository) || len(l.Images) == 0 {
			continue
		}
		inner := make([]ListImage, len(l.Images))
		for i, im := range l.Images {
			inner[i] = ListImage{
				Digest:       im.Digest.String(),
				MediaType:    im.MediaType,
				OS:           im.OS,
				Architecture: im.Architecture,
				Labels:       nonNilMap(im.Labels),
				Annotations:  nonNilMap(im.Annotations),
			}
		}
		r := result(l.Repository)
		r.Lists = append(r.Lists, List{Tags: nonNil(l.Tags), Digest: l.Digest.String(), MediaType: l.MediaType, Images: inner})
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
