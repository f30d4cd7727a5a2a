package auth

import (
	"fmt"
	"slices"

	"github.com/berth-registry/berth/internal/oci"
)

// Policy decides what a subject may do on a repository. It is read-only after
// NewPolicy, so safe for concurrent use.
type Policy struct {
	users *Users
	rules []rule
}

// NewPolicy checks rules against users and compiles them. With no rules the policy is
// Distribution's htpasswd behaviour: every authenticated user may do everything and
// anonymous callers nothing. A rule naming an unknown user or group, an unknown action
// or a pattern that can never match is an error, so a typo cannot silently grant nothing.
func NewPolicy(users *Users, rules []Rule) (*Policy, error) {
	if users == nil {
		users = &Users{} // no users: rules can name only anonymous and authenticated
	}
	p := &Policy{users: users}
	for i, r := range rules {
		c, err := compileRule(users, r)
		if err != nil {
			return nil, fmt.Errorf("auth.rules[%d]: %w", i, err)
		}
		p.rules = append(p.rules, c)
	}
	return p, nil
}

func (p *Policy) allowed(s Subject, repo string) actionSet {
	if !oci.ValidRepository(repo) {
		return 0
	}
	if len(p.rules) == 0 {
		if s.Anonymous() {
			return 0
		}
		return canAll
	}
	var set actionSet
	for i := range p.rules {
		r := &p.rules[i]
		if set&r.actions != r.actions && r.appliesTo(p.users, s) && r.matches(repo) {
			set |= r.actions
		}
	}
	return set
}

// Allowed lists the actions (pull, push, delete, in that order) s may perform on repo;
// nil when none or when repo is not a valid repository name.
func (p *Policy) Allowed(s Subject, repo string) []string {
	return p.allowed(s, repo).names()
}

// MayPullUnder reports whether the rules let s pull some repository named prefix or
// below it (prefix/...), whether or not one exists: a decision from the rules alone, so
// that a listing can pass over what is hidden without looking it up.
func (p *Policy) MayPullUnder(s Subject, prefix string) bool {
	if len(p.rules) == 0 {
		return !s.Anonymous()
	}
	for i := range p.rules {
		r := &p.rules[i]
		if r.actions&canPull == 0 || !r.appliesTo(p.users, s) {
			continue
		}
		for _, pat := range r.repos {
			if pat.MatchesUnder(prefix) {
				return true
			}
		}
	}
	return false
}

// IsPublic reports whether anonymous callers may pull repo.
func (p *Policy) IsPublic(repo string) bool {
	return p.allowed(Subject{}, repo)&canPull != 0
}

// Grant intersects the requested scopes with what s is allowed: unknown types and
// actions are dropped, repeated scopes of one resource are merged, and resources with
// nothing granted are left out. registry:catalog:* is granted to every caller because
// the catalog is filtered per repository when it is listed.
func (p *Policy) Grant(s Subject, scopes []Scope) []Access {
	var out []Access
	add := func(sc Scope, actions []string) {
		for i := range out {
			a := &out[i]
			if a.Type == sc.Type && a.Class == sc.Class && a.Name == sc.Name {
				for _, act := range actions {
					if !slices.Contains(a.Actions, act) {
						a.Actions = append(a.Actions, act)
					}
				}
				return
			}
		}
		out = append(out, Access{Type: sc.Type, Class: sc.Class, Name: sc.Name, Actions: actions})
	}
	for _, sc := range scopes {
		switch sc.Type {
		case TypeRepository:
			var want actionSet
			for _, a := range sc.Actions {
				want |= parseAction(a)
			}
			// The class (image, plugin) says what the client will fetch, not who may.
			if got := want & p.allowed(s, sc.Name); got != 0 {
				add(sc, got.names())
			}
		case TypeRegistry:
			if sc.Name == "catalog" && slices.Contains(sc.Actions, "*") {
				add(sc, []string{"*"})
			}
		}
	}
	// Keep merged action lists in canonical order, as a single request would give them.
	for i := range out {
		if out[i].Type == TypeRepository {
			var set actionSet
			for _, a := range out[i].Actions {
				set |= parseAction(a)
			}
			out[i].Actions = set.names()
		}
	}
	return out
}
