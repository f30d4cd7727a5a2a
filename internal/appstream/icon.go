package appstream

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// MaxIconSize bounds a decoded icon. A 128×128 RGBA PNG that does not compress at all
// is 64 KiB of pixels; twice that leaves room for metadata chunks.
const MaxIconSize = 128 << 10

// The one form of icon label Flatpak reads inline (flatpak-oci-registry.c, add_icon_image).
const dataURIPrefix = "data:image/png;base64,"

// ErrNotIcon reports an icon label that is no PNG of its nominal size.
var ErrNotIcon = errors.New("not a valid icon")

// DecodeIcon decodes an icon label (LabelIcon64 or LabelIcon128): a data:image/png;base64
// URI of a PNG exactly as wide and high as the label says. The PNG is decoded in full
// (after its header has bounded the work), so a truncated or corrupt image is refused
// rather than served to browsers and Flatpak clients.
func DecodeIcon(label, value string) (metadata.Icon, error) {
	size, ok := metadata.IconLabels()[label]
	if !ok {
		return metadata.Icon{}, fmt.Errorf("%w: %s is no icon label", ErrNotIcon, label)
	}
	b64, ok := strings.CutPrefix(value, dataURIPrefix)
	if !ok {
		return metadata.Icon{}, fmt.Errorf("%w: not a %s URI", ErrNotIcon, strings.TrimSuffix(dataURIPrefix, ","))
	}
	if base64.StdEncoding.DecodedLen(len(b64)) > MaxIconSize+2 {
		return metadata.Icon{}, fmt.Errorf("%w: larger than %d bytes", ErrNotIcon, MaxIconSize)
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return metadata.Icon{}, fmt.Errorf("%w: base64: %v", ErrNotIcon, err)
	}
	if len(data) > MaxIconSize {
		return metadata.Icon{}, fmt.Errorf("%w: larger than %d bytes", ErrNotIcon, MaxIconSize)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return metadata.Icon{}, fmt.Errorf("%w: %v", ErrNotIcon, err)
	}
	if cfg.Width != size || cfg.Height != size {
		return metadata.Icon{}, fmt.Errorf("%w: %d×%d, want %d×%d", ErrNotIcon, cfg.Width, cfg.Height, size, size)
	}
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		return metadata.Icon{}, fmt.Errorf("%w: %v", ErrNotIcon, err)
	}
	return metadata.Icon{Label: label, Digest: digest.FromBytes(data), Width: cfg.Width, Height: cfg.Height, Data: data}, nil
}

// DataURI is the inline form of an icon, as build-bundle writes it.
func DataURI(png []byte) string {
	return dataURIPrefix + base64.StdEncoding.EncodeToString(png)
}

// IconPath is the path at which the server serves the icon with digest d (a sha256 of
// PNG bytes): one stable, content-addressed URL per icon, shared by the index and the
// web UI.
func IconPath(d digest.Digest) string { return "/icons/" + d.Encoded() + ".png" }

// IconDigest reads an icon path's last segment (<hex>.png) back into a digest.
func IconDigest(name string) (digest.Digest, bool) {
	hex, ok := strings.CutSuffix(name, ".png")
	if !ok {
		return "", false
	}
	d := digest.NewDigestFromEncoded(digest.SHA256, hex)
	return d, d.Validate() == nil
}
