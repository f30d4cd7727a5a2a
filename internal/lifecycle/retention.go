package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// Metadata is what retention needs of the metadata store.
type Metadata interface {
	metadata.Repositories
	metadata.Retention
	metadata.Leases
	// Manifest is metadata.Manifests' Manifest: the delta index and its entries.
	Manifest(ctx context.Context, repo string, d digest.Digest) (*metadata.Manifest, error)
}

// Actor is the name retention's deletions carry in the tag history.
const Actor = "retention"

// leaseName and leaseTTL: a pass holds the lease, renewing it as it goes; a replica that
// dies mid-pass leaves it to expire.
const (
	leaseName = "retention"
	leaseTTL  = 2 * time.Minute
	// renewEvery is how often a pass renews its lease: well within leaseTTL, so that a
	// pass deleting for longer than the TTL keeps it.
	renewEvery = 20 * time.Second
	// page is how many tags or manifests one query lists.
	page = 500
)

// Options configure a Retainer.
type Options struct {
	// Interval is the pause between passes of Run.
	Interval time.Duration
	// Holder names this process in the lease (unique per process).
	Holder string
	// Replica names this process in the tag history of its deletions.
	Replica string
	// Deleted, when set, is told of every deletion once it is made: the one place where
	// retention's deletions are reported (audit events).
	Deleted func(ctx context.Context, v Verdict)
}

// Report counts what one pass did (or, dry, would do).
type Report struct {
	Repositories int // governed by a policy
	Tags         int // judged
	TagsDeleted  int
	Manifests    int // untagged manifests deleted
	// Skipped is true when another replica held the lease, so this pass did nothing.
	Skipped bool
}

// Totals are the running counts since start, for metrics.
type Totals struct {
	Passes, Skipped, Errors, TagsDeleted, ManifestsDeleted atomic.Int64
}

// ErrLeaseLost stops a pass whose lease another replica took (this one stalled).
var ErrLeaseLost = errors.New("retention lease lost to another replica")

// Retainer applies retention policies to a metadata store.
type Retainer struct {
	meta      Metadata
	policies  []policy
	immutable *Immutable
	log       *slog.Logger
	opts      Options
	now       func() time.Time
	Totals    Totals
}

// New compiles the policies and returns a Retainer; immutable (nil: none) are the tags
// it never expires.
func New(meta Metadata, policies []Policy, immutable *Immutable, log *slog.Logger, opts Options) (*Retainer, error) {
	ps, err := compilePolicies(policies)
	if err != nil {
		return nil, err
	}
	return &Retainer{meta: meta, policies: ps, immutable: immutable, log: log, opts: opts, now: time.Now}, nil
}

