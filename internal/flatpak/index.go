package flatpak

import (
	"github.com/berth-registry/berth/internal/flatpak/index"
	"github.com/berth-registry/berth/internal/metadata"
)

// BuildIndex is the index document of what the store found, keeping only visible
// repositories.
func BuildIndex(registry string, images []metadata.IndexedImage, lists []metadata.IndexedList, visible func(string) bool) index.Index {
	b := index.NewBuilder(registry)
	for _, im := range images {
		if visible(im.Repository) {
			b.AddImage(im.Repository, im.Tags, listImage(im))
		}
	}
	for _, l := range lists {
		if !visible(l.Repository) {
			continue
		}
		inner := make([]index.ListImage, len(l.Images))
		for i, im := range l.Images {
			inner[i] = listImage(im)
		}
		b.AddList(l.Repository, index.List{Tags: l.Tags, Digest: l.Digest.String(), MediaType: l.MediaType, Images: inner})
	}
	return b.Index()
}

func listImage(im metadata.IndexedImage) index.ListImage {
	return index.ListImage{
		Digest:       im.Digest.String(),
		MediaType:    im.MediaType,
		OS:           im.OS,
		Architecture: im.Architecture,
		Labels:       im.Labels,
		Annotations:  im.Annotations,
	}
}
