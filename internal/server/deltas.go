package server

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/deltas"
	"github.com/berth-registry/berth/internal/metadata"
)

// useDeltaPolicy tells the store, before anything else uses it, whether tag moves queue
// delta jobs and how long garbage collection keeps their sources: the offline commands
// (gc) must keep what the serving replicas keep.
func useDeltaPolicy(meta metadata.Store, cfg config.Config) {
	if p, ok := meta.(metadata.DeltaPolicySetter); ok && cfg.Flatpak.Deltas.Enabled {
		p.SetDeltaPolicy(metadata.DeltaPolicy{Enabled: true, Window: cfg.Flatpak.Deltas.Window})
	}
}

// newDeltaWorker builds the delta workers of the configuration and registers their
// metrics; nil when deltas are off.
func newDeltaWorker(cfg config.Config, meta deltas.Metadata, reg deltas.Registry, log *slog.Logger, metrics prometheus.Registerer) (*deltas.Worker, error) {
	c := cfg.Flatpak.Deltas
	if !c.Enabled {
		return nil, nil
	}
	tmp := c.TempDir
	if tmp == "" {
		tmp = filepath.Join(cfg.Data, "tmp")
	}
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("flatpak.deltas.temp_dir: %w", err)
	}
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "berth_flatpak_delta_job_duration_seconds",
		Help:    "Duration of Flatpak delta jobs, by outcome (done, failed, retry).",
		Buckets: prometheus.ExponentialBuckets(0.1, 3, 10),
	}, []string{"outcome"})
	w := deltas.New(meta, reg, log, deltas.Options{
		Window: c.Window, Sources: c.Sources, Workers: c.Workers, MaxLayerSize: c.MaxLayerSize,
		MinSavings: c.MinSavings, TempDir: tmp, Replica: replicaName(cfg),
		Observe: func(outcome string, d time.Duration) { dur.WithLabelValues(outcome).Observe(d.Seconds()) },
	})
	t := &w.Totals
	const jobs = "berth_flatpak_delta_jobs_total"
	const jobsHelp = "Flatpak delta jobs ended, by outcome: done, failed (for good), retry (to be tried again)."
	metrics.MustRegister(dur,
		labeledCounter(jobs, jobsHelp, prometheus.Labels{"outcome": "done"}, &t.JobsDone),
		labeledCounter(jobs, jobsHelp, prometheus.Labels{"outcome": "failed"}, &t.JobsFailed),
		labeledCounter(jobs, jobsHelp, prometheus.Labels{"outcome": "retry"}, &t.JobsRetried),
		counter("berth_flatpak_deltas_published_total", "Delta blobs made, verified and published.", &t.Published),
		counter("berth_flatpak_deltas_not_worth_total", "Deltas made and verified but not published: they saved too little.", &t.NotWorth),
		counter("berth_flatpak_deltas_refused_total", "Layers no delta was made of: beyond flatpak.deltas.max_layer_size, or unreadable.", &t.Refused),
		counter("berth_flatpak_deltas_verify_failures_total", "Deltas that did not rebuild their target layer and were not published.", &t.VerifyFailed),
		counter("berth_flatpak_delta_bytes_saved_total", "Bytes the published deltas save over the layers they replace (once per delta, not per download).", &t.BytesSaved),
	)
	return w, nil
}