// Run makes a pass every Interval until ctx ends. Every replica runs it; the lease lets
// one at a time do the work.
func (r *Retainer) Run(ctx context.Context) {
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	for {
		rep, err := r.Pass(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			r.log.Error("retention pass failed", "err", err)
		case rep.TagsDeleted > 0 || rep.Manifests > 0:
			r.log.Info("retention", "repositories", rep.Repositories, "tags", rep.Tags, "tags_deleted", rep.TagsDeleted, "manifests_deleted", rep.Manifests)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pass runs one retention pass, if this replica gets the lease.
func (r *Retainer) Pass(ctx context.Context) (rep Report, err error) {
	defer func() {
		r.Totals.Passes.Add(1)
		if err != nil {
			r.Totals.Errors.Add(1)
		}
		if rep.Skipped {
			r.Totals.Skipped.Add(1)
		}
	}()
	ok, err := r.meta.AcquireLease(ctx, leaseName, r.opts.Holder, r.now(), leaseTTL)
	if err != nil {
		return rep, fmt.Errorf("retention lease: %w", err)
	}
	if !ok {
		return Report{Skipped: true}, nil
	}
	defer func() {
		// Released even when ctx has ended, so that another replica need not wait out
		// the lease.
		if err := r.meta.ReleaseLease(context.WithoutCancel(ctx), leaseName, r.opts.Holder); err != nil {
			r.log.Warn("retention lease not released", "err", err)
		}
	}()
	ctx = metadata.WithReplica(metadata.WithActor(ctx, Actor), r.opts.Replica)
	l := &lease{r: r, renewed: r.now()}
	return r.walk(ctx, l, func(ctx context.Context, v Verdict) error {
		if !v.Delete {
			return nil
		}
		if err := l.renew(ctx, false); err != nil {
			return err
		}
		return r.apply(ctx, v, &rep)
	}, &rep)
}

// DryRun reports what a pass would do now, changing nothing: emit is given every
// verdict, kept tags too. Manifests that this pass leaves untagged, and children and
// referrers of manifests it deletes, are judged by the passes after it, as a real pass
// would.
func (r *Retainer) DryRun(ctx context.Context, emit func(Verdict) error) (Report, error) {
	var rep Report
	return r.walk(ctx, nil, func(_ context.Context, v Verdict) error {
		if v.Delete {
			if v.Tag == "" {
				rep.Manifests++
			} else {
				rep.TagsDeleted++
			}
		}
		return emit(v)
	}, &rep)
}

// apply makes one deletion through the store's checked delete, which keeps whatever
// changed since it was judged.
func (r *Retainer) apply(ctx context.Context, v Verdict, rep *Report) error {
	var deleted bool
	var err error
	if v.Tag != "" {
		deleted, err = r.meta.ExpireTag(ctx, v.Repository, v.use)
		var ie *metadata.ImmutableError
		if errors.As(err, &ie) {
			return nil // a rule the store knows and this process does not: keep it
		}
	} else {
		deleted, err = r.meta.DeleteExpiredManifest(ctx, metadata.ManifestRef{Repository: v.Repository, Digest: v.Digest}, v.cut)
	}
	if err != nil || !deleted {
		return err
	}
	if v.Tag != "" {
		rep.TagsDeleted++
		r.Totals.TagsDeleted.Add(1)
	} else {
		rep.Manifests++
		r.Totals.ManifestsDeleted.Add(1)
	}
	r.log.InfoContext(ctx, "retention deleted", "repo", v.Repository, "tag", v.Tag, "digest", v.Digest, "reason", v.Reason)
	if r.opts.Deleted != nil {
		r.opts.Deleted(ctx, v)
	}
	return nil
}

// walk judges every repository a policy governs, handing each verdict to fn; a pass that
// holds the lease (l; nil for a dry run) renews it before each repository.
func (r *Retainer) walk(ctx context.Context, l *lease, fn func(context.Context, Verdict) error, rep *Report) (Report, error) {
	now := r.now()
	after := ""
	for {
		repos, err := r.meta.ListRepositories(ctx, after, page)
		if err != nil {
			return *rep, fmt.Errorf("list repositories: %w", err)
		}
		for _, repo := range repos {
			p := r.policyOf(repo)
			if p == nil {
				continue
			}
			if l != nil {
				if err := l.renew(ctx, true); err != nil {
					return *rep, err
				}
			}
			rep.Repositories++
			if err := r.repository(ctx, repo, p, now, fn, rep); err != nil {
				return *rep, fmt.Errorf("retention of %s: %w", repo, err)
			}
		}
		if len(repos) < page {
			return *rep, ctx.Err()
		}
		after = repos[len(repos)-1]
	}
}

// lease is the lease a pass holds.
type lease struct {
	r       *Retainer
	renewed time.Time
}

// renew extends the lease (always, or when renewEvery has passed), or reports that
// another replica has it now.
func (l *lease) renew(ctx context.Context, always bool) error {
	now := time.Now()
	if !always && now.Sub(l.renewed) < renewEvery {
		return nil
	}
	ok, err := l.r.meta.AcquireLease(ctx, leaseName, l.r.opts.Holder, l.r.now(), leaseTTL)
	if err != nil {
		return fmt.Errorf("retention lease: %w", err)
	}
	if !ok {
		return ErrLeaseLost
	}
	l.renewed = now
	return nil
}

func (r *Retainer) policyOf(repo string) *policy {
	for i := range r.policies {
		if matchRepo(r.policies[i].repos, repo) {
			return &r.policies[i]
		}
	}
	return nil
}

// repository judges the tags of repo, then its untagged manifests.
func (r *Retainer) repository(ctx context.Context, repo string, p *policy, now time.Time, fn func(context.Context, Verdict) error, rep *Report) error {
	uses, err := collect(func(after string) ([]metadata.TagUse, error) {
		return r.meta.RetentionTags(ctx, repo, after, page)
	}, func(u metadata.TagUse) string { return u.Tag })
	if err != nil {
		return err
	}
	protected, err := r.deltaProtected(ctx, repo, uses)
	if err != nil {
		return err
	}
	rep.Tags += len(uses)
	for _, v := range judgeTags(repo, p, uses, protected, r.immutable, now) {
		if err := fn(ctx, v); err != nil {
			return err
		}
	}
	if p.UntaggedGrace <= 0 {
		return nil
	}
	cut := now.Add(-p.UntaggedGrace)
	expired, err := collect(func(after digest.Digest) ([]metadata.UntaggedManifest, error) {
		return r.meta.ExpiredManifests(ctx, repo, cut, after, page)
	}, func(m metadata.UntaggedManifest) digest.Digest { return m.Digest })
	if err != nil {
		return err
	}
	for _, m := range expired {
		v := Verdict{Repository: repo, Digest: m.Digest, Policy: p.Name, cut: cut}
		if protected[m.Digest] {
			v.Reason = "referenced by " + DeltaIndexTag
		} else {
			v.Delete = true
			v.Reason = fmt.Sprintf("policy %s: untagged since %s, past the grace of %s", p.Name, stamp(m.Since), p.UntaggedGrace)
		}
		if err := fn(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

// collect reads a keyset listing to its end: list(after) is the page after key after
// (the zero K to start), key the key of an item.
func collect[T any, K comparable](list func(after K) ([]T, error), key func(T) K) ([]T, error) {
	var all []T
	var after K
	for {
		pg, err := list(after)
		if err != nil {
			return nil, err
		}
		all = append(all, pg...)
		if len(pg) < page {
			return all, nil
		}
		after = key(pg[len(pg)-1])
	}
}

// deltaProtected is what the repository's Flatpak delta index needs kept: the index,
// the delta manifests it lists, and the images they lead to.
func (r *Retainer) deltaProtected(ctx context.Context, repo string, uses []metadata.TagUse) (map[digest.Digest]bool, error) {
	out := map[digest.Digest]bool{}
	for _, u := range uses {
		if u.Tag != DeltaIndexTag {
			continue
		}
		idx, err := r.meta.Manifest(ctx, repo, u.Digest)
		if errors.Is(err, metadata.ErrNotFound) {
			return out, nil // moved or removed since it was listed
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", DeltaIndexTag, err)
		}
		out[idx.Digest] = true
		for _, c := range idx.Children {
			out[c] = true
			m, err := r.meta.Manifest(ctx, repo, c)
			if errors.Is(err, metadata.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("read delta manifest %s: %w", c, err)
			}
			if t, err := digest.Parse(m.Annotations[deltaTargetAnnotation]); err == nil {
				out[t] = true
			}
		}
	}
	return out, nil
}
