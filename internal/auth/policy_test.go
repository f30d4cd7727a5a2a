package auth

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestPolicyMayPullUnder(t *testing.T) {
	users := testUsers(t)
	p, err := NewPolicy(users, []Rule{
		{Repositories: []string{"public/**"}, Subjects: []string{"anonymous"}, Actions: []string{"pull"}},
		{Repositories: []string{"team/**"}, Subjects: []string{"alice"}, Actions: []string{"pull", "push"}},
		{Repositories: []string{"drop/*"}, Subjects: []string{"alice"}, Actions: []string{"push"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		who    Subject
		prefix string
		want   bool
	}{
		{Subject{}, "public", true},
		{Subject{}, "team", false},
		{Subject{Name: "alice"}, "public", true}, // what anonymous may, every caller may
		{Subject{Name: "alice"}, "team", true},
		{Subject{Name: "alice"}, "team/app", true},
		{Subject{Name: "alice"}, "drop", false}, // push alone shows nothing
		{Subject{Name: "alice"}, "teams", false},
	}
	for _, tt := range tests {
		if got := p.MayPullUnder(tt.who, tt.prefix); got != tt.want {
			t.Errorf("MayPullUnder(%q, %q) = %v, want %v", tt.who.Name, tt.prefix, got, tt.want)
		}
	}
	open, err := NewPolicy(users, nil)
	if err != nil {
		t.Fatal(err)
	}
	if open.MayPullUnder(Subject{}, "team") || !open.MayPullUnder(Subject{Name: "alice"}, "team") {
		t.Error("without rules: anonymous callers may pull nothing, users everything")
	}
}

// The rules of docs/auth.md: a public repository, team-private repositories, a CI user
// that pushes, and an admin group.
func exampleRules() []Rule {
	return []Rule{
		{Repositories: []string{"library/*", "public/**"}, Subjects: []string{"anonymous"}, Actions: []string{"pull"}},
		{Repositories: []string{"dev/**"}, Subjects: []string{"group:dev"}, Actions: []string{"pull", "push"}},
		{Repositories: []string{"dev/**"}, Subjects: []string{"ci"}, Actions: []string{"pull", "push"}},
		{Repositories: []string{"**"}, Subjects: []string{"group:ops"}, Actions: []string{"*"}},
		{Repositories: []string{"shared"}, Subjects: []string{"authenticated"}, Actions: []string{"pull"}},
		{Repositories: []string{"bob/*"}, Subjects: []string{"bob"}, Actions: []string{"push", "delete", "pull"}},
	}
}

func TestPolicyAllowed(t *testing.T) {
	users := testUsers(t)
	rules, err := NewPolicy(users, exampleRules())
	if err != nil {
		t.Fatal(err)
	}
	open, err := NewPolicy(users, nil)
	if err != nil {
		t.Fatal(err)
	}
	anon, alice, bob, carol, ci := Subject{}, Subject{"alice"}, Subject{"bob"}, Subject{"carol"}, Subject{"ci"}
	all := []string{"pull", "push", "delete"}
	tests := []struct {
		name   string
		policy *Policy
		s      Subject
		repo   string
		want   []string
	}{
		{"no rules: anonymous nothing", open, anon, "library/alpine", nil},
		{"no rules: user everything", open, bob, "any/thing", all},
		{"no rules: invalid name", open, bob, "Bad/Name", nil},
		{"public to anonymous", rules, anon, "library/alpine", []string{"pull"}},
		{"public to users too", rules, bob, "public/a/b", []string{"pull"}},
		{"public is one level", rules, anon, "library/a/b", nil},
		{"private to anonymous", rules, anon, "dev/app", nil},
		{"team via group", rules, alice, "dev/app/x", []string{"pull", "push"}},
		{"team root is not under **", rules, alice, "dev", nil},
		{"not in team", rules, bob, "dev/app", nil},
		{"ci push user", rules, ci, "dev/app", []string{"pull", "push"}},
		{"ops group via user config", rules, carol, "anything/at/all", all},
		{"union of rules", rules, carol, "dev/app", all},
		{"authenticated", rules, bob, "shared", []string{"pull"}},
		{"authenticated excludes anonymous", rules, anon, "shared", nil},
		{"user rule, canonical order", rules, bob, "bob/x", all},
		{"nothing matches", rules, alice, "elsewhere", nil},
		{"invalid name never allowed", rules, carol, "UPPER", nil},
	}
	for _, tt := range tests {
		if got := tt.policy.Allowed(tt.s, tt.repo); !slices.Equal(got, tt.want) {
			t.Errorf("%s: Allowed(%q, %q) = %v, want %v", tt.name, tt.s.Name, tt.repo, got, tt.want)
		}
	}
	for repo, want := range map[string]bool{"library/alpine": true, "public/x/y": true, "dev/app": false, "shared": false} {
		if got := rules.IsPublic(repo); got != want {
			t.Errorf("IsPublic(%q) = %v, want %v", repo, got, want)
		}
	}
	if open.IsPublic("library/alpine") {
		t.Error("no rules: a repository is public")
	}
}

func TestNewPolicyRefusesTypos(t *testing.T) {
	users := testUsers(t)
	tests := []struct {
		rule    Rule
		wantErr string
	}{
		{Rule{Repositories: []string{"x"}, Subjects: []string{"alcie"}, Actions: []string{"pull"}}, "no such user"},
		{Rule{Repositories: []string{"x"}, Subjects: []string{"group:devs"}, Actions: []string{"pull"}}, "no such group"},
		{Rule{Repositories: []string{"x"}, Subjects: []string{"alice"}, Actions: []string{"read"}}, "unknown action"},
		{Rule{Repositories: []string{"X"}, Subjects: []string{"alice"}, Actions: []string{"pull"}}, "cannot occur"},
		{Rule{Repositories: []string{"x"}, Actions: []string{"pull"}}, "must all be given"},
	}
	for _, tt := range tests {
		_, err := NewPolicy(users, []Rule{exampleRules()[0], tt.rule})
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "auth.rules[1]") {
			t.Errorf("rule %+v: err = %v, want %q", tt.rule, err, tt.wantErr)
		}
	}
	// A declared group without members is not a typo.
	if _, err := NewPolicy(users, []Rule{{Repositories: []string{"x"}, Subjects: []string{"group:empty"}, Actions: []string{"pull"}}}); err != nil {
		t.Fatal(err)
	}
}

func TestGrantIntersects(t *testing.T) {
	users := testUsers(t)
	p, err := NewPolicy(users, exampleRules())
	if err != nil {
		t.Fatal(err)
	}
	scopes := func(s ...string) []Scope {
		out, err := ParseScopes(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tests := []struct {
		name   string
		s      Subject
		scopes []Scope
		want   []Access
	}{
		{"anonymous pull of public", Subject{}, scopes("repository:library/alpine:pull,push"),
			[]Access{{Type: "repository", Name: "library/alpine", Actions: []string{"pull"}}}},
		{"empty intersection is left out", Subject{}, scopes("repository:dev/app:pull"), nil},
		{"star asks for everything allowed", Subject{"alice"}, scopes("repository:dev/app:*"),
			[]Access{{Type: "repository", Name: "dev/app", Actions: []string{"pull", "push"}}}},
		{"unknown actions dropped", Subject{"alice"}, scopes("repository:dev/app:pull,fly,push"),
			[]Access{{Type: "repository", Name: "dev/app", Actions: []string{"pull", "push"}}}},
		{"two scopes, mount", Subject{"ci"}, scopes("repository:dev/app:pull,push", "repository:library/alpine:pull"),
			[]Access{{Type: "repository", Name: "dev/app", Actions: []string{"pull", "push"}},
				{Type: "repository", Name: "library/alpine", Actions: []string{"pull"}}}},
		{"same resource merged", Subject{"carol"}, scopes("repository:x/y:push repository:x/y:pull"),
			[]Access{{Type: "repository", Name: "x/y", Actions: []string{"pull", "push"}}}},
		{"plugin class kept", Subject{}, scopes("repository(plugin):library/sshfs:pull"),
			[]Access{{Type: "repository", Class: "plugin", Name: "library/sshfs", Actions: []string{"pull"}}}},
		{"catalog for anonymous", Subject{}, scopes("registry:catalog:*"),
			[]Access{{Type: "registry", Name: "catalog", Actions: []string{"*"}}}},
		{"catalog needs *", Subject{"bob"}, scopes("registry:catalog:pull"), nil},
		{"unknown type", Subject{"carol"}, scopes("thing:x:pull"), nil},
		{"host prefix is not our name", Subject{"carol"}, scopes("repository:localhost:5000/x:pull"), nil},
	}
	for _, tt := range tests {
		if got := p.Grant(tt.s, tt.scopes); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Grant = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}
