package auth

import (
	"fmt"
	"strings"
)

// The actions on a repository. A rule or scope may say "*" for all three.
const (
	ActionPull   = "pull"
	ActionPush   = "push"
	ActionDelete = "delete"
)

// Subject keywords of rules.
const (
	// SubjectAnonymous is every caller, logged in or not: logging in never takes away
	// what an anonymous caller may do.
	SubjectAnonymous = "anonymous"
	// SubjectAuthenticated is every caller who logged in.
	SubjectAuthenticated = "authenticated"
	// groupPrefix starts a subject naming a group: group:NAME.
	groupPrefix = "group:"
)

// Rule grants Actions on the repositories matching any of Repositories to any of
// Subjects. Rules only grant: what a caller may do is the union of every rule that
// matches, so their order does not matter.
//
// Repository patterns match whole path segments of a name:
//   - a literal segment matches itself; * inside a segment matches any run of characters
//     other than '/' (team/app-* matches team/app-web);
//   - a segment * matches exactly one segment (team/* matches team/x, not team/x/y);
//   - a segment ** matches one or more segments (team/** matches team/x and team/x/y but
//     not team itself, which is a repository of its own: list it too if meant);
//   - * alone is every name without '/', ** alone is every repository.
//
// Subjects are user names, group:NAME, anonymous (everyone) and authenticated (everyone
// logged in). Actions are pull, push, delete and * (all three); push does not imply pull,
// and docker push needs both.
type Rule struct {
	// Repositories are name patterns.
	Repositories []string `yaml:"repositories"`
	// Subjects are user names, group:NAME, anonymous or authenticated.
	Subjects []string `yaml:"subjects"`
	// Actions are pull, push, delete or *.
	Actions []string `yaml:"actions"`
}

// actionSet is a set of repository actions as bits, in the order pull, push, delete.
type actionSet uint8

const (
	canPull actionSet = 1 << iota
	canPush
	canDelete
	canAll = canPull | canPush | canDelete
)

// parseAction returns the bits of a known action name, or 0.
func parseAction(a string) actionSet {
	switch a {
	case ActionPull:
		return canPull
	case ActionPush:
		return canPush
	case ActionDelete:
		return canDelete
	case "*":
		return canAll
	}
	return 0
}

