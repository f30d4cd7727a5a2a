package config

import (
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/mirror"
)

func TestLoadReportsEveryProblemWithItsOption(t *testing.T) {
	file := writeFile(t, `registery: {}
limits:
  idle_timout: 3s
  burst: lots
  idle_timeout: 90
idle_timeout: 5s
metrics:
  enabled: maybe
auth:
  users:
    - name: a
      pasword_hash: x
gc: [1, 2]
`)
	_, err := Load(file, []string{"BERTH_GC_INTERVAL=10", "BERTH_LIMITS_BURST=many"})
	want := []string{
		`line 1: unknown option "registery" (did you mean "registry"?)`,
		`line 3: limits: unknown option "idle_timout" (did you mean "idle_timeout"?)`,
		`line 4: limits.burst: "lots" is not a whole number`,
		`line 5: limits.idle_timeout: 90 is not a duration; write e.g. 90s`,
		`line 6: unknown option "idle_timeout" (did you mean "limits.idle_timeout"?)`,
		`line 8: metrics.enabled: "maybe" is not true or false`,
		`line 12: auth.users[0]: unknown option "pasword_hash" (did you mean "password_hash"?)`,
		`line 13: gc: expects a mapping of options (key: value lines), not a list`,
		`BERTH_LIMITS_BURST (limits.burst): "many" is not a whole number`, // in the order of the options
		`BERTH_GC_INTERVAL (gc.interval): "10" is not a duration; write e.g. 10s`,
	}
	p, ok := err.(Problems)
	if !ok || len(p) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(p), len(want), err)
	}
	for i, w := range want {
		if !strings.HasSuffix(p[i], w) {
			t.Errorf("problem %d: %q, want it to end %q", i, p[i], w)
		}
	}
	if strings.Contains(err.Error(), "config.Config") || strings.Contains(err.Error(), "!!") {
		t.Errorf("Go or YAML types in the report:\n%v", err)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Addr, c.Log.Level, c.Registry.MaxPageSize = "", "loud", 0
	c.Mirrors = []mirror.Config{{Prefix: "Hub", URL: "ftp://x"}} // two problems of its own
	p, ok := c.Validate().(Problems)
	if !ok || len(p) != 5 {
		t.Fatalf("Validate: %v, want 5 problems", c.Validate())
	}
}
