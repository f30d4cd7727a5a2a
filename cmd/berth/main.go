// Command berth is the Berth registry and its client. `berth serve` runs the registry.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-registry/berth/internal/cli"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/server"
)

const usage = `usage: berth <command> [flags]

commands:
  serve                     run the registry (berth serve -h for its flags)
  config check FILE         validate a configuration file without starting
  backup [--config F] [--data DIR] DEST  consistent online copy of the embedded data directory
  gc [--dry-run] [--config F] [--data DIR]  run a garbage collection pass now
  version                   print the version and build information
` + cli.Commands

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "berth:", err)
		}
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stderr)
	case "version":
		return version(stdout)
	case "config":
		return configCheck(args[1:], stdout, stderr)
	case "backup":
		return backupCmd(ctx, args[1:], stdout, stderr)
	case "gc":
		return gcCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	if ok, err := cli.Run(ctx, args[0], args[1:], stdout, stderr); ok {
		return err
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "YAML configuration `file` (see docs/configuration.md)")
	addr := fs.String("addr", "", "listen `host:port` (default 127.0.0.1:5000)")
	data := fs.String("data", "", "data `directory` (default ./berth-data)")
	flatpakIndex := fs.Bool("flatpak-index", false, "serve the Flatpak registry index (/index/static, /index/dynamic)")
	tlsCert := fs.String("tls-cert", "", "PEM certificate `file`: serve HTTPS")
	tlsKey := fs.String("tls-key", "", "PEM private key `file`")
	metadataURL := fs.String("metadata", "", "metadata store `URL` (default SQLite in the data directory; postgres://...)")
	htpasswd := fs.String("htpasswd", "", "htpasswd `file` (bcrypt): turn on access control; every user may do everything, anonymous nothing, unless auth.rules say otherwise")
	blobsURL := fs.String("blobs", "", "blob store `URL` (default files in the data directory; s3://...)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	cfg, err := config.Load(*configFile, os.Environ())
	if err != nil {
		return err
	}
	// Flags given on the command line win over the file and the environment.
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "addr":
			cfg.Addr = *addr
		case "data":
			cfg.Data = *data
		case "flatpak-index":
			cfg.Flatpak.Index = *flatpakIndex
		case "tls-cert":
			cfg.TLS.Cert = *tlsCert
		case "tls-key":
			cfg.TLS.Key = *tlsKey
		case "metadata":
			cfg.Metadata = *metadataURL
		case "blobs":
			cfg.Blobs = *blobsURL
		case "htpasswd":
			cfg.Auth.Htpasswd = *htpasswd
		}
	})
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	log := newLogger(cfg.Log, stderr)
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer srv.Close()
	return srv.Run(ctx)
}

// newLogger logs text to a terminal and JSON otherwise, unless told which.
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config.Validate
	opts := &slog.HandlerOptions{Level: level}
	format := c.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				format = "text"
			}
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
