package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/config"
)

// start serves a real Berth over HTTP on 127.0.0.1 with cfg adjusted by adjust.
func start(t testing.TB, adjust func(*config.Config)) (*httptest.Server, *Server) {
	t.Helper()
	cfg := config.Default()
	cfg.Data = t.TempDir()
	if adjust != nil {
		adjust(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return hs, srv
}

func host(hs *httptest.Server) string { return strings.TrimPrefix(hs.URL, "http://") }

// metric returns the value of the sample whose line starts with prefix, or -1.
func metric(t *testing.T, url, prefix string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, prefix)), 64)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
	}
	return -1
}

func pushImage(t *testing.T, h string) {
	t.Helper()
	_, err := pushImageAs(client.New(client.WithPlainHTTP(true)), client.Repository{Host: h, Name: "m/app"})
	must(t, err)
}

// pushImageAs pushes a one-layer image tagged v1 with c and returns the layer digest.
func pushImageAs(c *client.Client, repo client.Repository) (digest.Digest, error) {
	ctx := context.Background()
	layer := bytes.Repeat([]byte(repo.Name), 100_000/len(repo.Name))
	ld := digest.FromBytes(layer)
	if err := c.BlobPut(ctx, repo, ld.String(), int64(len(layer)), bytes.NewReader(layer)); err != nil {
		return "", err
	}
	cfg := `{"architecture":"amd64","os":"linux","config":{"Labels":{"org.flatpak.ref":"app/` + repo.Name + `/x86_64/stable"}}}`
	cd := digest.FromString(cfg)
	if err := c.BlobPut(ctx, repo, cd.String(), int64(len(cfg)), strings.NewReader(cfg)); err != nil {
		return "", err
	}
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]}`, cd, len(cfg), ld, len(layer))
	_, err := c.ManifestPut(ctx, repo, "v1", "application/vnd.oci.image.manifest.v1+json", []byte(m))
	return ld, err
}

func TestMetricsMoveAfterAPush(t *testing.T) {
	hs, _ := start(t, nil)
	if v := metric(t, hs.URL, `berth_http_requests_total{code="201",method="PUT",route="manifest"}`); v != -1 {
		t.Fatalf("manifest PUTs counted before any: %v", v)
	}
	pushImage(t, host(hs))
	checks := map[string]func(float64) bool{
		`berth_http_requests_total{code="201",method="PUT",route="manifest"}`:              func(v float64) bool { return v == 1 },
		`berth_http_request_bytes_total{route="upload"}`:                                   func(v float64) bool { return v >= 100_002 },
		`berth_uploads_in_flight`:                                                          func(v float64) bool { return v == 0 },
		`berth_store_operation_duration_seconds_count{op="put_manifest",store="metadata"}`: func(v float64) bool { return v == 1 },
		`berth_store_operation_duration_seconds_count{op="commit",store="blobs"}`:          func(v float64) bool { return v == 2 },
		`berth_http_request_duration_seconds_count{method="PUT",route="manifest"}`:         func(v float64) bool { return v == 1 },
	}
	for prefix, ok := range checks {
		if v := metric(t, hs.URL, prefix); !ok(v) {
			t.Errorf("%s = %v", prefix, v)
		}
	}
}

func TestMetricsOnASeparateAddressOnly(t *testing.T) {
	hs, srv := start(t, func(c *config.Config) { c.Metrics.Addr = "127.0.0.1:0" })
	resp, err := http.Get(hs.URL + "/metrics")
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the registry address: %d, want 404", resp.StatusCode)
	}
	ops := httptest.NewServer(srv.ops)
	defer ops.Close()
	if v := metric(t, ops.URL, "berth_uploads_in_flight"); v != 0 {
		t.Errorf("metrics address: berth_uploads_in_flight = %v", v)
	}
}

func TestRateLimitAnswers429AndTheClientWaits(t *testing.T) {
	hs, _ := start(t, func(c *config.Config) { c.Limits.RequestsPerSecond, c.Limits.Burst = 2, 2 })
	var codes []int
	var last *http.Response
	for range 4 {
		resp, err := http.Get(hs.URL + "/v2/")
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == http.StatusTooManyRequests {
			last = resp
			if !strings.Contains(string(body), `"code":"TOOMANYREQUESTS"`) {
				t.Errorf("429 body: %s", body)
			}
		}
	}
	if codes[0] != 200 || codes[1] != 200 || codes[3] != 429 || last == nil || last.Header.Get("Retry-After") != "1" {
		t.Fatalf("codes %v, Retry-After %q; want the burst of 2 served, then 429 with Retry-After 1", codes, last.Header.Get("Retry-After"))
	}
	// The Berth client honours Retry-After, so a burst of calls all succeed.
	c := client.New(client.WithPlainHTTP(true), client.WithRetries(5, 5*time.Second))
	for i := range 4 {
		if err := c.Ping(context.Background(), host(hs)); err != nil {
			t.Fatalf("ping %d through the limit: %v", i, err)
		}
	}
	if v := metric(t, hs.URL, `berth_http_limited_total{limit="rate"}`); v < 2 {
		t.Errorf("limited requests counted: %v", v)
	}
}

// startUpload opens an upload session and returns its URL.
func startUpload(t *testing.T, base string) string {
	t.Helper()
	resp, err := http.Post(base+"/v2/slow/blobs/uploads/", "", nil)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start upload: %d", resp.StatusCode)
	}
	return base + resp.Header.Get("Location")
}

// patch sends a streamed PATCH whose body comes from body.
func patch(url string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPatch, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	return http.DefaultClient.Do(req)
}

func TestSlowButSteadyUploadOutlivesTheIdleTimeout(t *testing.T) {
	hs, _ := start(t, func(c *config.Config) { c.Limits.TransferIdleTimeout = time.Second })
	url := startUpload(t, hs.URL)
	pr, pw := io.Pipe()
	go func() {
		// 2.5 s in all, well past the idle timeout, but never silent for more than 100 ms:
		// ten times less than the timeout, so that a loaded CI machine still keeps it.
		for range 25 {
			if _, err := pw.Write(bytes.Repeat([]byte{1}, 1024)); err != nil {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		pw.Close()
	}()
	resp, err := patch(url, pr)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != "0-25599" {
		t.Fatalf("slow upload: %d, Range %q; want 202, 0-25599", resp.StatusCode, resp.Header.Get("Range"))
	}
}

func TestStalledUploadIsCut(t *testing.T) {
	hs, _ := start(t, func(c *config.Config) { c.Limits.TransferIdleTimeout = 300 * time.Millisecond })
	url := startUpload(t, hs.URL)
	pr, pw := io.Pipe()
	release := make(chan struct{})
	go func() {
		_, _ = pw.Write(bytes.Repeat([]byte{1}, 1024))
		<-release // stall far beyond the idle timeout
		pw.Close()
	}()
	done := make(chan error, 1)
	go func() {
		resp, err := patch(url, pr)
		if err == nil {
			resp.Body.Close()
			// The client stalled, not the registry: a 400 of the spec, never a 500.
			if resp.StatusCode != http.StatusBadRequest {
				err = fmt.Errorf("stalled upload answered %d, want 400", resp.StatusCode)
			}
		} else {
			err = nil // the connection was cut: that is the point
		}
		done <- err
	}()
	select {
	case err := <-done:
		close(release)
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		close(release)
		t.Fatal("a stalled upload was not cut")
	}
	// The session survives the cut: its status still answers.
	resp, err := http.Get(url)
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("upload status after the cut: %d, want 204", resp.StatusCode)
	}
}

func TestConcurrentUploadsAreBounded(t *testing.T) {
	hs, _ := start(t, func(c *config.Config) { c.Limits.MaxConcurrentUploads = 1 })
	pr, pw := io.Pipe()
	first := make(chan *http.Response, 1)
	go func() {
		resp, err := patch(startUpload(t, hs.URL), pr)
		if err != nil {
			first <- nil
			return
		}
		resp.Body.Close()
		first <- resp
	}()
	_, _ = pw.Write([]byte("x"))
	// The write returns once the client's transport took the byte, not once the server
	// has the request: wait until the first upload holds the only slot.
	for deadline := time.Now().Add(10 * time.Second); metric(t, hs.URL, "berth_uploads_in_flight") != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the first upload never reached the server")
		}
		time.Sleep(5 * time.Millisecond)
	}
	resp, err := patch(startUpload(t, hs.URL), strings.NewReader("y"))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Errorf("second upload: %d (Retry-After %q), want 429", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	pw.Close()
	if r := <-first; r == nil || r.StatusCode != http.StatusAccepted {
		t.Fatalf("first upload did not finish normally: %v", r)
	}
	resp, err = patch(startUpload(t, hs.URL), strings.NewReader("z"))
	must(t, err)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("upload after the slot was freed: %d", resp.StatusCode)
	}
}

func TestForwardedHeadersOnlyWhenTrusted(t *testing.T) {
	for _, trust := range []bool{false, true} {
		hs, _ := start(t, func(c *config.Config) { c.TrustProxyHeaders = trust; c.Flatpak.Index = true })
		req, _ := http.NewRequest(http.MethodGet, hs.URL+"/flatpak/repo.flatpakrepo", nil)
		req.Header.Set("X-Forwarded-Proto", "https")
		req.Header.Set("X-Forwarded-Host", "registry.example.com")
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "Url=oci+" + hs.URL
		if trust {
			want = "Url=oci+https://registry.example.com"
		}
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `/?$`).Match(body) {
			t.Errorf("trust=%v: repo file lacks %q:\n%s", trust, want, body)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
