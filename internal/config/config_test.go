package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/lifecycle"
	"github.com/berth-registry/berth/internal/quota"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "berth.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadLayersDefaultsFileAndEnv(t *testing.T) {
	file := writeFile(t, "addr: 0.0.0.0:6000\nregistry:\n  max_page_size: 50\nlog:\n  level: debug\n")
	tests := []struct {
		name    string
		path    string
		env     []string
		check   func(Config) bool
		wantErr string
	}{
		{name: "defaults", check: func(c Config) bool { return reflect.DeepEqual(c, Default()) }},
		{name: "file overrides defaults", path: file, check: func(c Config) bool {
			return c.Addr == "0.0.0.0:6000" && c.Registry.MaxPageSize == 50 && c.Log.Level == "debug" && c.Data == "./berth-data"
		}},
		{name: "env overrides file", path: file, env: []string{"BERTH_ADDR=127.0.0.1:7000", "BERTH_REGISTRY_DELETE_ENABLED=false", "BERTH_SHUTDOWN_TIMEOUT=5s", "OTHER=x"}, check: func(c Config) bool {
			return c.Addr == "127.0.0.1:7000" && !c.Registry.DeleteEnabled && c.ShutdownTimeout == 5*time.Second && c.Registry.MaxPageSize == 50
		}},
		{name: "bad bool", env: []string{"BERTH_REGISTRY_DELETE_ENABLED=maybe"}, wantErr: "BERTH_REGISTRY_DELETE_ENABLED"},
		{name: "bad int", env: []string{"BERTH_REGISTRY_MAX_PAGE_SIZE=ten"}, wantErr: "BERTH_REGISTRY_MAX_PAGE_SIZE"},
		{name: "unknown key", path: writeFile(t, "adr: x\n"), wantErr: "adr"},
		{name: "missing file", path: filepath.Join(t.TempDir(), "none.yaml"), wantErr: "read config"},
		{name: "rules from the environment", env: []string{`BERTH_AUTH_RULES=[{repositories: ["pub/*"], subjects: [anonymous], actions: [pull]}]`, "BERTH_AUTH_GROUPS={ci: [bot]}"}, check: func(c Config) bool {
			return len(c.Auth.Rules) == 1 && c.Auth.Rules[0].Repositories[0] == "pub/*" && c.Auth.Groups["ci"][0] == "bot"
		}},
		{name: "lifecycle rules from the environment", env: []string{`BERTH_LIFECYCLE_IMMUTABLE=[{repositories: ["apps/**"], tags: ["v*"]}]`, "BERTH_LIFECYCLE_RETENTION_ENABLED=true"}, check: func(c Config) bool {
			return len(c.Lifecycle.Immutable) == 1 && c.Lifecycle.Immutable[0].Tags[0] == "v*" && c.Lifecycle.Retention.Enabled && c.Validate() == nil
		}},
		{name: "empty file is defaults", path: writeFile(t, ""), check: func(c Config) bool { return reflect.DeepEqual(c, Default()) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(tt.path, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(c) {
				t.Fatalf("unexpected config %+v", c)
			}
		})
	}
}

func TestValidateRejectsUnworkableValues(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"empty addr", func(c *Config) { c.Addr = "" }},
		{"empty data", func(c *Config) { c.Data = "" }},
		{"manifest limit below spec minimum", func(c *Config) { c.Registry.MaxManifestSize = 1 << 20 }},
		{"zero page size", func(c *Config) { c.Registry.MaxPageSize = 0 }},
		{"unknown level", func(c *Config) { c.Log.Level = "loud" }},
		{"unknown format", func(c *Config) { c.Log.Format = "xml" }},
		{"negative shutdown", func(c *Config) { c.ShutdownTimeout = -time.Second }},
		{"public url without scheme", func(c *Config) { c.PublicURL = "registry.example.com" }},
		{"public url with path", func(c *Config) { c.PublicURL = "https://example.com/registry" }},
		{"quota pattern with **", func(c *Config) { c.Quotas.Namespaces = []quota.Rule{{Pattern: "a/**"}} }},
		{"negative quota", func(c *Config) { c.Quotas.Storage = -1 }},
		{"webhook without scheme", func(c *Config) { c.Audit.Webhooks = []Webhook{{URL: "hooks.example/x"}} }},
		{"empty audit queue", func(c *Config) { c.Audit.QueueSize = 0 }},
		{"immutable rule without tags", func(c *Config) { c.Lifecycle.Immutable = []lifecycle.ImmutableRule{{Repositories: []string{"a"}}} }},
		{"gc and retention both expire untagged manifests", func(c *Config) {
			c.GC.UntaggedManifests = true
			c.Lifecycle.Retention.Policies = []lifecycle.Policy{{Repositories: []string{"**"}, UntaggedGrace: time.Hour}}
		}},
		{"no delta window", func(c *Config) { c.Flatpak.Deltas.Window = 0 }},
		{"no delta workers", func(c *Config) { c.Flatpak.Deltas.Workers = 0 }},
		{"tiny delta layer bound", func(c *Config) { c.Flatpak.Deltas.MaxLayerSize = 4096 }},
		{"delta savings of 100%", func(c *Config) { c.Flatpak.Deltas.MinSavings = 1 }},
	}
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mutate(&c)
			if c.Validate() == nil {
				t.Fatal("Validate accepted it")
			}
		})
	}
}

// TestValidateReportsLifecycleProblemsWithTheOthers: a bad lifecycle section is one
// problem of the report, not the end of it.
func TestValidateReportsLifecycleProblemsWithTheOthers(t *testing.T) {
	c := Default()
	c.Log.Level = "loud"
	c.Lifecycle.Immutable = []lifecycle.ImmutableRule{{Repositories: []string{"a"}}}
	c.GC.UntaggedManifests = true
	c.Lifecycle.Retention.Policies = []lifecycle.Policy{{Repositories: []string{"**"}, UntaggedGrace: time.Hour}}
	var p Problems
	if err := c.Validate(); !errors.As(err, &p) || len(p) != 3 {
		t.Fatalf("Validate = %v, want three problems (log.level, lifecycle.immutable[0], gc.untagged_manifests)", err)
	}
}

// TestDocsCoverEveryOption keeps docs/configuration.md in step with Config.
func TestDocsCoverEveryOption(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range Options() {
		if !strings.Contains(string(doc), "`"+o.Path+"`") || !strings.Contains(string(doc), "`"+o.Env+"`") {
			t.Errorf("docs/configuration.md does not document %s (%s)", o.Path, o.Env)
		}
	}
}

// TestExampleConfigShowsEveryOptionWithItsDefault keeps dist/berth.example.yaml complete
// and true: it loads, and equals the defaults.
func TestExampleConfigShowsEveryOptionWithItsDefault(t *testing.T) {
	raw, err := os.ReadFile("../../dist/berth.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load("../../dist/berth.example.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Errorf("the example differs from the defaults:\n%+v\n%+v", cfg, Default())
	}
	for _, o := range Options() {
		leaf := o.Path[strings.LastIndex(o.Path, ".")+1:]
		if !strings.Contains(string(raw), leaf+":") {
			t.Errorf("dist/berth.example.yaml does not show %s", o.Path)
		}
	}
}
