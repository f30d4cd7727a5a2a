package ui

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/oci"
)

type keyValue struct{ Key, Value string }

type childRow struct {
	oci.Descriptor
	Platform string
	Stored   bool
}

type referrerGroup struct {
	ArtifactType string
	Referrers    []metadata.Referrer
}

type manifestPage struct {
	Repo        string
	Manifest    *metadata.Manifest
	Parsed      *oci.Manifest
	Summary     summary
	Config      *oci.Descriptor
	Layers      []oci.Descriptor
	Children    []childRow
	Labels      []keyValue
	Annotations []keyValue
	Referrers   []referrerGroup
	MoreRefs    bool
	Commands    []string
	Payload     string
}

// maxReferrers bounds the referrers a manifest page lists (signatures, SBOMs and
// attestations of one manifest are a handful; the API pages through the rest).
const maxReferrers = 100

// manifest shows one manifest: its config and layers with their sizes, the platforms of
// an index, its labels and annotations, and its referrers by artifactType.
func (h *Handler) manifest(rq *request, repo, ref string) {
	d, err := oci.ParseDigest(ref)
	if err != nil || !oci.ValidRepository(repo) || !rq.canPull(repo) {
		rq.notFound()
		return
	}
	ctx := rq.r.Context()
	m, err := h.store.Manifest(ctx, repo, d)
	if rq.failed(err) {
		return
	}
	p := manifestPage{Repo: repo, Manifest: m, Labels: sorted(m.Labels), Annotations: sorted(m.Annotations),
		Commands: pullCommands(rq.baseHost(), repo, "@"+d.String()), Payload: string(m.Payload)}
	ms := metadata.ManifestSummary{Digest: m.Digest, MediaType: m.MediaType, ArtifactType: m.ArtifactType, OS: m.OS,
		Architecture: m.Architecture, Variant: m.Variant, Payload: m.Payload}
	parsed, err := oci.ParseManifest(m.MediaType, m.Payload)
	if err == nil {
		p.Parsed, p.Config, p.Layers = parsed, parsed.Config, parsed.Layers
	}
	var children []metadata.ManifestSummary
	if parsed != nil && parsed.IsIndex() {
		all, err := h.store.ListChildren(ctx, repo, []digest.Digest{d})
		if err != nil {
			rq.fail(err)
			return
		}
		children = all[d]
		stored := map[digest.Digest]metadata.ManifestSummary{}
		for _, c := range children {
			stored[c.Digest] = c
		}
		for _, desc := range parsed.Manifests {
			row := childRow{Descriptor: desc}
			if c, ok := stored[desc.Digest]; ok {
				row.Stored, row.Platform = true, platformOf(c.OS, c.Architecture, c.Variant)
			}
			if row.Platform == "" && desc.Platform != nil {
				row.Platform = platformOf(desc.Platform.OS, desc.Platform.Architecture, desc.Platform.Variant)
			}
			p.Children = append(p.Children, row)
		}
	}
	p.Summary = describe(ms, children)
	refs, err := h.store.Referrers(ctx, repo, d, "", "", maxReferrers+1)
	if err != nil {
		rq.fail(err)
		return
	}
	if len(refs) > maxReferrers {
		refs, p.MoreRefs = refs[:maxReferrers], true
	}
	p.Referrers = groupReferrers(refs)
	rq.page(http.StatusOK, "manifest", repo+"@"+shortDigest(d), p)
}

func sorted(m map[string]string) []keyValue {
	out := make([]keyValue, 0, len(m))
	for k, v := range m {
		out = append(out, keyValue{k, v})
	}
	slices.SortFunc(out, func(a, b keyValue) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func groupReferrers(refs []metadata.Referrer) []referrerGroup {
	var out []referrerGroup
	for _, r := range refs {
		i := slices.IndexFunc(out, func(g referrerGroup) bool { return g.ArtifactType == r.ArtifactType })
		if i < 0 {
			out = append(out, referrerGroup{ArtifactType: r.ArtifactType})
			i = len(out) - 1
		}
		out[i].Referrers = append(out[i].Referrers, r)
	}
	slices.SortFunc(out, func(a, b referrerGroup) int { return cmp.Compare(a.ArtifactType, b.ArtifactType) })
	return out
}
