package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/lifecycle"
	"github.com/berth-registry/berth/internal/metadata"
)

// NewRetainer applies the configuration's immutable-tag rules to meta (which then
// refuses to move or remove such tags) and returns what runs its retention policies, for
// serve and for the offline `berth retention`; each deletion is an audit event of au
// (nil: none). The lease holder is this replica's name with a random suffix: two
// processes of one host must not share a lease.
func NewRetainer(cfg config.Config, meta metadata.Store, log *slog.Logger, au *audit.Emitter) (*lifecycle.Retainer, error) {
	im, err := lifecycle.NewImmutable(cfg.Lifecycle.Immutable)
	if err != nil {
		return nil, err
	}
	if !im.Empty() {
		meta.UseImmutableRules(im)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return lifecycle.New(meta, cfg.Lifecycle.Retention.Policies, im, log, lifecycle.Options{
		Interval: cfg.Lifecycle.Retention.Interval,
		Holder:   replicaName(cfg) + "/" + hex.EncodeToString(suffix),
		Replica:  replicaName(cfg),
		Deleted:  retentionAudit(au),
	})
}

// retentionAudit reports retention's deletions as audit events (nil without an emitter).
func retentionAudit(au *audit.Emitter) func(context.Context, lifecycle.Verdict) {
	if au == nil {
		return nil
	}
	return func(ctx context.Context, v lifecycle.Verdict) {
		ev := audit.Event{Type: audit.RetentionDeleted, Actor: lifecycle.Actor,
			Data: audit.Data{Repository: v.Repository, Tag: v.Tag, Digest: v.Digest.String(), Reason: v.Reason}}
		if v.Tag != "" {
			ev.Subject, ev.Data.Kind = v.Repository+":"+v.Tag, "tag"
		} else {
			ev.Subject, ev.Data.Kind = v.Repository+"@"+v.Digest.String(), "manifest"
		}
		au.Emit(ctx, ev)
	}
}

func registerRetentionMetrics(reg prometheus.Registerer, t *lifecycle.Totals) {
	reg.MustRegister(
		counter("berth_retention_passes_total", "Retention passes started by this replica.", &t.Passes),
		counter("berth_retention_skipped_total", "Retention passes skipped because another replica held the lease.", &t.Skipped),
		counter("berth_retention_errors_total", "Retention passes that failed.", &t.Errors),
		counter("berth_retention_tags_deleted_total", "Tags retention expired.", &t.TagsDeleted),
		counter("berth_retention_manifests_deleted_total", "Untagged manifests retention deleted after their grace.", &t.ManifestsDeleted),
	)
}
