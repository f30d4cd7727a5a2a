package metadata

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// The image config labels through which `flatpak build-bundle --oci` carries an app's
// AppStream data and icons.
const (
	LabelFlatpakRef  = "org.flatpak.ref"
	LabelMetadata    = "org.flatpak.metadata"
	LabelAppData     = "org.freedesktop.appstream.appdata"
	LabelIcon64      = "org.freedesktop.appstream.icon-64"
	LabelIcon128     = "org.freedesktop.appstream.icon-128"
	BackfillAppsName = "apps" // the backfill that extracts App facts of manifests pushed before Berth did
)

// IconLabels are the icon labels, by nominal size in pixels.
func IconLabels() map[string]int { return map[string]int{LabelIcon64: 64, LabelIcon128: 128} }

// App is what a Flatpak image tells about the application or runtime it carries,
// extracted from its config labels at push time so that neither the index nor the web
// UI ever opens a blob. Every text is plain text, bounded, from untrusted input.
type App struct {
	Kind   string // "app" or "runtime", from org.flatpak.ref
	ID     string // e.g. org.example.App
	Arch   string // Flatpak's architecture name, e.g. x86_64
	Branch string

	Runtime     string // the runtime ref an app needs (id/arch/branch), from org.flatpak.metadata
	Name        string // AppStream name; "" when the image has no AppStream data
	Summary     string
	Description string // paragraphs separated by blank lines, list items as "• " lines
	License     string
	Homepage    string // an http(s) URL or ""
	Version     string // of the newest release
	Releases    []Release
	// Icons are the icon labels that held valid PNGs of their nominal size.
	Icons []Icon
}

// Release is one entry of an app's AppStream release history.
type Release struct {
	Version     string `json:"version"`
	Date        string `json:"date,omitempty"` // YYYY-MM-DD
	Description string `json:"description,omitempty"`
}

// Icon is an icon extracted from a label: a PNG checked to decode at its nominal size.
// Icons are stored once by digest, however many images carry them.
type Icon struct {
	Label  string        // the label it came from (LabelIcon64, LabelIcon128)
	Digest digest.Digest // sha256 of Data
	Width  int
	Height int
	Data   []byte
}

// AppImage is a tagged image (or an image inside a tagged list) that carries an App.
type AppImage struct {
	Repository string
	Digest     digest.Digest // the image manifest
	List       digest.Digest // the tagged list holding it, "" when tagged itself
	CreatedAt  time.Time
	App        App // without Icons' Data
}

// AppSource is a manifest whose App facts have not been extracted yet, with the labels
// they come from.
type AppSource struct {
	Ref    ManifestRef
	Labels map[string]string
}

// AppStore keeps the App facts and icons extracted at push time: the gallery of the web
// UI, the icons served by URL, and the one-time extraction for manifests pushed before
// Berth extracted them.
type AppStore interface {
	// Icon returns the bytes of the icon with that digest, or ErrNotFound.
	Icon(ctx context.Context, d digest.Digest) ([]byte, error)
	// IconRepositories lists, in byte order after `after`, up to limit repositories
	// holding a manifest whose App uses the icon.
	IconRepositories(ctx context.Context, d digest.Digest, after string, limit int) ([]string, error)

	// Apps returns the tagged images carrying an App whose ID is one of the first limit
	// IDs after `after` in byte order, ordered by ID: a page of the gallery. ids are
	// those IDs (an ID whose images turn out hidden from the caller still counts).
	Apps(ctx context.Context, after string, limit int) (ids []string, images []AppImage, err error)
	// AppImages returns the tagged images carrying the App id, with release notes.
	AppImages(ctx context.Context, id string) ([]AppImage, error)

	// BackfillPending reports whether the named one-time backfill has yet to finish.
	BackfillPending(ctx context.Context, name string) (bool, error)
	// AppSources lists, after `after` in (repository, digest) order, image manifests
	// with an org.flatpak.ref label and no App facts yet.
	AppSources(ctx context.Context, after ManifestRef, limit int) ([]AppSource, error)
	// PutApp records the App facts of a stored manifest (a no-op if it has them).
	PutApp(ctx context.Context, m ManifestRef, app *App) error
	// FinishBackfill records that the named backfill is done.
	FinishBackfill(ctx context.Context, name string) error
}
