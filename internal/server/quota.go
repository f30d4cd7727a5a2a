package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/quota"
)

// usageMetrics exports the usage of every namespace, read from the store at each
// scrape (a keyset walk of namespace_usage): one series per namespace that stores
// anything.
type usageMetrics struct {
	meta                   metadata.Quotas
	log                    *slog.Logger
	bytes, objects, limits *prometheus.Desc
}

func newUsageMetrics(meta metadata.Quotas, log *slog.Logger) *usageMetrics {
	return &usageMetrics{
		meta:    meta,
		log:     log,
		bytes:   prometheus.NewDesc("berth_namespace_usage_bytes", "Bytes a namespace stores: each blob once, each manifest once per repository.", []string{"namespace"}, nil),
		objects: prometheus.NewDesc("berth_namespace_objects", "Blobs (once each) and manifests a namespace stores.", []string{"namespace"}, nil),
		limits:  prometheus.NewDesc("berth_namespace_limit_bytes", "The storage limit of a namespace (namespaces with one only).", []string{"namespace"}, nil),
	}
}

func (m *usageMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.bytes
	ch <- m.objects
	ch <- m.limits
}

func (m *usageMetrics) Collect(ch chan<- prometheus.Metric) {
	const page = 1000
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for after := ""; ; {
		us, err := m.meta.ListUsage(ctx, after, page)
		if err != nil {
			m.log.Warn("namespace usage not read for metrics", "err", err)
			return
		}
		for _, u := range us {
			ch <- prometheus.MustNewConstMetric(m.bytes, prometheus.GaugeValue, float64(u.Bytes), u.Namespace)
			ch <- prometheus.MustNewConstMetric(m.objects, prometheus.GaugeValue, float64(u.Objects), u.Namespace)
			if u.Limit > 0 {
				ch <- prometheus.MustNewConstMetric(m.limits, prometheus.GaugeValue, float64(u.Limit), u.Namespace)
			}
		}
		if len(us) < page {
			return
		}
		after = us[len(us)-1].Namespace
	}
}

// RecountUsage opens the stores of cfg, reassigns every repository's namespace by cfg's
// quota rules and counts the usage of every namespace again from the links and
// manifests, for `berth recount-usage`; it returns the usage after. It may run beside
// serving replicas: the recount is one transaction, which pushes wait for.
func RecountUsage(ctx context.Context, cfg config.Config) ([]metadata.Usage, error) {
	policy, err := quota.New(cfg.Quotas)
	if err != nil {
		return nil, err
	}
	meta, err := openMetadata(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open metadata store: %w", err)
	}
	defer meta.Close()
	recounted, err := meta.UseQuotaPolicy(ctx, policy)
	if err == nil && !recounted {
		err = meta.RecountUsage(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("recount usage: %w", err)
	}
	var out []metadata.Usage
	for after := ""; ; {
		us, err := meta.ListUsage(ctx, after, 1000)
		if err != nil {
			return nil, err
		}
		out = append(out, us...)
		if len(us) < 1000 {
			return out, nil
		}
		after = us[len(us)-1].Namespace
	}
}
