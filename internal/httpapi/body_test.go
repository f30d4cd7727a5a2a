package httpapi_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/berth-registry/berth/internal/httpapi"
	"github.com/berth-registry/berth/internal/registry"
	"github.com/berth-registry/berth/internal/testenv"
)

// brokenBody gives some bytes, then fails as a body does whose client stalled past the
// idle timeout.
type brokenBody struct{ sent bool }

func (b *brokenBody) Read(p []byte) (int, error) {
	if !b.sent {
		b.sent = true
		return copy(p, strings.Repeat("x", 1024)), nil
	}
	return 0, os.ErrDeadlineExceeded
}

func (b *brokenBody) Close() error { return nil }

func TestABrokenRequestBodyIsTheClientsFault(t *testing.T) {
	meta, blobs := testenv.EmbeddedStores(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := httpapi.New(registry.New(meta, blobs, log, registry.Options{}), log, nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c := client{t, srv.URL}
	session := func() string {
		resp := c.do("POST", "/v2/r/blobs/uploads/", nil)
		expect(t, resp, 202, "")
		return resp.Header.Get("Location")
	}
	digest := "sha256:" + strings.Repeat("a", 64)
	tests := []struct {
		name, method, path, code string
	}{
		{"monolithic upload", "POST", "/v2/r/blobs/uploads/?digest=" + digest, "BLOB_UPLOAD_INVALID"},
		{"chunk", "PATCH", session(), "BLOB_UPLOAD_INVALID"},
		{"last chunk", "PUT", session() + "?digest=" + digest, "BLOB_UPLOAD_INVALID"},
		{"manifest", "PUT", "/v2/r/manifests/latest", "MANIFEST_INVALID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, &brokenBody{})
			req.ContentLength = 4096
			req.Header.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var e struct {
				Errors []struct{ Code, Message string } `json:"errors"`
			}
			if err := json.NewDecoder(rec.Body).Decode(&e); err != nil || len(e.Errors) != 1 {
				t.Fatalf("%d, error body %v", rec.Code, err)
			}
			if rec.Code != http.StatusBadRequest || e.Errors[0].Code != tt.code {
				t.Fatalf("%d %s (%s), want 400 %s", rec.Code, e.Errors[0].Code, e.Errors[0].Message, tt.code)
			}
			if !strings.Contains(e.Errors[0].Message, os.ErrDeadlineExceeded.Error()) {
				t.Errorf("message %q does not say why the body broke off", e.Errors[0].Message)
			}
		})
	}
}
