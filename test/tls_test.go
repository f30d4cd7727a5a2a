package e2e_test

import (
	"crypto/tls"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/berth-registry/berth/internal/testca"
)

// TestTLSWithRealClients serves Berth over HTTPS with a certificate from a CA made here,
// then pushes and inspects with skopeo and lists with the berth client, each trusting
// that CA; both refuse the server when they trust another CA instead.
func TestTLSWithRealClients(t *testing.T) {
	needTool(t, "skopeo")
	ca, dir := testca.New(t), t.TempDir()
	certFile, keyFile := ca.Issue(t, dir, 7)
	addr := freeAddr(t)
	cmd := exec.Command(berthBin, "serve", "--addr", addr, "--data", t.TempDir(), "--tls-cert", certFile, "--tls-key", keyFile)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	b := startServer(t, "berth", "https://"+addr, dir, cmd, "/readyz", hc)

	// skopeo reads HOST:PORT/ca.crt from its certificate directory.
	good, wrong := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(good, "ca.crt"), ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(wrong, "ca.crt"), testca.New(t).PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(src, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(ociImage(t, 1)); err != nil {
		t.Fatal(err)
	}
	skopeo(t, "copy", "--dest-cert-dir", good, "oci:"+src, "docker://"+b.Addr+"/tls/app:v1")
	if out := skopeo(t, "inspect", "--cert-dir", good, "docker://"+b.Addr+"/tls/app:v1"); !strings.Contains(out, `"Digest"`) {
		t.Errorf("skopeo inspect over TLS: %s", out)
	}
	bad := exec.Command("skopeo", "inspect", "--cert-dir", wrong, "docker://"+b.Addr+"/tls/app:v1")
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "certificate") {
		t.Errorf("skopeo trusting another CA: %v\n%s", err, out)
	}

	// The berth client trusts the system pool plus SSL_CERT_FILE.
	caFile := filepath.Join(good, "ca.crt")
	tags := exec.Command(berthBin, "tags", b.Addr+"/tls/app")
	tags.Env = append(os.Environ(), "SSL_CERT_FILE="+caFile, "DOCKER_CONFIG="+t.TempDir())
	if out, err := tags.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "v1" {
		t.Errorf("berth tags over TLS: %v\n%s", err, out)
	}
	tags = exec.Command(berthBin, "tags", b.Addr+"/tls/app")
	tags.Env = append(os.Environ(), "SSL_CERT_FILE="+filepath.Join(wrong, "ca.crt"), "DOCKER_CONFIG="+t.TempDir())
	if out, err := tags.CombinedOutput(); err == nil || !strings.Contains(string(out), "certificate") {
		t.Errorf("berth tags trusting another CA: %v\n%s", err, out)
	}
}
