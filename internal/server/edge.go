package server

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/httpapi"
	"github.com/berth-registry/berth/internal/limits"
	"github.com/berth-registry/berth/internal/metadata"
)

// edge is what every request passes first: the scheme and client address it came from,
// rate and upload limits, deadlines that cut stalled transfers but never slow ones, one
// access-log line and the request metrics.
type edge struct {
	log     *slog.Logger
	m       *httpMetrics
	rate    *limits.RateLimiter // nil: no rate limit
	uploads *limits.Slots       // nil: no bound
	idle    time.Duration       // transfer idle timeout
	trust   bool                // trust X-Forwarded-* headers
	replica string              // names this process in the records of changes
}

type httpMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	bytesIn  *prometheus.CounterVec
	bytesOut *prometheus.CounterVec
	uploads  prometheus.Gauge
	limited  *prometheus.CounterVec
}

func newHTTPMetrics(reg prometheus.Registerer) *httpMetrics {
	m := &httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_http_requests_total", Help: "HTTP requests by route class, method and status code."}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "berth_http_request_duration_seconds", Help: "Time to answer HTTP requests, including body transfer.", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 11)}, []string{"route", "method"}),
		bytesIn:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_http_request_bytes_total", Help: "Request body bytes received."}, []string{"route"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_http_response_bytes_total", Help: "Response body bytes sent."}, []string{"route"}),
		uploads:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "berth_uploads_in_flight", Help: "Blob upload requests carrying a body right now."}),
		limited:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "berth_http_limited_total", Help: "Requests refused with 429, by the limit that refused them."}, []string{"limit"}),
	}
	reg.MustRegister(m.requests, m.duration, m.bytesIn, m.bytesOut, m.uploads, m.limited)
	return m
}

// routeClass buckets a path for metrics without putting repository names in labels.
func routeClass(path string) string {
	switch {
	case strings.HasPrefix(path, "/v2/"):
		if k := httpapi.Classify(path); k != httpapi.RouteNone {
			return k.String()
		}
		return "v2_other"
	case strings.HasPrefix(path, "/berth/v1/"):
		if k := httpapi.Classify(path); k != httpapi.RouteNone {
			return k.String()
		}
		return "berth_api" // the usage API
	case strings.HasPrefix(path, "/index/"):
		return "flatpak_index"
	case strings.HasPrefix(path, "/flatpak/"):
		return "flatpak_files"
	case path == "/token":
		return "token"
	case strings.HasPrefix(path, "/icons/"):
		return "icons"
	case path == "/" || strings.HasPrefix(path, "/ui/"):
		return "ui"
	case path == "/healthz" || path == "/readyz" || path == "/metrics":
		return "ops"
	}
	return "other"
}

func (e *edge) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := routeClass(r.URL.Path)
		e.setOrigin(r)
		r = r.WithContext(metadata.WithReplica(r.Context(), e.replica))
		rc := http.NewResponseController(w)
		// A deadline left by an earlier request on this keep-alive connection must not cut
		// this one.
		_ = rc.SetWriteDeadline(time.Time{})
		rec := &recorder{ResponseWriter: w, status: http.StatusOK, rc: rc, idle: e.idle}
		body := &deadlineBody{ReadCloser: r.Body, rc: rc, idle: e.idle}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = body
		}
		e.serve(rec, r, route, next)
		dur := time.Since(start)
		attrs := []slog.Attr{
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("query", r.URL.RawQuery), // no credential ever travels in a query here
			slog.Int("status", rec.status),
			slog.Int64("bytes_in", body.n),
			slog.Int64("bytes_out", rec.bytes),
			slog.Duration("dur", dur),
			slog.String("remote", e.clientAddr(r)),
		}
		if c := rec.Header().Get("Berth-Cache"); c != "" {
			// A pull-through cache's answer: a stale one shows in the request's own line.
			attrs = append(attrs, slog.String("cache", c))
		}
		e.log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		if e.m != nil {
			e.m.requests.WithLabelValues(route, r.Method, itoa(rec.status)).Inc()
			e.m.duration.WithLabelValues(route, r.Method).Observe(dur.Seconds())
			e.m.bytesIn.WithLabelValues(route).Add(float64(body.n))
			e.m.bytesOut.WithLabelValues(route).Add(float64(rec.bytes))
		}
	})
}

