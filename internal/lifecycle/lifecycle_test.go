package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/testenv"
)

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestImmutableRuleNamesTheFirstMatchingRule(t *testing.T) {
	im, err := NewImmutable([]ImmutableRule{
		{Name: "releases", Repositories: []string{"apps/**"}, Tags: []string{"v*"}},
		{Repositories: []string{"**"}, Tags: []string{"stable", "v1*"}},
	})
	must(t, err)
	for ref, want := range map[string]string{
		"apps/web:v1.0": "releases", "apps/web:latest": "", "apps:v1": "lifecycle.immutable[1]",
		"base:stable": "lifecycle.immutable[1]", "base:v2": "", "apps/a/b:V1": "",
	} {
		repo, tag, _ := strings.Cut(ref, ":")
		if got := im.ImmutableRule(repo, tag); got != want {
			t.Errorf("ImmutableRule(%s) = %q, want %q", ref, got, want)
		}
	}
	// The registry rewrites the Flatpak delta index: no rule holds it, however wide.
	all, err := NewImmutable([]ImmutableRule{{Name: "all", Repositories: []string{"**"}, Tags: []string{"*"}}})
	must(t, err)
	if got := all.ImmutableRule("apps/web", DeltaIndexTag); got != "" {
		t.Errorf("ImmutableRule(apps/web:%s) = %q, want none", DeltaIndexTag, got)
	}
	if got := all.ImmutableRule("apps/web", "latest"); got != "all" {
		t.Errorf("ImmutableRule(apps/web:latest) = %q, want all", got)
	}
	var none *Immutable
	if none.ImmutableRule("a", "v1") != "" || !none.Empty() {
		t.Error("no rules: a tag is immutable")
	}
}

func TestConfigValidateRefusesWhatCannotWork(t *testing.T) {
	ok := Policy{Repositories: []string{"ci/**"}, KeepNewest: 5}
	tests := []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"immutable without tags", func(c *Config) { c.Immutable = []ImmutableRule{{Repositories: []string{"a"}}} }, "immutable[0]: repositories and tags"},
		{"immutable bad tag", func(c *Config) { c.Immutable = []ImmutableRule{{Repositories: []string{"a"}, Tags: []string{"v/1"}}} }, "immutable[0].tags"},
		{"immutable bad repo", func(c *Config) { c.Immutable = []ImmutableRule{{Repositories: []string{"A"}, Tags: []string{"v*"}}} }, "immutable[0].repositories"},
		{"policy without repositories", func(c *Config) { c.Retention.Policies = []Policy{ok, {KeepNewest: 1}} }, "policies[1]: repositories"},
		{"policy doing nothing", func(c *Config) { c.Retention.Policies = []Policy{{Repositories: []string{"a"}}} }, "does nothing"},
		{"tags without keep rule", func(c *Config) {
			c.Retention.Policies = []Policy{{Repositories: []string{"a"}, Tags: []string{"pr-*"}, UntaggedGrace: time.Hour}}
		}, "neither keep_newest"},
		{"negative", func(c *Config) { c.Retention.Policies = []Policy{{Repositories: []string{"a"}, KeepNewest: -1}} }, "negative"},
		{"bad exclude", func(c *Config) {
			c.Retention.Policies = []Policy{{Repositories: []string{"a"}, KeepNewest: 1, ExcludeTags: []string{""}}}
		}, "exclude_tags"},
		{"zero interval", func(c *Config) { c.Retention.Interval = 0 }, "interval"},
		{"zero flush", func(c *Config) { c.PullFlushInterval = 0 }, "pull_flush_interval"},
	}
	if err := Default().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	for _, tt := range tests {
		c := Default()
		tt.cfg(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error mentioning %q", tt.name, err, tt.want)
		}
	}
}

