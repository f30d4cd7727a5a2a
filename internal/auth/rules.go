package auth

import (
	"fmt"
	"strings"

	"github.com/berth-registry/berth/internal/glob"
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
// Repository patterns match whole path segments of a name, in the dialect of package
// glob (glob.Repository): team/* is team/x, team/** is team/x and team/x/y, ** is every
// repository.
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
	repos []glob.Repository
	subjects
	actions actionSet
}

// subjects is a list of rule subjects checked against the users.
type subjects struct {
	anonymous     bool
	authenticated bool
	users         map[string]bool
	groups        []string
}

func compileSubjects(users *Users, list []string) (subjects, error) {
	c := subjects{users: map[string]bool{}}
	for _, s := range list {
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
	return c, nil
}

func compileRule(users *Users, r Rule) (rule, error) {
	var c rule
	if len(r.Repositories) == 0 || len(r.Subjects) == 0 || len(r.Actions) == 0 {
		return c, fmt.Errorf("repositories, subjects and actions must all be given")
	}
	for _, s := range r.Repositories {
		p, err := glob.CompileRepository(s)
		if err != nil {
			return c, err
		}
		c.repos = append(c.repos, p)
	}
	var err error
	if c.subjects, err = compileSubjects(users, r.Subjects); err != nil {
		return c, err
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

// appliesTo reports whether the subjects include s.
func (r *subjects) appliesTo(users *Users, s Subject) bool {
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
		if p.Match(repo) {
			return true
		}
	}
	return false
}