// serve applies the limits, then the handler.
func (e *edge) serve(w http.ResponseWriter, r *http.Request, route string, next http.Handler) {
	if e.rate != nil && route != "ops" {
		if ok, retry := e.rate.Allow(e.clientAddr(r)); !ok {
			e.count("rate")
			httpapi.WriteTooManyRequests(w, r, retry)
			return
		}
	}
	if route == "upload" && r.ContentLength != 0 && (r.Method == http.MethodPatch || r.Method == http.MethodPut || r.Method == http.MethodPost) {
		if e.uploads != nil {
			if !e.uploads.TryAcquire() {
				e.count("uploads")
				httpapi.WriteTooManyRequests(w, r, time.Second)
				return
			}
			defer e.uploads.Release()
		}
		if e.m != nil {
			e.m.uploads.Inc()
			defer e.m.uploads.Dec()
		}
	}
	next.ServeHTTP(w, r)
}

func (e *edge) count(limit string) {
	if e.m != nil {
		e.m.limited.WithLabelValues(limit).Inc()
	}
}

// setOrigin records the scheme in r.URL.Scheme and, behind a trusted proxy, the host and
// scheme the client used, for everything that writes absolute URLs.
func (e *edge) setOrigin(r *http.Request) {
	r.URL.Scheme = "http"
	if r.TLS != nil {
		r.URL.Scheme = "https"
	}
	if !e.trust {
		return
	}
	if p := strings.ToLower(firstValue(r.Header.Get("X-Forwarded-Proto"))); p == "http" || p == "https" {
		r.URL.Scheme = p
	}
	if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" {
		r.Host = h
	}
}

// clientAddr is the address limits apply to: the peer, or behind a trusted proxy the
// address that proxy appended last to X-Forwarded-For (earlier entries are the client's
// own claims).
func (e *edge) clientAddr(r *http.Request) string {
	if e.trust {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndex(last, ","); i >= 0 {
				last = last[i+1:]
			}
			if a := strings.TrimSpace(last); a != "" {
				return a
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func firstValue(h string) string {
	v, _, _ := strings.Cut(h, ",")
	return strings.TrimSpace(v)
}

func itoa(n int) string {
	const digits = "0123456789"
	if n >= 100 && n < 1000 {
		return string([]byte{digits[n/100], digits[n/10%10], digits[n%10]})
	}
	return "other"
}

// deadlineBody moves the connection's read deadline forward on every read, so a request
// body may take any time as long as it keeps arriving, and counts what was read.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	n    int64
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err != nil {
		// The body is done: the connection's own timeouts take over again.
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// recorder captures the status and size of a response and moves the write deadline
// forward with every write. ReadFrom copies in slices so that each one keeps the
// kernel's sendfile path and still gets its own deadline; Unwrap serves
// http.ResponseController.
type recorder struct {
	http.ResponseWriter
	rc          *http.ResponseController
	idle        time.Duration
	status      int
	bytes       int64
	wroteHeader bool
}

// sliceSize bounds one write between deadline moves: 4 MiB in the transfer idle timeout
// is the slowest transfer that survives.
const sliceSize = 4 << 20

func (r *recorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wroteHeader = true
	_ = r.rc.SetWriteDeadline(time.Now().Add(r.idle))
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	r.wroteHeader = true
	var total int64
	for {
		_ = r.rc.SetWriteDeadline(time.Now().Add(r.idle))
		n, err := io.CopyN(r.ResponseWriter, src, sliceSize)
		total += n
		r.bytes += n
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
