package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/config"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "berth test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue writes a certificate for 127.0.0.1 with the given serial, and its key, to files.
func (ca *testCA) issue(t *testing.T, dir string, serial int64) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	must(t, err)
	kder, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	// Write the key first and the certificate last, as a renewal tool would; the reload
	// must cope with seeing one without the other.
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600))
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	return certFile, keyFile
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().String()
}

func TestTLSServesHTTP2AndRefusesAnUnknownCA(t *testing.T) {
	ca, dir := newTestCA(t), t.TempDir()
	certFile, keyFile := ca.issue(t, dir, 100)
	cfg := config.Default()
	cfg.Data, cfg.Addr, cfg.TLS.Cert, cfg.TLS.Key = t.TempDir(), freeAddr(t), certFile, keyFile
	srv, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	must(t, err)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() { cancel(); <-done }()

	get := func(pool *x509.CertPool) (*http.Response, error) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		var resp *http.Response
		var err error
		for range 50 { // until the listener is up
			if resp, err = (&http.Client{Transport: tr}).Get("https://" + cfg.Addr + "/v2/"); err == nil || !strings.Contains(err.Error(), "refused") {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err == nil {
			resp.Body.Close()
		}
		return resp, err
	}
	resp, err := get(ca.pool)
	must(t, err)
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || resp.TLS.PeerCertificates[0].SerialNumber.Int64() != 100 {
		t.Fatalf("GET /v2/ over TLS: %d %s", resp.StatusCode, resp.Proto)
	}
	if _, err := get(newTestCA(t).pool); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client trusting another CA connected: %v", err)
	}
}

func TestKeyPairReloadsChangedFiles(t *testing.T) {
	ca, dir := newTestCA(t), t.TempDir()
	certFile, keyFile := ca.issue(t, dir, 1)
	kp, err := loadKeyPair(certFile, keyFile, slog.New(slog.DiscardHandler))
	must(t, err)
	kp.pollEvery = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go kp.watch(ctx)
	time.Sleep(50 * time.Millisecond) // mtimes must differ from the first files'
	ca.issue(t, dir, 2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _ := kp.get(nil)
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		must(t, err)
		if leaf.SerialNumber.Int64() == 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not picked up")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestMismatchedKeyPairIsRefusedClearly(t *testing.T) {
	ca := newTestCA(t)
	a, b := t.TempDir(), t.TempDir()
	certFile, _ := ca.issue(t, a, 1)
	_, otherKey := ca.issue(t, b, 2)
	_, err := loadKeyPair(certFile, otherKey, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), certFile) || !strings.Contains(err.Error(), "private key does not match") {
		t.Fatalf("mismatched pair: %v", err)
	}
}
