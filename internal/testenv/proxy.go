package testenv

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/httpapi"
)

// Modes of a Proxy: how it answers until told otherwise.
const (
	ProxyPass     = ""         // forward every request
	ProxyDown     = "down"     // drop the connection, as an unreachable host does
	Proxy429      = "429"      // answer 429 Too Many Requests with Retry-After
	Proxy503      = "503"      // answer 503 Service Unavailable
	ProxyHang     = "hang"     // answer nothing until the client gives up
	ProxyTruncate = "truncate" // forward, but cut blob bodies after half their length
	ProxyStall    = "stall"    // forward, but stop sending blob bodies after half their length
)

// Proxy is an HTTP proxy in front of a registry that counts the requests it forwards
// and fails on demand: the upstream of a pull-through cache under test.
type Proxy struct {
	*httptest.Server
	mu     sync.Mutex
	mode   string
	counts map[string]int // "GET blob", "HEAD manifest", "GET token", ...
	log    []string
}

// NewProxy starts a proxy to target (http://HOST:PORT) on 127.0.0.1, closed when the
// test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{counts: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		mode := p.mode
		key := r.Method + " " + kind(r.URL.Path)
		p.counts[key]++
		p.log = append(p.log, r.Method+" "+r.URL.Path+" "+mode)
		p.mu.Unlock()
		switch mode {
		case ProxyDown:
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			panic(http.ErrAbortHandler)
		case Proxy429:
			w.Header().Set("Retry-After", "30")
			http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"rate limit"}]}`, http.StatusTooManyRequests)
			return
		case Proxy503:
			http.Error(w, "upstream down for maintenance", http.StatusServiceUnavailable)
			return
		case ProxyHang:
			select {
			case <-r.Context().Done():
			case <-time.After(time.Minute):
			}
			return
		case ProxyTruncate, ProxyStall:
			if r.Method == http.MethodGet && kind(r.URL.Path) == "blob" {
				rp.ServeHTTP(&truncating{ResponseWriter: w, stall: mode == ProxyStall, done: r.Context().Done()}, r)
				return
			}
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// kind names what a request addresses as the API's own routing does ("blob",
// "manifest", "upload", ...), or "token" / "other".
func kind(path string) string {
	if k := httpapi.Classify(path); k != httpapi.RouteNone {
		return k.String()
	}
	if strings.HasSuffix(path, "/token") {
		return "token"
	}
	return "other"
}

// SetMode changes how the proxy answers from now on.
func (p *Proxy) SetMode(mode string) {
	p.mu.Lock()
	p.mode = mode
	p.mu.Unlock()
}

// Count returns how many requests of method for kind ("blob", "manifest", "token",
// "other") the proxy received.
func (p *Proxy) Count(method, kind string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[method+" "+kind]
}

// Reset forgets the counts.
func (p *Proxy) Reset() {
	p.mu.Lock()
	p.counts = map[string]int{}
	p.log = nil
	p.mu.Unlock()
}

// Log returns "METHOD PATH MODE" for every request received, in order.
func (p *Proxy) Log() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

// truncating passes a response through but stops after half its declared length, then
// aborts the connection (a transfer cut mid-way) or, with stall, sends nothing more
// until the client gives up (a transfer that hangs mid-way).
type truncating struct {
	http.ResponseWriter
	limit, n int64
	stall    bool
	done     <-chan struct{}
}

func (t *truncating) WriteHeader(code int) {
	if n, err := strconv.ParseInt(t.Header().Get("Content-Length"), 10, 64); err == nil {
		t.limit = n / 2
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *truncating) Write(p []byte) (int, error) {
	if t.limit > 0 && t.n+int64(len(p)) > t.limit {
		p = p[:t.limit-t.n]
		n, _ := t.ResponseWriter.Write(p)
		t.n += int64(n)
		if f, ok := t.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		if t.stall {
			select {
			case <-t.done:
			case <-time.After(time.Minute):
			}
		}
		panic(http.ErrAbortHandler)
	}
	n, err := t.ResponseWriter.Write(p)
	t.n += int64(n)
	return n, err
}
