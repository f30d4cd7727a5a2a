package auth

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in   string
		want Scope
		ok   bool
	}{
		{"repository:foo/bar:pull,push", Scope{Type: "repository", Name: "foo/bar", Actions: []string{"pull", "push"}}, true},
		{"repository:a/b/c:*", Scope{Type: "repository", Name: "a/b/c", Actions: []string{"*"}}, true},
		{"repository:localhost:5000/x:pull", Scope{Type: "repository", Name: "localhost:5000/x", Actions: []string{"pull"}}, true},
		{"repository(plugin):vieux/sshfs:pull", Scope{Type: "repository", Class: "plugin", Name: "vieux/sshfs", Actions: []string{"pull"}}, true},
		{"registry:catalog:*", Scope{Type: "registry", Name: "catalog", Actions: []string{"*"}}, true},
		{"repository:x:pull,,pull,push,", Scope{Type: "repository", Name: "x", Actions: []string{"pull", "push"}}, true},
		{"repository:x:", Scope{Type: "repository", Name: "x"}, true},
		{"repository:x:fly", Scope{Type: "repository", Name: "x", Actions: []string{"fly"}}, true},
		{"repository:x", Scope{}, false},
		{"repository", Scope{}, false},
		{"repository::pull", Scope{}, false},
		{":x:pull", Scope{}, false},
		{"Repository:x:pull", Scope{}, false},
		{"repository(:x:pull", Scope{}, false},
		{"repository():x:pull", Scope{}, false},
		{"repository(Plugin):x:pull", Scope{}, false},
		{"repo(a)(b):x:pull", Scope{}, false},
		{"repository:x:PULL", Scope{}, false},
		{"repository:x:pull*", Scope{}, false},
		{"repository:a b:pull", Scope{}, false},
		{"repository:a\nb:pull", Scope{}, false},
		{"repository:caf\u00e9:pull", Scope{}, false},
		{"repository:" + strings.Repeat("a", maxScopeLen) + ":pull", Scope{}, false},
	}
	for _, tt := range tests {
		got, err := ParseScope(tt.in)
		if tt.ok != (err == nil) {
			t.Errorf("ParseScope(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if err != nil && !errors.Is(err, ErrScopeInvalid) {
			t.Errorf("ParseScope(%q) err = %v, not ErrScopeInvalid", tt.in, err)
		}
		if tt.ok && !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseScope(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseScopes(t *testing.T) {
	got, err := ParseScopes([]string{"repository:a:pull  repository:b:push", "", "registry:catalog:*"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "a,b,catalog" {
		t.Fatalf("names = %v", names)
	}
	many := strings.Repeat("repository:a:pull ", maxScopes+1)
	if _, err := ParseScopes([]string{many}); !errors.Is(err, ErrScopeInvalid) {
		t.Fatalf("%d scopes: err = %v", maxScopes+1, err)
	}
	if _, err := ParseScopes([]string{"repository:a:pull", "bad"}); err == nil {
		t.Fatal("a bad scope among good ones accepted")
	}
}

func FuzzScope(f *testing.F) {
	for _, s := range []string{"repository:foo/bar:pull,push", "repository(plugin):a:pull", "registry:catalog:*",
		"repository:localhost:5000/a/b:pull", "repository:x:", "a:b:c,,d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := ParseScope(s)
		if err != nil {
			return
		}
		// A parsed scope formats to a string that parses to the same scope, whose
		// parts are non-empty and free of the separators.
		again, err := ParseScope(sc.String())
		if err != nil || !reflect.DeepEqual(again, sc) {
			t.Fatalf("ParseScope(%q) = %+v; its String %q parses to %+v, %v", s, sc, sc.String(), again, err)
		}
		if sc.Type == "" || sc.Name == "" || strings.ContainsAny(sc.Type+sc.Class, ":()") {
			t.Fatalf("ParseScope(%q) = %+v", s, sc)
		}
		for _, a := range sc.Actions {
			if a == "" || strings.ContainsAny(a, ",:") {
				t.Fatalf("ParseScope(%q): action %q", s, a)
			}
		}
		// Granting never panics and grants only what was asked.
		p := &Policy{users: &Users{}}
		for _, acc := range p.Grant(Subject{Name: "x"}, []Scope{sc}) {
			if acc.Name != sc.Name || acc.Type != sc.Type {
				t.Fatalf("granted %+v for %+v", acc, sc)
			}
		}
	})
}
