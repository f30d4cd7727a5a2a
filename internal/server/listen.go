package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/registry"
)

// Listeners are the sockets a registry serves on, bound before anything else is opened
// so that a port in use is reported before the data directory is touched.
type Listeners struct {
	main, ops net.Listener // ops is nil unless metrics.addr is set
}

// Listen binds cfg.Addr (and cfg.Metrics.Addr when set).
func Listen(cfg config.Config) (*Listeners, error) {
	ls := &Listeners{}
	var err error
	if ls.main, err = net.Listen("tcp", cfg.Addr); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if cfg.Metrics.Addr != "" {
		if ls.ops, err = net.Listen("tcp", cfg.Metrics.Addr); err != nil {
			ls.main.Close()
			return nil, fmt.Errorf("listen on %s (metrics.addr): %w", cfg.Metrics.Addr, err)
		}
	}
	return ls, nil
}

// Close releases the sockets of a registry that will not serve.
func (ls *Listeners) Close() {
	ls.main.Close()
	if ls.ops != nil {
		ls.ops.Close()
	}
}

// Run listens on cfg.Addr (and cfg.Metrics.Addr) and serves until ctx is cancelled, then
// stops accepting requests and gives in-flight ones cfg.ShutdownTimeout to finish.
func (s *Server) Run(ctx context.Context) error {
	ls, err := Listen(s.cfg)
	if err != nil {
		return err
	}
	return s.Serve(ctx, ls)
}

// Serve serves on ls (from Listen with the same configuration) as Run does.
func (s *Server) Serve(ctx context.Context, ls *Listeners) error {
	tlsConfig, err := s.tlsConfig(ctx)
	if err != nil {
		ls.Close()
		return err
	}
	servers := []*listener{{addr: s.cfg.Addr, handler: s.handler, tls: tlsConfig, ln: ls.main}}
	if s.ops != nil && ls.ops != nil {
		servers = append(servers, &listener{addr: s.cfg.Metrics.Addr, handler: s.ops, ln: ls.ops})
	}
	for _, l := range servers {
		l.hs = s.httpServer(ctx, l.handler)
		l.hs.TLSConfig = l.tls
	}
	errc := make(chan error, len(servers))
	for _, l := range servers {
		go func() {
			if l.tls != nil {
				// Certificates come from TLSConfig.GetCertificate; ServeTLS adds HTTP/2.
				errc <- l.hs.ServeTLS(l.ln, "", "")
			} else {
				errc <- l.hs.Serve(l.ln)
			}
		}()
	}
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	s.log.Info("berth serving", "addr", servers[0].ln.Addr().String(), "scheme", scheme, "data", s.cfg.Data)
	if s.ops != nil {
		s.log.Info("metrics serving", "addr", servers[1].ln.Addr().String())
	}
	notifySystemd(s.log, "READY=1")
	// Collection and retention stop with ctx; the pull recorder only once the listeners
	// have shut down, so that it flushes the pulls of the last requests too.
	var jobs sync.WaitGroup
	jobsCtx, stopJobs := context.WithCancel(ctx)
	pullsCtx, stopPulls := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { stopJobs(); stopPulls(); jobs.Wait() }()
	jobs.Go(func() { s.pulls.Run(pullsCtx) })
	jobs.Go(func() {
		// Images pushed before Berth extracted Flatpak apps get theirs, once, before
		// collection starts.
		if err := registry.BackfillApps(jobsCtx, s.meta, s.log); err != nil && jobsCtx.Err() == nil {
			s.log.Warn("flatpak apps of existing images not extracted; the next start tries again", "err", err)
		}
		if s.gc != nil {
			s.gc.Run(jobsCtx)
		}
	})
	if s.retain != nil {
		jobs.Go(func() { s.retain.Run(jobsCtx) })
	}
	// The delta workers stop with collection: a job cut short is due again at once.
	if s.deltas != nil {
		jobs.Go(func() { s.deltas.Run(jobsCtx) })
	}

	var serveErr error
	select {
	case serveErr = <-errc:
	case <-ctx.Done():
	}
	notifySystemd(s.log, "STOPPING=1")
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	for _, l := range servers {
		if err := l.hs.Shutdown(sctx); err != nil {
			// Requests still running are cut; their uploads stay resumable sessions.
			s.log.Warn("shutdown timed out, closing connections", "addr", l.addr, "err", err)
			_ = l.hs.Close()
		}
	}
	// Audit events still queued for webhooks get what is left of the shutdown timeout.
	if err := s.audit.Close(sctx); err != nil {
		s.log.Warn("audit events left undelivered at shutdown", "err", err)
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", serveErr)
	}
	return nil
}

type listener struct {
	addr    string
	handler http.Handler
	tls     *tls.Config
	ln      net.Listener
	hs      *http.Server
}

// httpServer has no whole-request timeouts: a large blob may take as long as it needs.
// The edge cuts transfers that stall instead (limits.transfer_idle_timeout).
func (s *Server) httpServer(ctx context.Context, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.Limits.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.Limits.IdleTimeout,
		MaxHeaderBytes:    s.cfg.Limits.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// tlsConfig returns nil for plain HTTP, else a configuration whose certificate comes
// from files reloaded on change, or from ACME.
func (s *Server) tlsConfig(ctx context.Context) (*tls.Config, error) {
	switch {
	case s.cfg.TLS.Cert != "":
		kp, err := loadKeyPair(s.cfg.TLS.Cert, s.cfg.TLS.Key, s.log)
		if err != nil {
			return nil, err
		}
		kp.audit = s.audit
		go kp.watch(ctx)
		return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: kp.get}, nil
	case s.cfg.TLS.ACMEHosts != "":
		var hosts []string
		for _, h := range strings.Split(s.cfg.TLS.ACMEHosts, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hosts = append(hosts, h)
			}
		}
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			HostPolicy: autocert.HostWhitelist(hosts...),
			Cache:      autocert.DirCache(filepath.Join(s.cfg.Data, "acme")),
			Email:      s.cfg.TLS.ACMEEmail,
		}
		if s.cfg.TLS.ACMEDirectory != "" {
			m.Client = &acme.Client{DirectoryURL: s.cfg.TLS.ACMEDirectory}
		}
		c := m.TLSConfig()
		c.MinVersion = tls.VersionTLS12
		return c, nil
	}
	return nil, nil
}

// notifySystemd tells systemd (Type=notify) about readiness and shutdown; without
// NOTIFY_SOCKET it does nothing.
func notifySystemd(log *slog.Logger, state string) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return
	}
	if strings.HasPrefix(path, "@") {
		path = "\x00" + path[1:] // abstract socket
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		log.Warn("systemd notify", "err", err)
		return
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		log.Warn("systemd notify", "err", err)
	}
}
