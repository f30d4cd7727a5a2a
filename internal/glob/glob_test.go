package glob

import (
	"strings"
	"testing"
)

func TestRepositoryMatch(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"team/app", []string{"team/app"}, []string{"team/app2", "team", "team/app/x", "x/team/app"}},
		{"team/*", []string{"team/x", "team/app-web"}, []string{"team", "team/x/y", "other/x", "teamx/y"}},
		{"team/**", []string{"team/x", "team/x/y", "team/x/y/z"}, []string{"team", "teams/x", "other/team/x"}},
		{"*", []string{"alpine", "a"}, []string{"library/alpine"}},
		{"**", []string{"alpine", "library/alpine", "a/b/c/d"}, nil},
		{"team/app-*", []string{"team/app-web", "team/app-a-b"}, []string{"team/app", "team/ap-web", "team/app-x/y"}},
		{"*/base", []string{"team/base", "x/base"}, []string{"base", "a/b/base", "team/base2"}},
		{"**/base", []string{"team/base", "a/b/base"}, []string{"base", "team/base/x"}},
		{"a/**/z", []string{"a/b/z", "a/b/c/z"}, []string{"a/z", "a/b/c", "b/a/x/z"}},
		{"**/x/**", []string{"a/x/b", "a/b/x/c/d"}, []string{"x/a", "a/x", "x"}},
		{"*-prod/*", []string{"web-prod/app"}, []string{"web-dev/app", "-prod/app/x"}},
		{"a*b*c", []string{"abc", "aXbYc", "abbbc"}, []string{"ab", "acb", "aXbYcZ"}},
	}
	for _, tt := range tests {
		p, err := CompileRepository(tt.pattern)
		if err != nil {
			t.Fatalf("CompileRepository(%q): %v", tt.pattern, err)
		}
		if p.String() != tt.pattern {
			t.Errorf("String() = %q, want %q", p.String(), tt.pattern)
		}
		for _, n := range tt.match {
			if !p.Match(n) {
				t.Errorf("%q does not match %q, want match", tt.pattern, n)
			}
			// A name it matches is under each of its leading segments, so a listing
			// that asks MatchesUnder first cannot miss it.
			segs := strings.Split(n, "/")
			for k := 1; k <= len(segs); k++ {
				if prefix := strings.Join(segs[:k], "/"); !p.MatchesUnder(prefix) {
					t.Errorf("%q matches %q but nothing under %q", tt.pattern, n, prefix)
				}
			}
		}
		for _, n := range tt.noMatch {
			if p.Match(n) {
				t.Errorf("%q matches %q, want no match", tt.pattern, n)
			}
		}
	}
}

func TestRepositoryMatchesUnderAPrefix(t *testing.T) {
	tests := []struct {
		pattern string
		under   []string // prefixes with a matching name at or below them
		never   []string
	}{
		{"team/app", []string{"team", "team/app"}, []string{"teams", "team/app/x", "team/ap", "other"}},
		{"team/*", []string{"team", "team/x"}, []string{"team/x/y", "tea", "x"}},
		{"team/**", []string{"team", "team/x", "team/x/y/z"}, []string{"teams", "other", "x/team"}},
		{"*/base", []string{"team", "x", "team/base"}, []string{"team/other", "team/base/x", "a/b"}},
		{"**/base", []string{"team", "a/b/c", "a/base"}, nil},
		{"a/**/z", []string{"a", "a/b", "a/b/c/z"}, []string{"b", "z"}},
		{"*-prod/*", []string{"web-prod", "web-prod/app"}, []string{"web-dev", "web-prod/app/x"}},
		{"**", []string{"anything", "a/b"}, nil},
	}
	for _, tt := range tests {
		p, err := CompileRepository(tt.pattern)
		if err != nil {
			t.Fatalf("CompileRepository(%q): %v", tt.pattern, err)
		}
		for _, prefix := range tt.under {
			if !p.MatchesUnder(prefix) {
				t.Errorf("%q matches nothing under %q, want something", tt.pattern, prefix)
			}
		}
		for _, prefix := range tt.never {
			if p.MatchesUnder(prefix) {
				t.Errorf("%q matches something under %q, want nothing", tt.pattern, prefix)
			}
		}
	}
}

func TestCompileRepositoryRefusesNeverMatching(t *testing.T) {
	for _, p := range []string{"", "Team/x", "team//x", "team/", "/team", "team/x**", "a/***", "team/[ab]", "team/x?", "a b"} {
		if _, err := CompileRepository(p); err == nil {
			t.Errorf("CompileRepository(%q) accepted", p)
		}
	}
}

func TestTagMatch(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"v*", []string{"v1", "v1.2.3", "v"}, []string{"V1", "release-v1", ""}},
		{"latest", []string{"latest"}, []string{"latest2", "Latest"}},
		{"*", []string{"a", "_deltaindex", "V1.0"}, nil},
		{"release-*-rc*", []string{"release-1-rc1", "release-1.2-rc"}, []string{"release-1", "release--rx"}},
		{"*.*.*", []string{"1.2.3", "a.b.c.d"}, []string{"1.2", "123"}},
	}
	for _, tt := range tests {
		p, err := CompileTag(tt.pattern)
		if err != nil {
			t.Fatalf("CompileTag(%q): %v", tt.pattern, err)
		}
		for _, s := range tt.match {
			if !p.Match(s) {
				t.Errorf("%q does not match %q, want match", tt.pattern, s)
			}
		}
		for _, s := range tt.noMatch {
			if p.Match(s) {
				t.Errorf("%q matches %q, want no match", tt.pattern, s)
			}
		}
	}
}

func TestCompileTagRefusesNeverMatching(t *testing.T) {
	for _, p := range []string{"", "v/1", "v?", "[v]*", "a b", "v:1"} {
		if _, err := CompileTag(p); err == nil {
			t.Errorf("CompileTag(%q) accepted", p)
		}
	}
}
