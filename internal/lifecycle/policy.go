package lifecycle

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/glob"
	"github.com/berth-registry/berth/internal/metadata"
)

// DeltaIndexTag is the tag of a repository's Flatpak delta index (fixed by the Flatpak
// client): retention keeps it, the delta manifests it lists and their target images.
const DeltaIndexTag = "_deltaindex"

// deltaTargetAnnotation names, on a delta manifest, the image the delta leads to.
const deltaTargetAnnotation = "io.github.containers.delta.target"

// policy is a compiled Policy.
type policy struct {
	Policy
	repos   []glob.Repository
	tags    []glob.Tag // nil: every tag
	exclude []glob.Tag
}

func compilePolicies(ps []Policy) ([]policy, error) {
	out := make([]policy, 0, len(ps))
	for i, p := range ps {
		opt := fmt.Sprintf("lifecycle.retention.policies[%d]", i)
		c := policy{Policy: p}
		if c.Name == "" {
			c.Name = opt
		}
		if len(p.Repositories) == 0 {
			return nil, fmt.Errorf("%s: repositories must be given", opt)
		}
		if p.KeepNewest < 0 || p.KeepUsedWithin < 0 || p.UntaggedGrace < 0 {
			return nil, fmt.Errorf("%s: keep_newest, keep_used_within and untagged_grace must not be negative", opt)
		}
		if p.KeepNewest == 0 && p.KeepUsedWithin == 0 && p.UntaggedGrace == 0 {
			return nil, fmt.Errorf("%s: does nothing: give keep_newest or keep_used_within (to expire tags) or untagged_grace (to expire untagged manifests)", opt)
		}
		if (p.KeepNewest == 0 && p.KeepUsedWithin == 0) && (len(p.Tags) > 0 || len(p.ExcludeTags) > 0) {
			return nil, fmt.Errorf("%s: tags and exclude_tags select tags to expire, but neither keep_newest nor keep_used_within is given", opt)
		}
		var err error
		if c.repos, err = repoPatterns(opt+".repositories", p.Repositories); err != nil {
			return nil, err
		}
		if len(p.Tags) > 0 {
			if c.tags, err = tagPatterns(opt+".tags", p.Tags); err != nil {
				return nil, err
			}
		}
		if c.exclude, err = tagPatterns(opt+".exclude_tags", p.ExcludeTags); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// expiresTags reports whether the policy expires tags at all.
func (p *policy) expiresTags() bool { return p.KeepNewest > 0 || p.KeepUsedWithin > 0 }

func (p *policy) selects(tag string) bool {
	return (p.tags == nil || matchTag(p.tags, tag)) && !matchTag(p.exclude, tag)
}

// Verdict is what retention decided about one tag or untagged manifest.
type Verdict struct {
	Repository string
	// Tag is the tag judged; "" for an untagged manifest.
	Tag    string
	Digest digest.Digest
	// Delete is the decision; Reason says why, in words for the operator.
	Delete bool
	Reason string
	// Policy names the policy that decided.
	Policy string

	use metadata.TagUse // the tag as judged, for the checked delete
	cut time.Time       // an untagged manifest's: untagged since before this
}

// String is the verdict as `berth retention --dry-run` and the log print it.
func (v Verdict) String() string {
	verb := "keep"
	if v.Delete {
		verb = "delete"
	}
	if v.Tag == "" {
		return fmt.Sprintf("%s %s@%s: %s", verb, v.Repository, v.Digest, v.Reason)
	}
	return fmt.Sprintf("%s %s:%s (%s): %s", verb, v.Repository, v.Tag, v.Digest, v.Reason)
}

// judgeTags decides about every tag of one repository under p at time now. protected
// are the digests _deltaindex needs; immutable names the rule of immutable tags.
func judgeTags(repo string, p *policy, uses []metadata.TagUse, protected map[digest.Digest]bool, im *Immutable, now time.Time) []Verdict {
	out := make([]Verdict, len(uses))
	// The newest N are counted among the selected tags, whatever else keeps them.
	newest := map[string]bool{}
	if p.KeepNewest > 0 {
		var sel []metadata.TagUse
		for _, u := range uses {
			if p.selects(u.Tag) {
				sel = append(sel, u)
			}
		}
		slices.SortFunc(sel, func(a, b metadata.TagUse) int {
			return cmp.Or(b.PushedAt.Compare(a.PushedAt), cmp.Compare(a.Tag, b.Tag))
		})
		for _, u := range sel[:min(len(sel), p.KeepNewest)] {
			newest[u.Tag] = true
		}
	}
	for i, u := range uses {
		v := Verdict{Repository: repo, Tag: u.Tag, Digest: u.Digest, Policy: p.Name, use: u}
		lastUse := u.PushedAt
		if u.PulledAt.After(lastUse) {
			lastUse = u.PulledAt
		}
		switch rule := im.ImmutableRule(repo, u.Tag); {
		case u.Tag == DeltaIndexTag:
			v.Reason = "the Flatpak delta index"
		case rule != "":
			v.Reason = "immutable by rule " + rule
		case protected[u.Digest]:
			v.Reason = "its image is referenced by " + DeltaIndexTag
		case !p.expiresTags():
			v.Reason = fmt.Sprintf("policy %s expires no tags", p.Name)
		case !p.selects(u.Tag):
			v.Reason = fmt.Sprintf("policy %s does not select it", p.Name)
		case newest[u.Tag]:
			v.Reason = fmt.Sprintf("policy %s: among the newest %d", p.Name, p.KeepNewest)
		case p.KeepUsedWithin > 0 && !lastUse.Before(now.Add(-p.KeepUsedWithin)):
			v.Reason = fmt.Sprintf("policy %s: pushed or pulled within %s", p.Name, p.KeepUsedWithin)
		default:
			v.Delete = true
			v.Reason = fmt.Sprintf("policy %s: %s; pushed %s, pulled %s", p.Name, expiredBecause(p), stamp(u.PushedAt), stamp(u.PulledAt))
		}
		out[i] = v
	}
	return out
}

// expiredBecause says which keep rules a deleted tag failed.
func expiredBecause(p *policy) string {
	switch {
	case p.KeepNewest > 0 && p.KeepUsedWithin > 0:
		return fmt.Sprintf("not among the newest %d, not used within %s", p.KeepNewest, p.KeepUsedWithin)
	case p.KeepNewest > 0:
		return fmt.Sprintf("not among the newest %d", p.KeepNewest)
	}
	return fmt.Sprintf("not pushed or pulled within %s", p.KeepUsedWithin)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
