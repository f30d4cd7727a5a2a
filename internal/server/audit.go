package server

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/config"
)

// NewAudit builds the audit emitter of a configuration, writing its lines to log; nil
// when events go nowhere. The offline commands use it for what they delete.
func NewAudit(cfg config.Config, log *slog.Logger) *audit.Emitter {
	if !cfg.Audit.Log && len(cfg.Audit.Webhooks) == 0 {
		return nil
	}
	o := audit.Options{
		Replica:    replicaName(cfg),
		Source:     cfg.Audit.Source,
		QueueSize:  cfg.Audit.QueueSize,
		Timeout:    cfg.Audit.Timeout,
		MaxBackoff: cfg.Audit.MaxBackoff,
		Warn:       log,
	}
	if o.Source == "" {
		o.Source = cfg.PublicURL
	}
	if cfg.Audit.Log {
		o.Log = log
	}
	for _, w := range cfg.Audit.Webhooks {
		o.Webhooks = append(o.Webhooks, audit.Webhook{URL: w.URL, Secret: w.Secret})
	}
	return audit.New(o)
}

// auditObserver turns what auth observes into audit events.
type auditObserver struct{ e *audit.Emitter }

var _ auth.Observer = auditObserver{}

func (o auditObserver) LoginSucceeded(ctx context.Context, client, user, method string) {
	o.e.Emit(ctx, audit.Event{Type: audit.LoginSucceeded, Actor: user, Subject: user,
		Data: audit.Data{User: user, Client: client, Method: method}})
}

func (o auditObserver) LoginFailed(ctx context.Context, client, user, method, reason string) {
	o.e.Emit(ctx, audit.Event{Type: audit.LoginFailed, Subject: user,
		Data: audit.Data{User: user, Client: client, Method: method, Reason: reason}})
}

func (o auditObserver) TokenIssued(ctx context.Context, client, user string, access []auth.Access, expires time.Time) {
	grants := make([]string, len(access))
	for i, a := range access {
		grants[i] = a.Type + ":" + a.Name + ":" + strings.Join(a.Actions, ",")
	}
	o.e.Emit(ctx, audit.Event{Type: audit.TokenIssued, Actor: user, Subject: user,
		Data: audit.Data{User: user, Client: client, Access: grants, Expires: expires.UTC().Format(time.RFC3339)}})
}

// auditMetrics exports the emitter's counts.
type auditMetrics struct {
	e                                                         *audit.Emitter
	events, delivered, retried, failed, dropped, lost, queued *prometheus.Desc
}

func newAuditMetrics(e *audit.Emitter) *auditMetrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &auditMetrics{
		e:         e,
		events:    d("berth_audit_events_total", "Audit events emitted, by type.", "type"),
		delivered: d("berth_audit_webhook_delivered_total", "Audit events a webhook accepted.", "webhook"),
		retried:   d("berth_audit_webhook_retries_total", "Failed delivery attempts that were retried.", "webhook"),
		failed:    d("berth_audit_webhook_failed_total", "Audit events a webhook refused for good (4xx).", "webhook"),
		dropped:   d("berth_audit_webhook_dropped_total", "Audit events dropped because the webhook's queue was full.", "webhook"),
		lost:      d("berth_audit_webhook_lost_total", "Audit events still queued when Berth stopped.", "webhook"),
		queued:    d("berth_audit_webhook_queue_length", "Audit events waiting for the webhook.", "webhook"),
	}
}

func (m *auditMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.events, m.delivered, m.retried, m.failed, m.dropped, m.lost, m.queued} {
		ch <- d
	}
}

func (m *auditMetrics) Collect(ch chan<- prometheus.Metric) {
	for typ, n := range m.e.Emitted() {
		ch <- prometheus.MustNewConstMetric(m.events, prometheus.CounterValue, float64(n), typ)
	}
	for _, w := range m.e.Webhooks() {
		for _, v := range []struct {
			d *prometheus.Desc
			n int64
		}{{m.delivered, w.Delivered}, {m.retried, w.Retried}, {m.failed, w.Failed}, {m.dropped, w.Dropped}, {m.lost, w.Lost}} {
			ch <- prometheus.MustNewConstMetric(v.d, prometheus.CounterValue, float64(v.n), w.URL)
		}
		ch <- prometheus.MustNewConstMetric(m.queued, prometheus.GaugeValue, float64(w.Queued), w.URL)
	}
}
