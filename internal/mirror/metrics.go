package mirror

import "github.com/prometheus/client_golang/prometheus"

// metrics are the cache's Prometheus series (listed in docs/operations.md).
type metrics struct {
	requests         *prometheus.CounterVec
	upstreamRequests *prometheus.CounterVec
	fetchedBytes     *prometheus.CounterVec
	inFlight         prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_mirror_requests_total",
			Help: "Pulls of cached repositories that consulted the cache, by upstream, kind (manifest, blob) and status (hit, revalidated, miss, stale, error).",
		}, []string{"upstream", "kind", "status"}),
		upstreamRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_mirror_upstream_requests_total",
			Help: "HTTP requests sent to upstream registries (token requests included), by upstream, method and status code.",
		}, []string{"upstream", "method", "code"}),
		fetchedBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_mirror_fetched_bytes_total",
			Help: "Blob bytes received from upstream registries.",
		}, []string{"upstream"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "berth_mirror_blob_fetches_in_flight",
			Help: "Blob fetches from upstream (or waits for another replica's) running now.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.upstreamRequests, m.fetchedBytes, m.inFlight)
	}
	return m
}
