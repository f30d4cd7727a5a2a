package quota

import (
	"strings"
	"testing"
)

func TestNamespaceIsTheLeadingSegmentsOfTheFirstMatchingRule(t *testing.T) {
	p, err := New(Config{
		Storage: 100, Tags: 5,
		Namespaces: []Rule{
			{Pattern: "users/*", Storage: 10, Tags: 2},
			{Pattern: "ml", Storage: 0},
			{Pattern: "team-*/*/*", Storage: 30},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		repo, ns string
		storage  int64
		tags     int
	}{
		{"users/alice/app", "users/alice", 10, 2},
		{"users/alice", "users/alice", 10, 2},
		{"users", "users", 100, 5}, // one segment: the rule needs two
		{"ml/models/big", "ml", 0, 0},
		{"ml", "ml", 0, 0},
		{"mlx/a", "mlx", 100, 5},
		{"team-a/x/y/z", "team-a/x/y", 30, 0},
		{"team-a/x", "team-a", 100, 5},
		{"library/alpine", "library", 100, 5},
		{"alpine", "alpine", 100, 5},
	} {
		if got := p.Namespace(tt.repo); got != tt.ns {
			t.Errorf("Namespace(%q) = %q, want %q", tt.repo, got, tt.ns)
		}
		if got := p.StorageLimit(tt.ns); got != tt.storage {
			t.Errorf("StorageLimit(%q) = %d, want %d", tt.ns, got, tt.storage)
		}
		if got := p.TagLimit(tt.repo); got != tt.tags {
			t.Errorf("TagLimit(%q) = %d, want %d", tt.repo, got, tt.tags)
		}
	}
}

func TestNewRefusesRulesThatCannotWork(t *testing.T) {
	for _, c := range []Config{
		{Storage: -1},
		{Tags: -1},
		{Namespaces: []Rule{{Pattern: "a/**"}}},
		{Namespaces: []Rule{{Pattern: ""}}},
		{Namespaces: []Rule{{Pattern: "Upper"}}},
		{Namespaces: []Rule{{Pattern: "a", Storage: -5}}},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("Validate(%+v) accepted", c)
		} else if len(c.Namespaces) > 0 && !strings.Contains(err.Error(), "quotas.namespaces[0]") {
			t.Errorf("error %q does not name the rule", err)
		}
	}
}

func TestFingerprintFollowsPatternsNotLimits(t *testing.T) {
	fp := func(c Config) string {
		p, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		return p.Fingerprint()
	}
	base := fp(Config{Namespaces: []Rule{{Pattern: "users/*"}, {Pattern: "ml"}}})
	if fp(Config{Storage: 5, Namespaces: []Rule{{Pattern: "users/*", Storage: 1}, {Pattern: "ml", Tags: 3}}}) != base {
		t.Error("a change of limits changed the fingerprint")
	}
	if fp(Config{Namespaces: []Rule{{Pattern: "ml"}, {Pattern: "users/*"}}}) == base {
		t.Error("reordered rules kept the fingerprint (the first match wins, so order counts)")
	}
	if fp(Config{}) != "" {
		t.Error("no rules: the fingerprint should be empty, as the migration records it")
	}
}
