package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berth-registry/berth/internal/audit"
)

// keyPair serves the certificate of two PEM files and swaps in a new one when they
// change or on SIGHUP. Handshakes in progress keep the pair they started with; open
// connections are never dropped.
type keyPair struct {
	certFile, keyFile string
	log               *slog.Logger
	cert              atomic.Pointer[tls.Certificate]
	stamp             string // modification times of the loaded files
	pollEvery         time.Duration
	audit             *audit.Emitter // learns of every reload (nil: nothing does)
}

func loadKeyPair(certFile, keyFile string, log *slog.Logger) (*keyPair, error) {
	kp := &keyPair{certFile: certFile, keyFile: keyFile, log: log, pollEvery: 5 * time.Second}
	if err := kp.load(); err != nil {
		return nil, err
	}
	return kp, nil
}

func (kp *keyPair) load() error {
	stamp := kp.fileStamp()
	c, err := tls.LoadX509KeyPair(kp.certFile, kp.keyFile)
	if err != nil {
		return fmt.Errorf("TLS certificate %s with key %s: %w", kp.certFile, kp.keyFile, err)
	}
	kp.cert.Store(&c)
	kp.stamp = stamp
	return nil
}

func (kp *keyPair) fileStamp() string {
	var s string
	for _, f := range []string{kp.certFile, kp.keyFile} {
		if st, err := os.Stat(f); err == nil {
			s += st.ModTime().String() + fmt.Sprint(st.Size()) + ";"
		}
	}
	return s
}

func (kp *keyPair) get(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.cert.Load(), nil }

// watch reloads on SIGHUP and when the files' modification times change. A pair that
// fails to load (say, the certificate written before its key) is logged and the old one
// kept; the next change or signal tries again.
func (kp *keyPair) watch(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	t := time.NewTicker(kp.pollEvery)
	defer t.Stop()
	var why string
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			why = "SIGHUP"
		case <-t.C:
			if kp.fileStamp() == kp.stamp {
				continue
			}
			why = "files changed"
		}
		if err := kp.load(); err != nil {
			kp.log.Error("TLS reload failed; keeping the current certificate", "err", err)
			continue
		}
		kp.log.Info("TLS certificate reloaded", "cert", kp.certFile)
		kp.audit.Emit(ctx, audit.Event{Type: audit.ConfigReloaded, Subject: kp.certFile,
			Data: audit.Data{Kind: "tls", File: kp.certFile, Reason: why}})
	}
}
