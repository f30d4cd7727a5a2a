package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/berth-registry/berth/internal/backup"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/server"
)

// version prints the module version and the VCS stamp Go records at build time.
func version(stdout io.Writer) error {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintln(stdout, "berth (no build information)")
		return nil
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	fmt.Fprintf(stdout, "berth %s\n", bi.Main.Version)
	fmt.Fprintf(stdout, "  go:       %s\n", bi.GoVersion)
	for _, k := range []string{"vcs.revision", "vcs.time", "vcs.modified", "GOOS", "GOARCH"} {
		if v, ok := settings[k]; ok {
			fmt.Fprintf(stdout, "  %-9s %s\n", k+":", v)
		}
	}
	return nil
}

// configCheck validates a configuration file (with the BERTH_* environment on top, as
// serve would) without opening anything.
func configCheck(args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: berth config check FILE")
		return fmt.Errorf("expected: config check FILE")
	}
	cfg, err := config.Load(args[1], os.Environ())
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("%s: %w", args[1], err)
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[1])
	return nil
}

// registryFlags adds the --config and --data flags of the commands that work on a
// registry's stores offline, and returns what loads the configuration they name after
// parsing, with the BERTH_* environment applied as serve would.
func registryFlags(fs *flag.FlagSet) func() (config.Config, error) {
	configFile := fs.String("config", "", "configuration `file` of the registry")
	data := fs.String("data", "", "data `directory` (default: from the configuration, else ./berth-data)")
	return func() (config.Config, error) {
		cfg, err := config.Load(*configFile, os.Environ())
		if err != nil {
			return cfg, err
		}
		if *data != "" {
			cfg.Data = *data
		}
		return cfg, nil
	}
}

func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := registryFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: berth backup [--config FILE] [--data DIR] DEST")
		return fmt.Errorf("expected DEST")
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if cfg.Metadata != "" || cfg.Blobs != "" {
		return fmt.Errorf("backup copies the embedded data directory; for PostgreSQL use pg_dump and for S3 the bucket's versioning or replication (see docs/operations.md)")
	}
	meta, _, err := server.OpenStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer meta.Close()
	snap, ok := meta.(backup.Snapshotter)
	if !ok {
		return fmt.Errorf("backup: the metadata store of %s cannot take a snapshot", cfg.Data)
	}
	res, err := backup.Run(ctx, snap, cfg.Data, fs.Arg(0))
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backed up %s to %s: metadata snapshot, %d blobs copied (%d bytes), %d already there\n",
		cfg.Data, fs.Arg(0), res.BlobsCopied, res.Bytes, res.BlobsPresent)
	return nil
}

// gcCmd runs one garbage collection pass now, or with --dry-run reports what one would
// collect. It may run beside a serving registry: collection is online.
func gcCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	load := registryFlags(fs)
	dryRun := fs.Bool("dry-run", false, "report what would be collected; change nothing")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid configuration: %w", err)
	}
	meta, blobs, err := server.OpenStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer meta.Close()
	c := gc.New(meta, blobs, slog.New(slog.NewTextHandler(stderr, nil)), server.GCOptions(cfg))
	var r gc.Report
	verb := "collected"
	if *dryRun {
		verb = "would collect"
		r, err = c.DryRun(ctx, 1_000_000)
	} else {
		r, err = c.Pass(ctx)
	}
	if err != nil {
		return fmt.Errorf("gc: %w", err)
	}
	fmt.Fprintf(stdout, "%s: %d expired uploads, %d untagged manifests, %d unreferenced blob links, %d blobs (%d bytes)\n",
		verb, r.Uploads, r.Manifests, r.Links, r.Blobs, r.BlobBytes)
	if *dryRun && r.Links > 0 {
		fmt.Fprintln(stdout, "(blobs whose last link goes are collected by the pass after the one that removes the link)")
	}
	return nil
}
