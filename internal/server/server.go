// Package server wires Berth together: configuration → stores → registry service → HTTP
// handlers → http.Server, plus health endpoints, access logging and graceful shutdown.
// It is the only package that knows the concrete store implementations.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-registry/berth/internal/blobstore/fs"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/flatpak"
	"github.com/berth-registry/berth/internal/httpapi"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
	"github.com/berth-registry/berth/internal/registry"
)

// Server is a configured registry, ready to serve.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	meta    metadata.Store
	handler http.Handler
}

// New opens the stores of the embedded mode under cfg.Data and builds the handlers.
func New(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	meta, err := sqlite.Open(ctx, filepath.Join(cfg.Data, "metadata.db"))
	if err != nil {
		return nil, fmt.Errorf("open metadata store: %w", err)
	}
	blobs, err := fs.New(cfg.Data)
	if err != nil {
		meta.Close()
		return nil, fmt.Errorf("open blob store: %w", err)
	}
	svc := registry.New(meta, blobs, log, registry.Options{
		MaxManifestSize: cfg.Registry.MaxManifestSize,
		MaxPageSize:     cfg.Registry.MaxPageSize,
		DeleteEnabled:   cfg.Registry.DeleteEnabled,
	})
	s := &Server{cfg: cfg, log: log, meta: meta}

	mux := http.NewServeMux()
	mux.Handle("/v2/", httpapi.New(svc, log))
	if cfg.Flatpak.Index {
		registryURL := "/"
		if cfg.PublicURL != "" {
			registryURL = strings.TrimSuffix(cfg.PublicURL, "/") + "/"
		}
		mux.Handle("/index/", flatpak.NewHandler(meta, log, flatpak.Options{Registry: registryURL}))
		mux.Handle("/flatpak/", flatpak.NewFilesHandler(meta, flatpak.FilesOptions{BaseURL: cfg.PublicURL, Title: cfg.Flatpak.Title}))
	}
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", s.ready)
	s.handler = accessLog(log, mux)
	return s, nil
}

// Handler is the server's whole HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// ready answers 200 when the metadata store answers a query.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if _, err := s.meta.ListRepositories(ctx, "", 1); err != nil {
		s.log.Warn("not ready", "err", err)
		http.Error(w, "metadata store unavailable\n", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Close releases the stores.
func (s *Server) Close() error { return s.meta.Close() }

// Run listens on cfg.Addr and serves until ctx is cancelled, then stops accepting
// requests and gives in-flight ones cfg.ShutdownTimeout to finish.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.log.Info("berth serving", "addr", ln.Addr().String(), "data", s.cfg.Data)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", "timeout", s.cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		// Requests still running are cut; their uploads stay resumable sessions.
		s.log.Warn("shutdown timed out, closing connections", "err", err)
		_ = hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}
