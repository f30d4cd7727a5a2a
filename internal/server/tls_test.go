package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-registry/berth/internal/audit"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/testca"
	"github.com/berth-registry/berth/internal/testenv"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer l.Close()
	return l.Addr().String()
}

func TestTLSServesHTTP2AndRefusesAnUnknownCA(t *testing.T) {
	ca, dir := testca.New(t), t.TempDir()
	certFile, keyFile := ca.Issue(t, dir, 100)
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
	resp, err := get(ca.Pool)
	must(t, err)
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 || resp.TLS.PeerCertificates[0].SerialNumber.Int64() != 100 {
		t.Fatalf("GET /v2/ over TLS: %d %s", resp.StatusCode, resp.Proto)
	}
	if _, err := get(testca.New(t).Pool); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a client trusting another CA connected: %v", err)
	}
}

func TestKeyPairReloadsChangedFiles(t *testing.T) {
	ca, dir := testca.New(t), t.TempDir()
	certFile, keyFile := ca.Issue(t, dir, 1)
	kp, err := loadKeyPair(certFile, keyFile, slog.New(slog.DiscardHandler))
	must(t, err)
	kp.pollEvery = 20 * time.Millisecond
	events := &testenv.SyncBuffer{}
	kp.audit = audit.New(audit.Options{Log: slog.New(slog.NewJSONHandler(events, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go kp.watch(ctx)
	time.Sleep(50 * time.Millisecond) // mtimes must differ from the first files'
	ca.Issue(t, dir, 2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _ := kp.get(nil)
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		must(t, err)
		if leaf.SerialNumber.Int64() == 2 && strings.Contains(events.String(), `"type":"io.berth.config.reloaded"`) {
			if want := `"data":{"kind":"tls","reason":"files changed","file":` + strconv.Quote(certFile) + `}`; !strings.Contains(events.String(), want) {
				t.Fatalf("reload event %s lacks %s", events.String(), want)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the renewed certificate was not picked up and audited (events: %s)", events.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
