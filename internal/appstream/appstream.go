// Package appstream extracts what a Flatpak image says about itself from its config
// labels: the org.flatpak.ref, the runtime it needs, its AppStream data (name, summary,
// description, license, homepage, releases) and its icons. Every label is untrusted
// input: the XML is read with bounds on size, depth and tokens and without entities,
// icons must be PNGs of their nominal size, and every text is kept as plain, bounded
// text. The package is pure: no I/O, no logging.
package appstream

import (
	"fmt"

	"github.com/berth-registry/berth/internal/metadata"
)

// Extract returns the App an image's labels describe, or nil when they carry no valid
// org.flatpak.ref (the image is no Flatpak). Labels that are present but unusable are
// left out of the App and reported in problems, for the caller to log.
func Extract(labels map[string]string) (app *metadata.App, problems []error) {
	ref, ok := ParseRef(labels[metadata.LabelFlatpakRef])
	if !ok {
		return nil, nil
	}
	app = &metadata.App{Kind: ref.Kind, ID: ref.ID, Arch: ref.Arch, Branch: ref.Branch}
	if md, ok := labels[metadata.LabelMetadata]; ok {
		app.Runtime = runtimeOf(md)
	}
	if xml, ok := labels[metadata.LabelAppData]; ok {
		c, err := ParseAppData(xml, ref.ID)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", metadata.LabelAppData, err))
		} else {
			app.Name, app.Summary, app.Description = c.Name, c.Summary, c.Description
			app.License, app.Homepage, app.Releases = c.License, c.Homepage, c.Releases
			if len(c.Releases) > 0 {
				app.Version = c.Releases[0].Version
			}
		}
	}
	for _, label := range []string{metadata.LabelIcon64, metadata.LabelIcon128} {
		v, ok := labels[label]
		if !ok {
			continue
		}
		icon, err := DecodeIcon(label, v)
		if err != nil {
			problems = append(problems, fmt.Errorf("%s: %w", label, err))
			continue
		}
		app.Icons = append(app.Icons, icon)
	}
	return app, problems
}
