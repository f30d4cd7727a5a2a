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

	"golang.org/x/term"

	"github.com/berth-registry/berth/internal/cli"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/server"
)

const usage = `usage: berth <command> [flags] [arguments]

registry commands:
  serve                     run the registry
  config check FILE         validate a configuration file without starting
  backup DEST               consistent online copy of the embedded data directory
  gc                        run a garbage collection pass now
  retention                 run a retention pass now, or print what it would delete
  recount-usage             count the namespaces' storage usage again
  flatpak deltas            list Flatpak image deltas and their jobs
  version                   print the version and build information

client commands (any OCI registry):
` + cli.Commands + `
Run 'berth <command> --help' for a command's flags. Exit status: 0 success, 1 failure,
2 a command line that cannot run as written.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(report(err, ctx.Err() != nil, os.Stderr))
}

// report prints err as scripts and people read it and returns the exit status: 0 for
// success and for --help, 2 for a command line that cannot run as written, 130 when
// interrupted, and 1 for any other failure.
func report(err error, interrupted bool, stderr io.Writer) int {
	var ue *cli.UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "berth:", err)
		if ue.Cmd != "" {
			fmt.Fprintf(stderr, "Run 'berth %s --help' for usage.\n", ue.Cmd)
		} else {
			fmt.Fprintln(stderr, "Run 'berth --help' for usage.")
		}
		return 2
	case interrupted && errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "berth: interrupted")
		return 130
	}
	fmt.Fprintln(stderr, "berth:", err)
	return 1
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &cli.UsageError{Err: errors.New("no command given")}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "version":
		return version(args[1:], stdout)
	case "config":
		return configCmd(args[1:], stdout)
	case "backup":
		return backupCmd(ctx, args[1:], stdout, stderr)
	case "gc":
		return gcCmd(ctx, args[1:], stdout, stderr)
	case "retention":
		return retentionCmd(ctx, args[1:], stdout, stderr)
	case "recount-usage":
		return recountCmd(ctx, args[1:], stdout, stderr)
	case "flatpak":
		return flatpakCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help", "-help":
		if len(args) > 1 && args[0] == "help" {
			// berth help CMD is berth CMD --help.
			return run(ctx, append(args[1:], "--help"), stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return flag.ErrHelp
	}
	if ok, err := cli.Run(ctx, args[0], args[1:], stdout, stderr); ok {
		return err
	}
	return &cli.UsageError{Err: fmt.Errorf("unknown command %q (berth --help lists them)", args[0])}
}

var serveHelp = cli.Command{Name: "serve", Usage: "[flags]",
	Help: `Run the registry. With no flags and no configuration it serves HTTP on
127.0.0.1:5000 with SQLite metadata and blob files in ./berth-data. Flags override the
BERTH_* environment, which overrides the configuration file (docs/configuration.md).
One serve per embedded data directory: a second one refuses to start.`}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet(serveHelp)
	configFile := fs.String("config", "", "YAML configuration `file` (see docs/configuration.md)")
	addr := fs.String("addr", "", "listen `host:port` (default 127.0.0.1:5000)")
	data := fs.String("data", "", "data `directory` (default ./berth-data)")
	flatpakIndex := fs.Bool("flatpak-index", false, "serve the Flatpak registry index (/index/static, /index/dynamic)")
	flatpakDeltas := fs.Bool("flatpak-deltas", false, "make Flatpak image deltas in the background (docs/flatpak.md#deltas)")
	tlsCert := fs.String("tls-cert", "", "PEM certificate `file`: serve HTTPS")
	tlsKey := fs.String("tls-key", "", "PEM private key `file`")
	metadataURL := fs.String("metadata", "", "metadata store `URL` (default SQLite in the data directory; postgres://...)")
	htpasswd := fs.String("htpasswd", "", "htpasswd `file` (bcrypt): turn on access control; every user may do everything, anonymous nothing, unless auth.rules say otherwise")
	blobsURL := fs.String("blobs", "", "blob store `URL` (default files in the data directory; s3://...)")
	if err := cli.Parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("serve", "serve takes no arguments, got %q (flags start with --)", fs.Arg(0))
	}
	// Flags given on the command line win over the file and the environment.
	cfg, err := loadConfig(*configFile, func(cfg *config.Config) {
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "addr":
				cfg.Addr = *addr
			case "data":
				cfg.Data = *data
			case "flatpak-index":
				cfg.Flatpak.Index = *flatpakIndex
			case "flatpak-deltas":
				cfg.Flatpak.Deltas.Enabled = *flatpakDeltas
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
	})
	if err != nil {
		return err
	}
	log := newLogger(cfg.Log, stderr)
	// The port first: a registry that cannot listen must leave no data directory behind.
	ls, err := server.Listen(cfg)
	if err != nil {
		return err
	}
	srv, err := server.New(ctx, cfg, log)
	if err != nil {
		ls.Close()
		return err
	}
	defer srv.Close()
	return srv.Serve(ctx, ls)
}

// loadConfig loads file and the BERTH_* environment, lets override apply the command
// line, and validates the result: every problem of the three comes in one report.
func loadConfig(file string, override func(*config.Config)) (config.Config, error) {
	cfg, err := config.Load(file, os.Environ())
	var p config.Problems
	if err != nil && !errors.As(err, &p) {
		return cfg, err
	}
	if override != nil {
		override(&cfg)
	}
	if err := config.Join(err, cfg.Validate()); err != nil {
		return cfg, fmt.Errorf("invalid configuration: %w", err)
	}
	return cfg, nil
}

// newLogger logs text to a terminal and JSON otherwise, unless told which. JSON
// carries durations as seconds (a float), not Go's nanoseconds, so that log tools read
// "timeout":30 as thirty seconds; text writes them as Go durations (30s).
func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level)) // validated by config.Validate
	opts := &slog.HandlerOptions{Level: level}
	format := c.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			format = "text"
		}
	}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	opts.ReplaceAttr = durationSeconds
	return slog.New(slog.NewJSONHandler(w, opts))
}

// durationSeconds renders a time.Duration attribute as seconds.
func durationSeconds(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.Float64Value(a.Value.Duration().Seconds())
	}
	return a
}
