package ui

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/berth-registry/berth/internal/appstream"
	"github.com/berth-registry/berth/internal/metadata"
)

// galleryPageSize is the number of apps on a gallery page.
const galleryPageSize = 48

// appCard is one app as the gallery and its page show it: the facts of its most
// recently pushed visible image, and the architectures of all of them.
type appCard struct {
	metadata.App
	Architectures []string
	Icon64        string // icon URLs, "" when the image has none
	Icon128       string
	Images        []metadata.AppImage
	Install       string // the .flatpakref URL
	Commands      []string
}

type galleryPage struct {
	Apps []appCard
	Next string
}

// card sums up the visible images of one app; ok is false when there are none.
func (rq *request) card(images []metadata.AppImage) (appCard, bool) {
	var c appCard
	var newest *metadata.AppImage
	for i := range images {
		im := &images[i]
		if !rq.canPull(im.Repository) {
			continue
		}
		c.Images = append(c.Images, *im)
		if !slices.Contains(c.Architectures, im.App.Arch) {
			c.Architectures = append(c.Architectures, im.App.Arch)
		}
		if newest == nil || im.CreatedAt.After(newest.CreatedAt) {
			newest = im
		}
	}
	if newest == nil {
		return c, false
	}
	slices.Sort(c.Architectures)
	c.App = newest.App
	for _, icon := range newest.App.Icons {
		switch icon.Label {
		case metadata.LabelIcon64:
			c.Icon64 = appstream.IconPath(icon.Digest)
		case metadata.LabelIcon128:
			c.Icon128 = appstream.IconPath(icon.Digest)
		}
	}
	if rq.h.opts.Flatpak {
		base := rq.baseURL()
		c.Install = "/flatpak/" + url.PathEscape(c.ID) + ".flatpakref"
		c.Commands = []string{
			"flatpak remote-add --user --if-not-exists --no-gpg-verify " + rq.h.opts.FlatpakRemote + " oci+" + base,
			"flatpak install --user " + rq.h.opts.FlatpakRemote + " " + c.ID,
		}
	}
	return c, true
}

// gallery lists the applications of the viewer's visible images, by id, a keyset page
// at a time, skipping those it may not see as the repository list does.
func (h *Handler) gallery(rq *request) {
	var cards []appCard
	for after := rq.r.URL.Query().Get("after"); len(cards) <= galleryPageSize; {
		ids, images, err := h.store.Apps(rq.r.Context(), after, scanBatch)
		if err != nil {
			rq.fail(err)
			return
		}
		byID := map[string][]metadata.AppImage{}
		for _, im := range images {
			byID[im.App.ID] = append(byID[im.App.ID], im)
		}
		for _, id := range ids {
			if c, ok := rq.card(byID[id]); ok {
				cards = append(cards, c)
			}
		}
		if len(ids) < scanBatch {
			break
		}
		after = ids[len(ids)-1]
	}
	p := galleryPage{Apps: cards}
	if len(cards) > galleryPageSize {
		p.Apps = cards[:galleryPageSize]
		p.Next = "/ui/apps?" + url.Values{"after": {cards[galleryPageSize-1].ID}}.Encode()
	}
	rq.page(http.StatusOK, "apps", "Flatpak apps", p)
}

// app shows one application (or runtime) with its AppStream description and release
// notes, as text.
func (h *Handler) app(rq *request, id string) {
	if !appstream.ValidID(id) {
		rq.notFound()
		return
	}
	images, err := h.store.AppImages(rq.r.Context(), id)
	if err != nil {
		rq.fail(err)
		return
	}
	c, ok := rq.card(images)
	if !ok {
		rq.notFound()
		return
	}
	title := c.Name
	if title == "" {
		title = c.ID
	}
	rq.page(http.StatusOK, "app", title, c)
}
