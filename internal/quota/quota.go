// Package quota holds the operator's quota rules: which namespace the storage of a
// repository counts in, and the limits of namespaces and repositories. It only answers
// questions about names; the metadata store counts usage and enforces the limits in the
// transactions that link content (see metadata.QuotaPolicy).
package quota

import (
	"errors"
	"fmt"
	"strings"

	"github.com/berth-registry/berth/internal/glob"
)

// Config is the quotas: section of Berth's configuration. With no limits set, usage is
// still counted (for /metrics and `berth usage`) and nothing is refused.
type Config struct {
	// Storage is the storage limit in bytes of every namespace that no rule of
	// Namespaces covers; a namespace is then the first path segment of a repository name.
	// 0: no limit.
	Storage int64 `yaml:"storage"`
	// Tags is the most tags a repository no rule covers may have; 0: no limit.
	Tags int `yaml:"tags"`
	// Namespaces are rules, tried in order; the first whose pattern matches the leading
	// segments of a repository name decides its namespace and limits.
	Namespaces []Rule `yaml:"namespaces"`
}

// Rule makes the leading segments of repository names that match Pattern a namespace of
// their own, with its limits. The pattern is in the dialect of the access rules
// (glob.Repository) without "**": a namespace has a fixed number of segments. users/* makes
// users/alice and users/bob two namespaces, each holding every repository below it;
// ml makes ml one namespace (as the default would) with limits of its own.
type Rule struct {
	// Pattern matches a namespace: as many leading segments of a name as it has.
	Pattern string `yaml:"pattern"`
	// Storage is the limit in bytes of each namespace the rule makes; 0: no limit.
	Storage int64 `yaml:"storage"`
	// Tags is the most tags each repository in those namespaces may have; 0: no limit.
	Tags int `yaml:"tags"`
}

// Validate reports the first rule that cannot work.
func (c Config) Validate() error {
	_, err := New(c)
	return err
}

// Policy is a compiled Config. It implements metadata.QuotaPolicy. Safe for concurrent
// use (it never changes).
type Policy struct {
	def   limits
	rules []rule
}

type limits struct {
	storage int64
	tags    int
}

type rule struct {
	source   string
	pattern  glob.Repository
	segments int
	limits
}

// New compiles c.
func New(c Config) (*Policy, error) {
	if c.Storage < 0 || c.Tags < 0 {
		return nil, errors.New("quotas.storage and quotas.tags must not be negative")
	}
	p := &Policy{def: limits{c.Storage, c.Tags}}
	for i, r := range c.Namespaces {
		at := fmt.Sprintf("quotas.namespaces[%d]", i)
		if r.Storage < 0 || r.Tags < 0 {
			return nil, fmt.Errorf("%s: storage and tags must not be negative", at)
		}
		pat, err := glob.CompileRepository(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", at, err)
		}
		segs := strings.Split(r.Pattern, "/")
		for _, s := range segs {
			if s == "**" {
				return nil, fmt.Errorf("%s: pattern %q: ** cannot name a namespace (it has a fixed number of segments)", at, r.Pattern)
			}
		}
		p.rules = append(p.rules, rule{source: r.Pattern, pattern: pat, segments: len(segs), limits: limits{r.Storage, r.Tags}})
	}
	return p, nil
}

// Namespace is the namespace repo's storage counts in: the leading segments the first
// matching rule covers, else the first segment.
func (p *Policy) Namespace(repo string) string {
	ns, _ := p.lookup(repo)
	return ns
}

// lookup returns repo's namespace and the limits that apply to it.
func (p *Policy) lookup(repo string) (string, limits) {
	for _, r := range p.rules {
		if prefix, ok := leading(repo, r.segments); ok && r.pattern.Match(prefix) {
			return prefix, r.limits
		}
	}
	first, _, _ := strings.Cut(repo, "/")
	return first, p.def
}

// StorageLimit is the storage limit of the namespace ns, in bytes (0: none).
func (p *Policy) StorageLimit(ns string) int64 {
	_, l := p.lookup(ns)
	return l.storage
}

// TagLimit is the most tags repo may have (0: no limit).
func (p *Policy) TagLimit(repo string) int {
	_, l := p.lookup(repo)
	return l.tags
}

// Fingerprint names how namespaces are assigned: the rules' patterns in order. Limits
// are not part of it, since changing one does not move any repository.
func (p *Policy) Fingerprint() string {
	var b strings.Builder
	for _, r := range p.rules {
		b.WriteString(r.source)
		b.WriteByte('\n')
	}
	return b.String()
}

// leading returns the first n segments of name, if it has that many.
func leading(name string, n int) (string, bool) {
	end := -1 // the slash after the segments taken so far
	for i := range n {
		j := strings.IndexByte(name[end+1:], '/')
		if j < 0 {
			return name, i == n-1 // the name has exactly i+1 segments
		}
		end += j + 1
	}
	return name[:end], true
}