// names lists the actions of s in their canonical order; nil when empty.
func (s actionSet) names() []string {
	var out []string
	for i, n := range []string{ActionPull, ActionPush, ActionDelete} {
		if s&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// rule is a Rule checked against the users and compiled for matching.
type rule struct {
	repos         []pattern
	anonymous     bool
	authenticated bool
	users         map[string]bool
	groups        []string
	actions       actionSet
}

func compileRule(users *Users, r Rule) (rule, error) {
	c := rule{users: map[string]bool{}}
	if len(r.Repositories) == 0 || len(r.Subjects) == 0 || len(r.Actions) == 0 {
		return c, fmt.Errorf("repositories, subjects and actions must all be given")
	}
	for _, s := range r.Repositories {
		p, err := compilePattern(s)
		if err != nil {
			return c, err
		}
		c.repos = append(c.repos, p)
	}
	for _, s := range r.Subjects {
		switch g, isGroup := strings.CutPrefix(s, groupPrefix); {
		case s == SubjectAnonymous:
			c.anonymous = true
		case s == SubjectAuthenticated:
			c.authenticated = true
		case isGroup:
			// A group nobody declared is a typo that would silently grant nothing.
			if !users.groups[g] {
				return c, fmt.Errorf("subject %s: no such group", s)
			}
			c.groups = append(c.groups, g)
		default:
			if !users.Exists(s) {
				return c, fmt.Errorf("subject %s: no such user (groups are written group:NAME)", s)
			}
			c.users[s] = true
		}
	}
	for _, a := range r.Actions {
		bits := parseAction(a)
		if bits == 0 {
			return c, fmt.Errorf("unknown action %q (want pull, push, delete or *)", a)
		}
		c.actions |= bits
	}
	return c, nil
}

// appliesTo reports whether the rule's subjects include s.
func (r *rule) appliesTo(users *Users, s Subject) bool {
	if r.anonymous || (r.authenticated && !s.Anonymous()) {
		return true
	}
	if s.Anonymous() {
		return false
	}
	if r.users[s.Name] {
		return true
	}
	for _, g := range r.groups {
		if users.inGroup(s.Name, g) {
			return true
		}
	}
	return false
}

func (r *rule) matches(repo string) bool {
	for _, p := range r.repos {
		if p.match(repo) {
			return true
		}
	}
	return false
}

// pattern is a compiled repository pattern: its segments.
type pattern []string

func compilePattern(s string) (pattern, error) {
	if s == "" {
		return nil, fmt.Errorf("empty repository pattern")
	}
	segs := strings.Split(s, "/")
	for _, seg := range segs {
		if seg == "**" {
			continue
		}
		if seg == "" || strings.Contains(seg, "**") {
			return nil, fmt.Errorf("repository pattern %q: ** must be a whole segment and segments must not be empty", s)
		}
		for _, c := range seg {
			// Names are lower case; an upper-case or other character could never match,
			// so it is a mistake worth reporting rather than a rule that does nothing.
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '*') {
				return nil, fmt.Errorf("repository pattern %q: character %q cannot occur in a repository name", s, c)
			}
		}
	}
	return segs, nil
}

// match reports whether name matches p, by dynamic programming over (pattern segment,
// name segment) so that several ** stay linear in the name's length.
func (p pattern) match(name string) bool {
	segs := strings.Split(name, "/")
	n := len(segs)
	// next[j]: p[i+1:] matches segs[j:]; starts as the empty pattern's row.
	next := make([]bool, n+1)
	next[n] = true
	for i := len(p) - 1; i >= 0; i-- {
		cur := make([]bool, n+1)
		for j := n - 1; j >= 0; j-- {
			if p[i] == "**" {
				// Take segs[j], then either end the ** here or let it take more.
				cur[j] = next[j+1] || cur[j+1]
			} else {
				cur[j] = next[j+1] && globSegment(p[i], segs[j])
			}
		}
		next = cur
	}
	return next[0]
}

// matchesUnder reports whether p matches some name that is prefix or begins with
// prefix + "/": whether p's leading segments can match all of prefix's segments (what
// follows can always be matched by more segments, or none).
func (p pattern) matchesUnder(prefix string) bool {
	segs := strings.Split(prefix, "/")
	// reach[j]: p[:i] matches segs[:j], for the i of the loop.
	reach := make([]bool, len(segs)+1)
	reach[0] = true
	for _, ps := range p {
		next := make([]bool, len(segs)+1)
		for j := 1; j <= len(segs); j++ {
			if ps == "**" {
				next[j] = reach[j-1] || next[j-1]
			} else {
				next[j] = reach[j-1] && globSegment(ps, segs[j-1])
			}
		}
		if reach = next; reach[len(segs)] {
			return true
		}
	}
	return false
}

// globSegment matches one segment against a glob whose only metacharacter is *, by the
// usual backtrack-to-last-star scan (linear in practice, no recursion).
func globSegment(glob, s string) bool {
	gi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case gi < len(glob) && glob[gi] == '*':
			star, mark = gi, si
			gi++
		case gi < len(glob) && glob[gi] == s[si]:
			gi++
			si++
		case star >= 0:
			mark++
			gi, si = star+1, mark
		default:
			return false
		}
	}
	for gi < len(glob) && glob[gi] == '*' {
		gi++
	}
	return gi == len(glob)
}

// Pattern is a compiled repository name pattern in the dialect of Rule's Repositories,
// for other rules over repository names (quotas) that must read patterns the same way.
type Pattern struct{ p pattern }

// ParsePattern compiles s, refusing what the access rules refuse.
func ParsePattern(s string) (Pattern, error) {
	p, err := compilePattern(s)
	return Pattern{p}, err
}

// Match reports whether name matches the pattern.
func (p Pattern) Match(name string) bool { return p.p.match(name) }