func TestJudgeTagsKeepsWhatAnyRuleKeeps(t *testing.T) {
	now := time.Unix(2_000_000_000, 0)
	ago := func(h int) time.Time { return now.Add(-time.Duration(h) * time.Hour) }
	uses := []metadata.TagUse{
		{Tag: "a", Digest: "sha256:a", PushedAt: ago(1)},
		{Tag: "b", Digest: "sha256:b", PushedAt: ago(2)},
		{Tag: "c", Digest: "sha256:c", PushedAt: ago(300)},
		{Tag: "d", Digest: "sha256:d", PushedAt: ago(400), PulledAt: ago(3)},
		{Tag: "e", Digest: "sha256:e", PushedAt: ago(500)},
		{Tag: "v1", Digest: "sha256:v", PushedAt: ago(900)},
		{Tag: "keep-me", Digest: "sha256:k", PushedAt: ago(900)},
		{Tag: "target", Digest: "sha256:t", PushedAt: ago(900)},
		{Tag: DeltaIndexTag, Digest: "sha256:x", PushedAt: ago(900)},
	}
	im, err := NewImmutable([]ImmutableRule{{Name: "rel", Repositories: []string{"**"}, Tags: []string{"v*"}}})
	must(t, err)
	protected := map[digest.Digest]bool{"sha256:t": true}
	tests := []struct {
		name    string
		policy  Policy
		deleted []string
	}{
		{"newest 2", Policy{KeepNewest: 2}, []string{"c", "d", "e", "keep-me"}},
		{"used within 24h", Policy{KeepUsedWithin: 24 * time.Hour}, []string{"c", "e", "keep-me"}},
		{"either", Policy{KeepNewest: 3, KeepUsedWithin: 24 * time.Hour}, []string{"e", "keep-me"}},
		{"excluded tags stay", Policy{KeepNewest: 1, ExcludeTags: []string{"keep-*", "b"}}, []string{"c", "d", "e"}},
		{"only selected tags go, newest counted among them", Policy{KeepNewest: 1, Tags: []string{"c", "d", "e"}}, []string{"d", "e"}},
		{"untagged only", Policy{UntaggedGrace: time.Hour}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.policy.Repositories = []string{"**"}
			ps, err := compilePolicies([]Policy{tt.policy})
			must(t, err)
			var deleted []string
			for _, v := range judgeTags("r", &ps[0], uses, protected, im, now) {
				if v.Delete {
					deleted = append(deleted, v.Tag)
				}
				if v.Reason == "" || v.Policy != ps[0].Name {
					t.Errorf("verdict %+v has no reason or policy", v)
				}
			}
			if !slices.Equal(deleted, tt.deleted) {
				t.Errorf("deleted %v, want %v", deleted, tt.deleted)
			}
		})
	}
}

// fixture is a registry in an embedded store: put pushes a one-layer image, created a
// day ago (tags are pushed now: the store sets their times).
type fixture struct {
	t    *testing.T
	meta metadata.Store
}

func newFixture(t *testing.T) *fixture {
	meta, _ := testenv.EmbeddedStores(t)
	return &fixture{t: t, meta: meta}
}

func (f *fixture) put(repo, name string, annotations map[string]string, tags ...string) digest.Digest {
	f.t.Helper()
	layer := digest.FromString(repo + name)
	must(f.t, f.meta.LinkBlob(ctx, repo, metadata.Blob{Digest: layer, Size: 1}))
	payload := []byte(`{"name":"` + name + `"}`)
	m := &metadata.Manifest{Digest: digest.FromBytes(payload), MediaType: "application/vnd.oci.image.manifest.v1+json",
		Annotations: annotations, Payload: payload, CreatedAt: time.Now().Add(-24 * time.Hour), Blobs: []digest.Digest{layer}}
	must(f.t, f.meta.PutManifest(ctx, repo, m, tags))
	return m.Digest
}

func (f *fixture) retainer(ps []Policy, im *Immutable, holder string) *Retainer {
	f.t.Helper()
	r, err := New(f.meta, ps, im, slog.New(slog.DiscardHandler), Options{Interval: time.Hour, Holder: holder, Replica: holder})
	must(f.t, err)
	return r
}

func (f *fixture) tags(repo string) []string {
	f.t.Helper()
	tags, err := f.meta.ListTags(ctx, repo, "", 1000)
	must(f.t, err)
	return tags
}

