// Package lifecycle is what happens to tags and manifests after they are pushed:
// immutable-tag rules (enforced by the metadata store, in the transaction that moves a
// tag) and retention policies (which expire tags and untagged manifests on a schedule,
// one replica at a time, or print what they would expire). It decides; the metadata store
// checks and deletes; garbage collection then reclaims the blobs nothing uses any more.
package lifecycle

import (
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/glob"
)

// Config is the lifecycle: section of Berth's configuration.
type Config struct {
	// Immutable are the immutable-tag rules: a tag one of them matches cannot be moved
	// or deleted once set (an admin may delete it with an explicit override).
	Immutable []ImmutableRule `yaml:"immutable"`
	// Retention expires tags and untagged manifests by policy.
	Retention RetentionConfig `yaml:"retention"`
	// PullFlushInterval is how often each replica writes the pull times it has batched
	// in memory (what retention's keep_used_within sees, at most this late).
	PullFlushInterval time.Duration `yaml:"pull_flush_interval"`
}

// ImmutableRule makes the tags matching Tags in the repositories matching Repositories
// immutable once set.
type ImmutableRule struct {
	// Name names the rule in refusals; default lifecycle.immutable[INDEX].
	Name string `yaml:"name"`
	// Repositories are repository patterns, as in access rules (apps/**).
	Repositories []string `yaml:"repositories"`
	// Tags are tag patterns (v*, release-*).
	Tags []string `yaml:"tags"`
}

// RetentionConfig schedules retention.
type RetentionConfig struct {
	// Enabled runs retention passes every Interval, one replica at a time.
	Enabled bool `yaml:"enabled"`
	// Interval is the pause between passes.
	Interval time.Duration `yaml:"interval"`
	// Policies govern repositories: the first whose repositories match a repository is
	// its policy; a repository no policy matches is left alone.
	Policies []Policy `yaml:"policies"`
}

// Policy says which tags of its repositories to keep, and how long untagged manifests
// stay. A tag it selects is kept when it is among the KeepNewest most recently pushed of
// the selected tags, or was pushed or pulled within KeepUsedWithin; otherwise it is
// expired. With neither set the policy expires no tags.
type Policy struct {
	// Name names the policy in reports; default lifecycle.retention.policies[INDEX].
	Name string `yaml:"name"`
	// Repositories are repository patterns.
	Repositories []string `yaml:"repositories"`
	// Tags select the tags the policy may expire (default: every tag).
	Tags []string `yaml:"tags"`
	// ExcludeTags are tags it never expires, although Tags select them.
	ExcludeTags []string `yaml:"exclude_tags"`
	// KeepNewest keeps the N most recently pushed selected tags (0: no such rule).
	KeepNewest int `yaml:"keep_newest"`
	// KeepUsedWithin keeps selected tags pushed or pulled within this duration (0: no
	// such rule).
	KeepUsedWithin time.Duration `yaml:"keep_used_within"`
	// UntaggedGrace deletes manifests that no tag and no index refers to once they have
	// been untagged this long (0: retention deletes no manifests).
	UntaggedGrace time.Duration `yaml:"untagged_grace"`
}

// Default is the lifecycle of a registry configured with nothing: no immutable tags,
// no retention, pulls written every minute.
func Default() Config {
	return Config{
		Retention:         RetentionConfig{Interval: time.Hour},
		PullFlushInterval: time.Minute,
	}
}

// Validate compiles every rule and policy and reports the first that cannot work.
func (c Config) Validate() error {
	if c.PullFlushInterval <= 0 {
		return fmt.Errorf("lifecycle.pull_flush_interval must be positive")
	}
	if c.Retention.Interval <= 0 {
		return fmt.Errorf("lifecycle.retention.interval must be positive")
	}
	if _, err := NewImmutable(c.Immutable); err != nil {
		return err
	}
	_, err := compilePolicies(c.Retention.Policies)
	return err
}

// UntaggedGrace reports whether any policy deletes untagged manifests.
func (c Config) UntaggedGrace() bool {
	for _, p := range c.Retention.Policies {
		if p.UntaggedGrace > 0 {
			return true
		}
	}
	return false
}

// repoPatterns and tagPatterns compile lists of patterns, naming the option in errors.
func repoPatterns(opt string, list []string) ([]glob.Repository, error) {
	return compileAll(opt, list, glob.CompileRepository)
}

func tagPatterns(opt string, list []string) ([]glob.Tag, error) {
	return compileAll(opt, list, glob.CompileTag)
}

func compileAll[P any](opt string, list []string, compile func(string) (P, error)) ([]P, error) {
	out := make([]P, 0, len(list))
	for _, s := range list {
		p, err := compile(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", opt, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func matchRepo(ps []glob.Repository, repo string) bool {
	for _, p := range ps {
		if p.Match(repo) {
			return true
		}
	}
	return false
}

func matchTag(ps []glob.Tag, tag string) bool {
	for _, p := range ps {
		if p.Match(tag) {
			return true
		}
	}
	return false
}
