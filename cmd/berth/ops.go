package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"time"

	"github.com/berth-registry/berth/internal/backup"
	"github.com/berth-registry/berth/internal/cli"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/gc"
	"github.com/berth-registry/berth/internal/server"
)

var versionHelp = cli.Command{Name: "version", Usage: "", Help: "Print the version of berth and how it was built."}

// version prints the module version and the VCS stamp Go records at build time.
func version(args []string, stdout io.Writer) error {
	fs := cli.NewFlagSet(versionHelp)
	if err := cli.Parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("version", "version takes no arguments, got %q", fs.Arg(0))
	}
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

var configCheckHelp = cli.Command{Name: "config check", Usage: "FILE",
	Help: `Validate a configuration file, with the BERTH_* environment applied as serve would,
without opening or creating anything. Every problem is reported, with its line.`}

// configCmd runs `berth config check FILE`.
func configCmd(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "check" {
		if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
			fmt.Fprintln(stdout, "usage: berth config check FILE")
			return flag.ErrHelp
		}
		return cli.Usagef("config check", "berth config needs a subcommand: check")
	}
	fs := cli.NewFlagSet(configCheckHelp)
	if err := cli.Parse(fs, args[1:], stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return cli.Usagef("config check", "config check expects one FILE")
	}
	file := fs.Arg(0)
	if _, err := loadConfig(file, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: ok\n", file)
	return nil
}

// registryFlags adds the --config and --data flags of the commands that work on a
// registry's stores offline, and returns what loads the configuration they name after
// parsing, with the BERTH_* environment applied as serve would. An embedded data
// directory must exist: these commands never create one, so a typo in --data is named
// instead of becoming an empty registry.
func registryFlags(fs *flag.FlagSet) func() (config.Config, error) {
	configFile := fs.String("config", "", "configuration `file` of the registry")
	data := fs.String("data", "", "data `directory` (default: from the configuration, else ./berth-data)")
	return func() (config.Config, error) {
		cfg, err := loadConfig(*configFile, func(cfg *config.Config) {
			if *data != "" {
				cfg.Data = *data
			}
		})
		if err != nil {
			return cfg, err
		}
		if cfg.Metadata == "" || cfg.Blobs == "" {
			st, err := os.Stat(cfg.Data)
			switch {
			case errors.Is(err, os.ErrNotExist):
				return cfg, fmt.Errorf("data directory %s does not exist (check --data, BERTH_DATA or data: in the configuration)", cfg.Data)
			case err != nil:
				return cfg, fmt.Errorf("data directory: %w", err)
			case !st.IsDir():
				return cfg, fmt.Errorf("data directory %s is not a directory", cfg.Data)
			}
		}
		return cfg, nil
	}
}

var backupHelp = cli.Command{Name: "backup", Usage: "[--config FILE] [--data DIR] DEST",
	Help: `Copy the embedded data directory to DEST while the registry runs: one consistent
snapshot of the metadata, then the blobs it refers to. A repeated backup into the same
DEST copies only new blobs. DEST then works as a data directory itself.`}

func backupCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet(backupHelp)
	load := registryFlags(fs)
	if err := cli.Parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return cli.Usagef("backup", "backup expects one DEST directory")
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

var gcHelp = cli.Command{Name: "gc", Usage: "[--dry-run] [--config FILE] [--data DIR]",
	Help: `Run one garbage collection pass now (expired uploads, untagged manifests if
configured, unreferenced blobs past their grace period). It may run beside a serving
registry: collection is online.`}

// gcCmd runs one garbage collection pass now, or with --dry-run reports what one would
// collect.
func gcCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet(gcHelp)
	load := registryFlags(fs)
	dryRun := fs.Bool("dry-run", false, "report what would be collected; change nothing")
	if err := cli.Parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("gc", "gc takes no arguments, got %q", fs.Arg(0))
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	meta, blobs, err := server.OpenStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer meta.Close()
	o := server.GCOptions(cfg)
	// A pass run by hand deletes as one run by a replica does: audited alike.
	o.Audit = server.NewAudit(cfg, slog.New(slog.NewJSONHandler(stderr, nil)))
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = o.Audit.Close(ctx)
	}()
	c := gc.New(meta, blobs, slog.New(slog.NewTextHandler(stderr, nil)), o)
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

var recountHelp = cli.Command{Name: "recount-usage", Usage: "[--config FILE] [--data DIR]",
	Help: `Count the storage usage of every namespace again from the links and manifests,
under the configured quota rules (docs/lifecycle.md, "Quotas"). It may run beside a
serving registry: the recount is one transaction, which pushes wait for.`}

// recountCmd counts the storage usage of every namespace again: after restoring a
// backup, or to check the running counts.
func recountCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet(recountHelp)
	load := registryFlags(fs)
	if err := cli.Parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("recount-usage", "recount-usage takes no arguments, got %q", fs.Arg(0))
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	usage, err := server.RecountUsage(ctx, cfg)
	if err != nil {
		return err
	}
	var bytes, objects int64
	for _, u := range usage {
		bytes, objects = bytes+u.Bytes, objects+u.Objects
	}
	fmt.Fprintf(stdout, "recounted %d namespaces: %d bytes in %d objects (each blob once per namespace, each manifest once per repository)\n", len(usage), bytes, objects)
	return nil
}