func TestPassExpiresTagsThenTheirManifestsAfterTheGrace(t *testing.T) {
	f := newFixture(t)
	var ds []digest.Digest
	for _, tag := range []string{"t1", "t2", "t3", "t4"} {
		ds = append(ds, f.put("ci/app", tag, nil, tag))
	}
	f.put("other", "x", nil, "old")
	byDigest := f.put("ci/app", "by-digest", nil)
	im, err := NewImmutable([]ImmutableRule{{Repositories: []string{"ci/**"}, Tags: []string{"t1"}}})
	must(t, err)
	r := f.retainer([]Policy{{Name: "ci", Repositories: []string{"ci/**"}, KeepNewest: 1, UntaggedGrace: time.Hour}}, im, "a")
	r.now = func() time.Time { return time.Now().Add(30 * time.Minute) }

	rep, err := r.Pass(ctx)
	must(t, err)
	if got := f.tags("ci/app"); !slices.Equal(got, []string{"t1", "t4"}) {
		t.Fatalf("tags after the pass: %v, want t1 (immutable) and t4 (newest)", got)
	}
	if rep != (Report{Repositories: 1, Tags: 4, TagsDeleted: 2, Manifests: 1}) {
		t.Fatalf("report %+v, want 2 tags and the manifest pushed by digest a day ago deleted", rep)
	}
	if _, err := f.meta.Manifest(ctx, "ci/app", byDigest); err == nil {
		t.Fatal("the manifest untagged for a day outlived the grace of an hour")
	}
	if got := f.tags("other"); !slices.Equal(got, []string{"old"}) {
		t.Fatalf("a repository no policy governs lost tags: %v", got)
	}
	hist, err := f.meta.TagHistory(ctx, "ci/app", "t2", 0, 1)
	must(t, err)
	if len(hist) != 1 || hist[0].New != "" || hist[0].Actor.Name != Actor {
		t.Fatalf("t2's removal recorded as %+v", hist)
	}
	// The manifests of the expired tags stay pullable within the grace: they were
	// untagged only now, however old they are.
	for _, d := range ds {
		if _, err := f.meta.Manifest(ctx, "ci/app", d); err != nil {
			t.Fatalf("manifest %s within the grace: %v", d, err)
		}
	}
	// Past it, they go; the tagged ones stay.
	r.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	rep, err = r.Pass(ctx)
	must(t, err)
	if rep.Manifests != 2 || rep.TagsDeleted != 0 {
		t.Fatalf("second pass: %+v, want the 2 untagged manifests deleted", rep)
	}
	for i, d := range ds {
		_, err := f.meta.Manifest(ctx, "ci/app", d)
		if gone := err != nil; gone != (i == 1 || i == 2) {
			t.Errorf("manifest of t%d: %v", i+1, err)
		}
	}
	if r.Totals.TagsDeleted.Load() != 2 || r.Totals.ManifestsDeleted.Load() != 3 || r.Totals.Passes.Load() != 2 {
		t.Errorf("totals %+v", &r.Totals)
	}
}

func TestDryRunPrintsExactlyWhatThePassDeletes(t *testing.T) {
	f := newFixture(t)
	for _, tag := range []string{"a", "b", "c", "release"} {
		f.put("ci/app", tag, nil, tag)
	}
	f.put("ci/app", "loose", nil)
	policies := []Policy{{Repositories: []string{"ci/**"}, KeepNewest: 1, ExcludeTags: []string{"release"}, UntaggedGrace: 2 * time.Hour}}
	r := f.retainer(policies, nil, "a")
	r.now = func() time.Time { return time.Now().Add(time.Hour) }
	var planned []string
	dry, err := r.DryRun(ctx, func(v Verdict) error {
		if v.Delete {
			planned = append(planned, v.String())
		}
		return nil
	})
	must(t, err)
	if len(f.tags("ci/app")) != 4 {
		t.Fatal("the dry run deleted tags")
	}
	var done []string
	r.opts.Deleted = func(_ context.Context, v Verdict) { done = append(done, v.String()) }
	rep, err := r.Pass(ctx)
	must(t, err)
	if !slices.Equal(planned, done) || len(done) != 3 {
		t.Fatalf("dry run planned\n%s\nthe pass deleted\n%s", strings.Join(planned, "\n"), strings.Join(done, "\n"))
	}
	if dry.TagsDeleted != rep.TagsDeleted || dry.Manifests != rep.Manifests {
		t.Fatalf("dry run %+v, pass %+v", dry, rep)
	}
	for _, line := range done {
		if !strings.Contains(line, "lifecycle.retention.policies[0]") {
			t.Errorf("verdict %q does not name its policy", line)
		}
	}
}

// TestDryRunJudgesEveryPageOfTags: a repository of more tags than one listing page
// holds is judged whole, so keep_newest counts among all of them.
func TestDryRunJudgesEveryPageOfTags(t *testing.T) {
	f := newFixture(t)
	const n = 2*page + 3
	tags := make([]string, n)
	for i := range tags {
		tags[i] = fmt.Sprintf("t%04d", i)
	}
	f.put("ci/big", "m", nil, tags...)
	r := f.retainer([]Policy{{Repositories: []string{"ci/**"}, KeepNewest: 1}}, nil, "a")
	seen := map[string]bool{}
	rep, err := r.DryRun(ctx, func(v Verdict) error {
		if seen[v.Tag] {
			t.Errorf("%s judged twice", v.Tag)
		}
		seen[v.Tag] = true
		return nil
	})
	must(t, err)
	if len(seen) != n || rep.Tags != n || rep.TagsDeleted != n-1 {
		t.Fatalf("judged %d tags, report %+v; want %d judged and %d to delete", len(seen), rep, n, n-1)
	}
}

