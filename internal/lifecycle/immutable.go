package lifecycle

import (
	"fmt"

	"github.com/berth-registry/berth/internal/glob"
)

// Immutable is the compiled immutable-tag rules; it is the metadata.ImmutableRules a
// store enforces. Read-only once built, so safe for concurrent use.
type Immutable struct {
	rules []immutableRule
}

type immutableRule struct {
	name  string
	repos []glob.Repository
	tags  []glob.Tag
}

// NewImmutable compiles rules; a rule without repositories or tags, or with a pattern
// that can never match, is an error.
func NewImmutable(rules []ImmutableRule) (*Immutable, error) {
	im := &Immutable{}
	for i, r := range rules {
		opt := fmt.Sprintf("lifecycle.immutable[%d]", i)
		if len(r.Repositories) == 0 || len(r.Tags) == 0 {
			return nil, fmt.Errorf("%s: repositories and tags must both be given", opt)
		}
		c := immutableRule{name: r.Name}
		if c.name == "" {
			c.name = opt
		}
		var err error
		if c.repos, err = repoPatterns(opt+".repositories", r.Repositories); err != nil {
			return nil, err
		}
		if c.tags, err = tagPatterns(opt+".tags", r.Tags); err != nil {
			return nil, err
		}
		im.rules = append(im.rules, c)
	}
	return im, nil
}

// Empty reports whether there are no rules.
func (im *Immutable) Empty() bool { return im == nil || len(im.rules) == 0 }

// ImmutableRule names the first rule that matches repo:tag; "" when none does. The
// Flatpak delta index is never held: the registry rewrites it with every new delta, and
// a rule such as tags ["*"] would otherwise stop the deltas of the repository for good.
func (im *Immutable) ImmutableRule(repo, tag string) string {
	if im == nil || tag == DeltaIndexTag {
		return ""
	}
	for _, r := range im.rules {
		if matchTag(r.tags, tag) && matchRepo(r.repos, repo) {
			return r.name
		}
	}
	return ""
}
