package mirror

import (
	"strings"
	"testing"
)

func TestValidateRefusesWhatCannotWork(t *testing.T) {
	ok := Config{Prefix: "hub", URL: "https://registry-1.docker.io"}
	tests := []struct {
		name string
		cs   []Config
		want string // "" for valid
	}{
		{"one upstream", []Config{ok}, ""},
		{"two distinct prefixes", []Config{ok, {Prefix: "ghcr", URL: "https://ghcr.io"}}, ""},
		{"nested prefix", []Config{ok, {Prefix: "hub/x", URL: "https://ghcr.io"}}, "overlaps"},
		{"same prefix", []Config{ok, {Prefix: "hub/", URL: "https://ghcr.io"}}, "overlaps"},
		{"bad prefix", []Config{{Prefix: "Hub", URL: "https://x"}}, "prefix"},
		{"empty prefix", []Config{{URL: "https://x"}}, "prefix"},
		{"URL with a path", []Config{{Prefix: "a", URL: "https://x/v2"}}, "url"},
		{"URL without scheme", []Config{{Prefix: "a", URL: "registry.example.com"}}, "url"},
		{"credentials in the URL", []Config{{Prefix: "a", URL: "https://u:p@x"}}, "credentials"},
		{"two password sources", []Config{{Prefix: "a", URL: "https://x", Username: "u", PasswordFile: "f", PasswordEnv: "E"}}, "exclude"},
		{"password without user", []Config{{Prefix: "a", URL: "https://x", PasswordEnv: "E"}}, "username"},
		{"negative TTL", []Config{{Prefix: "a", URL: "https://x", TagTTL: -1}}, "negative"},
		{"cert without key", []Config{{Prefix: "a", URL: "https://x", TLS: TLS{CertFile: "c"}}}, "together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.cs)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// TestValidateReportsEveryProblem: one problem a line, so that Berth's configuration
// report lists each with the others, and no password of a URL in them.
func TestValidateReportsEveryProblem(t *testing.T) {
	err := Validate([]Config{
		{Prefix: "Hub", URL: "https://u:s3cret@x/v2", TagTTL: -1},
		{Prefix: "ok", URL: "https://x", PasswordEnv: "E"},
	})
	if err == nil {
		t.Fatal("no problem found")
	}
	lines := strings.Split(err.Error(), "\n")
	for _, want := range []string{"mirrors[0].prefix", "mirrors[0].url must be", "mirrors[0].url must not carry credentials", "mirrors[0].tag_ttl", "mirrors[1]: a password needs a username"} {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, want)
		}
		if !found {
			t.Errorf("no line starts with %q in:\n%v", want, err)
		}
	}
	if len(lines) != 5 || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("%d lines (want 5), or the password shown:\n%v", len(lines), err)
	}
}

func TestUpstreamNamesMapOneSegmentToLibrary(t *testing.T) {
	m := newMetrics(nil)
	for _, tt := range []struct {
		library    bool
		repo, want string
	}{
		{true, "hub/alpine", "library/alpine"},
		{true, "hub/library/alpine", "library/alpine"},
		{true, "hub/grafana/grafana", "grafana/grafana"},
		{false, "hub/alpine", "alpine"},
	} {
		u, err := newUpstream(Config{Prefix: "hub", URL: "https://registry-1.docker.io", Library: tt.library}, nil, m)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.repository(tt.repo); got.Name != tt.want || got.Host != "registry-1.docker.io" {
			t.Errorf("library=%v %s → %v, want %s", tt.library, tt.repo, got, tt.want)
		}
	}
}

func TestPasswordComesFromItsVariable(t *testing.T) {
	c := Config{Prefix: "a", URL: "https://x", Username: "u", PasswordEnv: "MIRROR_PW"}
	if p, err := c.password(func(k string) string { return map[string]string{"MIRROR_PW": "s3cret"}[k] }); err != nil || p != "s3cret" {
		t.Fatalf("password from env: %q %v", p, err)
	}
	if _, err := c.password(func(string) string { return "" }); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("unset variable: %v", err)
	}
}
