// Package glob is the pattern dialect of Berth's configuration: repository-name patterns
// that match whole path segments (access rules, immutable tags, retention policies) and
// tag patterns. Patterns are compiled once, when the configuration is read, and refuse
// what could never match, so that a typo is an error at start rather than a rule that
// silently does nothing. It imports nothing of Berth.
package glob

import (
	"fmt"
	"strings"
)

// Repository is a compiled repository-name pattern. Patterns match whole path segments
// of a name:
//   - a literal segment matches itself; * inside a segment matches any run of characters
//     other than '/' (team/app-* matches team/app-web);
//   - a segment * matches exactly one segment (team/* matches team/x, not team/x/y);
//   - a segment ** matches one or more segments (team/** matches team/x and team/x/y but
//     not team itself, which is a repository of its own: list it too if meant);
//   - * alone is every name without '/', ** alone is every repository.
type Repository struct {
	text string
	segs []string
}

// CompileRepository checks and compiles a repository pattern.
func CompileRepository(s string) (Repository, error) {
	if s == "" {
		return Repository{}, fmt.Errorf("empty repository pattern")
	}
	segs := strings.Split(s, "/")
	for _, seg := range segs {
		if seg == "**" {
			continue
		}
		if seg == "" || strings.Contains(seg, "**") {
			return Repository{}, fmt.Errorf("repository pattern %q: ** must be a whole segment and segments must not be empty", s)
		}
		for _, c := range seg {
			// Names are lower case; an upper-case or other character could never match,
			// so it is a mistake worth reporting rather than a rule that does nothing.
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '*') {
				return Repository{}, fmt.Errorf("repository pattern %q: character %q cannot occur in a repository name", s, c)
			}
		}
	}
	return Repository{text: s, segs: segs}, nil
}

// String is the pattern as written.
func (p Repository) String() string { return p.text }

// Match reports whether name matches p, by dynamic programming over (pattern segment,
// name segment) so that several ** stay linear in the name's length.
func (p Repository) Match(name string) bool {
	segs := strings.Split(name, "/")
	n := len(segs)
	// next[j]: p[i+1:] matches segs[j:]; starts as the empty pattern's row.
	next := make([]bool, n+1)
	next[n] = true
	for i := len(p.segs) - 1; i >= 0; i-- {
		cur := make([]bool, n+1)
		for j := n - 1; j >= 0; j-- {
			if p.segs[i] == "**" {
				// Take segs[j], then either end the ** here or let it take more.
				cur[j] = next[j+1] || cur[j+1]
			} else {
				cur[j] = next[j+1] && segment(p.segs[i], segs[j])
			}
		}
		next = cur
	}
	return next[0]
}

// MatchesUnder reports whether p matches some name that is prefix or begins with
// prefix + "/": whether p's leading segments can match all of prefix's segments (what
// follows can always be matched by more segments, or none). A listing asks it to pass
// over a whole subtree without looking it up.
func (p Repository) MatchesUnder(prefix string) bool {
	segs := strings.Split(prefix, "/")
	// reach[j]: p[:i] matches segs[:j], for the i of the loop.
	reach := make([]bool, len(segs)+1)
	reach[0] = true
	for _, ps := range p.segs {
		next := make([]bool, len(segs)+1)
		for j := 1; j <= len(segs); j++ {
			if ps == "**" {
				next[j] = reach[j-1] || next[j-1]
			} else {
				next[j] = reach[j-1] && segment(ps, segs[j-1])
			}
		}
		if reach = next; reach[len(segs)] {
			return true
		}
	}
	return false
}

// Tag is a compiled tag pattern: a glob whose only metacharacter is *, matching any run
// of characters (tags contain no '/').
type Tag struct{ text string }

// CompileTag checks and compiles a tag pattern: tag characters (letters, digits, '_',
// '.', '-') and *.
func CompileTag(s string) (Tag, error) {
	if s == "" {
		return Tag{}, fmt.Errorf("empty tag pattern")
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-' || c == '*') {
			return Tag{}, fmt.Errorf("tag pattern %q: character %q cannot occur in a tag", s, c)
		}
	}
	return Tag{text: s}, nil
}

// String is the pattern as written.
func (p Tag) String() string { return p.text }

// Match reports whether tag matches p.
func (p Tag) Match(tag string) bool { return segment(p.text, tag) }

// segment matches one segment against a glob whose only metacharacter is *, by the usual
// backtrack-to-last-star scan (linear in practice, no recursion).
func segment(glob, s string) bool {
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
