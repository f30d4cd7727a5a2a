package ui

import (
	"cmp"
	"fmt"
	"html/template"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/appstream"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

// funcs are the template helpers. None returns template.HTML: every value the pages
// show is escaped by html/template, whatever an image put in it.
func (h *Handler) funcs() template.FuncMap {
	return template.FuncMap{
		"size":     humanSize,
		"time":     humanTime,
		"isotime":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"short":    shortDigest,
		"repoURL":  repoURL,
		"manURL":   manifestURL,
		"appURL":   func(id string) string { return "/ui/apps/" + url.PathEscape(id) },
		"iconURL":  appstream.IconPath,
		"static":   func(name string) string { return "/ui/static/" + name + "?v=" + h.assetVersion },
		"typeName": typeName,
		"count":    count,
	}
}

// count writes n things: "1 tag", "3 tags".
func count(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// humanSize writes bytes in IEC units.
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

func humanTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func shortDigest(d digest.Digest) string {
	e := d.Encoded()
	if len(e) > 12 {
		e = e[:12]
	}
	return d.Algorithm().String() + ":" + e
}

// repoURL and manifestURL: repository names contain "/", and "/-/" can never be part of
// one (a component cannot be "-"), so it separates the name from what follows.
func repoURL(repo string) string { return "/ui/r/" + escapePath(repo) }

func manifestURL(repo string, d digest.Digest) string {
	return repoURL(repo) + "/-/manifest/" + url.PathEscape(d.String())
}

func escapePath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

// typeName is a short name for a media type.
func typeName(mt string) string {
	switch mt {
	case oci.MediaTypeImageManifest:
		return "OCI image"
	case oci.MediaTypeImageIndex:
		return "OCI index"
	case oci.MediaTypeDockerManifest:
		return "Docker image"
	case oci.MediaTypeDockerManifestList:
		return "Docker manifest list"
	}
	return mt
}

func cutScheme(u string) (scheme, host string, ok bool) {
	scheme, rest, ok := strings.Cut(u, "://")
	host, _, _ = strings.Cut(rest, "/")
	return scheme, host, ok && host != ""
}

func trimSlash(s string) string { return strings.TrimSuffix(s, "/") }

// summary is what a listing shows of a manifest: its kind, size and platforms.
type summary struct {
	Digest    digest.Digest
	MediaType string
	Artifact  string // artifactType (or config media type) of a non-image artifact
	Size      int64  // config and layers; for an index, those of the images it holds
	Platforms []string
}

func platformOf(os, arch, variant string) string {
	if os == "" && arch == "" {
		return ""
	}
	p := os + "/" + arch
	if variant != "" {
		p += "/" + variant
	}
	return p
}

// describe sums up a manifest from its stored payload; children are the stored images of
// an index (by ListChildren), used for their sizes and platforms.
func describe(ms metadata.ManifestSummary, children []metadata.ManifestSummary) summary {
	s := summary{Digest: ms.Digest, MediaType: ms.MediaType}
	p, err := oci.ParseManifest(ms.MediaType, ms.Payload)
	if err != nil {
		return s
	}
	if !p.IsIndex() {
		s.Size = imageSize(p)
		if pl := platformOf(ms.OS, ms.Architecture, ms.Variant); pl != "" {
			s.Platforms = []string{pl}
		}
		if p.Config != nil && p.Config.MediaType != oci.MediaTypeImageConfig && p.Config.MediaType != oci.MediaTypeDockerConfig {
			s.Artifact = cmp.Or(p.ArtifactType, p.Config.MediaType)
		}
		return s
	}
	stored := map[digest.Digest]metadata.ManifestSummary{}
	for _, c := range children {
		stored[c.Digest] = c
	}
	for _, d := range p.Manifests {
		var pl string
		if c, ok := stored[d.Digest]; ok {
			if cp, err := oci.ParseManifest(c.MediaType, c.Payload); err == nil && !cp.IsIndex() {
				s.Size += imageSize(cp)
			}
			pl = platformOf(c.OS, c.Architecture, c.Variant)
		}
		if pl == "" && d.Platform != nil {
			pl = platformOf(d.Platform.OS, d.Platform.Architecture, d.Platform.Variant)
		}
		if pl != "" && pl != "unknown/unknown" && !slices.Contains(s.Platforms, pl) {
			s.Platforms = append(s.Platforms, pl)
		}
	}
	slices.Sort(s.Platforms)
	return s
}

func imageSize(p *oci.Manifest) int64 {
	var n int64
	if p.Config != nil {
		n += p.Config.Size
	}
	for _, l := range p.Layers {
		n += l.Size
	}
	return n
}

// pullCommands are the lines a user copies to pull ref (":tag" or "@digest") of repo.
func pullCommands(host, repo, ref string) []string {
	image := host + "/" + repo + ref
	return []string{
		"docker pull " + image,
		"podman pull " + image,
		"skopeo copy docker://" + image + " oci:" + lastComponent(repo),
	}
}

func lastComponent(repo string) string {
	return repo[strings.LastIndex(repo, "/")+1:]
}