func TestPassRunsOnOneReplicaAtATime(t *testing.T) {
	f := newFixture(t)
	f.put("ci/app", "a", nil, "a", "b")
	policies := []Policy{{Repositories: []string{"**"}, KeepNewest: 1}}
	a, b := f.retainer(policies, nil, "replica-a"), f.retainer(policies, nil, "replica-b")
	// Replica A is mid-pass: it holds the lease.
	ok, err := f.meta.AcquireLease(ctx, leaseName, "replica-a", time.Now(), time.Minute)
	must(t, err)
	if !ok {
		t.Fatal("lease refused")
	}
	rep, err := b.Pass(ctx)
	must(t, err)
	if !rep.Skipped || len(f.tags("ci/app")) != 2 || b.Totals.Skipped.Load() != 1 {
		t.Fatalf("B ran while A held the lease: %+v", rep)
	}
	// A's pass releases the lease when it ends; B's next pass runs.
	if rep, err := a.Pass(ctx); err != nil || rep.Skipped || rep.TagsDeleted != 1 {
		t.Fatalf("A's pass: %+v, %v", rep, err)
	}
	if rep, err := b.Pass(ctx); err != nil || rep.Skipped {
		t.Fatalf("B after A released: %+v, %v", rep, err)
	}
}

func TestDeltaIndexAndWhatItReferencesAreKept(t *testing.T) {
	f := newFixture(t)
	target := f.put("apps/org.example.App", "target", nil, "stable")
	old := f.put("apps/org.example.App", "old", nil, "previous")
	delta := f.put("apps/org.example.App", "delta", map[string]string{deltaTargetAnnotation: target.String()})
	payload := []byte(`{"deltaindex":1}`)
	idx := &metadata.Manifest{Digest: digest.FromBytes(payload), MediaType: "application/vnd.oci.image.index.v1+json",
		Payload: payload, CreatedAt: time.Now(), Children: []digest.Digest{delta}}
	must(t, f.meta.PutManifest(ctx, "apps/org.example.App", idx, []string{DeltaIndexTag}))
	// The newest tag is neither the target nor the index: everything else would go.
	f.put("apps/org.example.App", "newest", nil, "nightly")
	r := f.retainer([]Policy{{Repositories: []string{"apps/**"}, KeepNewest: 1, UntaggedGrace: time.Hour}}, nil, "a")
	r.now = func() time.Time { return time.Now().Add(30 * time.Minute) }
	_, err := r.Pass(ctx)
	must(t, err)
	if got := f.tags("apps/org.example.App"); !slices.Equal(got, []string{DeltaIndexTag, "nightly", "stable"}) {
		t.Fatalf("tags %v, want the delta index, the newest and the delta's target", got)
	}
	for _, d := range []digest.Digest{target, delta, idx.Digest} {
		if _, err := f.meta.Manifest(ctx, "apps/org.example.App", d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	// A second pass deletes the manifest "previous" left (the delta's source is the
	// client's business: it has the old image installed).
	r.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	_, err = r.Pass(ctx)
	must(t, err)
	if _, err := f.meta.Manifest(ctx, "apps/org.example.App", old); err == nil {
		t.Error("the manifest of an expired tag outlived the grace")
	}
}

// TestPassStopsWhenItsLeaseIsTaken: a pass that stalled past its lease, which another
// replica then took, stops at its next renewal instead of running beside that one.
func TestPassStopsWhenItsLeaseIsTaken(t *testing.T) {
	f := newFixture(t)
	f.put("ci/a", "a", nil, "a1", "a2")
	f.put("ci/b", "b", nil, "b1", "b2")
	r := f.retainer([]Policy{{Repositories: []string{"ci/**"}, KeepNewest: 1}}, nil, "replica-a")
	r.opts.Deleted = func(context.Context, Verdict) {
		// Replica B, later than A's lease lasts, takes it.
		if ok, err := f.meta.AcquireLease(ctx, leaseName, "replica-b", time.Now().Add(leaseTTL+time.Second), time.Minute); err != nil || !ok {
			t.Errorf("B could not take the expired lease: %v, %v", ok, err)
		}
	}
	rep, err := r.Pass(ctx)
	if !errors.Is(err, ErrLeaseLost) || rep.TagsDeleted != 1 {
		t.Fatalf("pass: %+v, %v; want one deletion, then ErrLeaseLost", rep, err)
	}
	if got := f.tags("ci/b"); len(got) != 2 {
		t.Fatalf("the pass went on in ci/b after losing its lease: %v", got)
	}
	hist, err := f.meta.TagHistory(ctx, "ci/a", "a2", 0, 1) // pushed with a1 at once: the name breaks the tie
	must(t, err)
	if len(hist) != 1 || hist[0].Actor != (metadata.Actor{Name: Actor, Replica: "replica-a"}) {
		t.Fatalf("deletion recorded as %+v", hist)
	}
}
