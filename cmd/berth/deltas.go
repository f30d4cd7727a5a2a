package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-registry/berth/internal/cli"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/server"
)

var flatpakDeltasHelp = cli.Command{Name: "flatpak deltas", Usage: "[--repository REPO] [--json] [--config FILE] [--data DIR]",
	Help: `List the Flatpak image deltas of a registry (docs/flatpak.md, "Deltas"): the jobs,
queued, done or failed, one per tag that moved to a Flatpak image; and every delta
made, published or not (saving too little, or a layer refused). It reads the
metadata store the configuration names, beside a serving registry.`}

// flatpakCmd runs `berth flatpak deltas`; every other `berth flatpak` command is the
// client's (internal/cli).
func flatpakCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	switch {
	case len(args) == 0:
		return cli.Usagef("flatpak", "berth flatpak needs a subcommand: index, deltas")
	case args[0] == "--help" || args[0] == "-h" || args[0] == "help":
		fmt.Fprintln(stdout, "usage: berth flatpak index|deltas ...")
		return flag.ErrHelp
	case args[0] != "deltas":
		_, err := cli.Run(ctx, "flatpak", args, stdout, stderr)
		return err
	}
	fs := cli.NewFlagSet(flatpakDeltasHelp)
	load := registryFlags(fs)
	repo := fs.String("repository", "", "only the repository `name`")
	asJSON := fs.Bool("json", false, "print the jobs and deltas as JSON")
	if err := cli.Parse(fs, args[1:], stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("flatpak deltas", "flatpak deltas takes no arguments, got %q (a repository is --repository)", fs.Arg(0))
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	meta, _, err := server.OpenStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer meta.Close()
	jobs, deltas, err := listDeltas(ctx, meta, *repo)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Jobs   []metadata.DeltaJob   `json:"jobs"`
			Deltas []metadata.LayerDelta `json:"deltas"`
		}{jobs, deltas})
	}
	return printDeltas(stdout, jobs, deltas, cfg.Flatpak.Deltas.Enabled)
}

// listDeltas reads every job and every delta of repo ("" for all), page by page.
func listDeltas(ctx context.Context, meta metadata.Deltas, repo string) ([]metadata.DeltaJob, []metadata.LayerDelta, error) {
	const page = 500
	jobs := []metadata.DeltaJob{}
	for after := int64(0); ; {
		p, err := meta.DeltaJobs(ctx, repo, after, page)
		if err != nil {
			return nil, nil, fmt.Errorf("delta jobs: %w", err)
		}
		jobs = append(jobs, p...)
		if len(p) < page {
			break
		}
		after = p[len(p)-1].ID
	}
	deltas := []metadata.LayerDelta{}
	for after := (metadata.DeltaCursor{}); ; {
		p, err := meta.ListDeltas(ctx, repo, after, page)
		if err != nil {
			return nil, nil, fmt.Errorf("deltas: %w", err)
		}
		deltas = append(deltas, p...)
		if len(p) < page {
			break
		}
		l := p[len(p)-1]
		after = metadata.DeltaCursor{Repository: l.Repository, Target: l.Target, Source: l.Source, To: l.To}
	}
	return jobs, deltas, nil
}

func printDeltas(w io.Writer, jobs []metadata.DeltaJob, deltas []metadata.LayerDelta, enabled bool) error {
	if !enabled {
		fmt.Fprintln(w, "(flatpak.deltas.enabled is off in this configuration: no new jobs are queued)")
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tREPOSITORY\tTAG\tTARGET\tSTATE\tATTEMPTS\tSINCE\tNOTE")
	for _, j := range jobs {
		since, note := j.QueuedAt, j.LastError
		switch {
		case j.State == metadata.DeltaQueued && j.Owner != "" && j.LeaseUntil.After(time.Now()):
			note = "running on " + j.Owner
		case j.State == metadata.DeltaQueued && j.NotBefore.After(time.Now()):
			note = "retry at " + j.NotBefore.UTC().Format(time.RFC3339) + ": " + j.LastError
		case j.State != metadata.DeltaQueued:
			since = j.FinishedAt
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", j.ID, j.Repository, j.Tag, short(j.Target.String()), j.State, j.Attempts,
			since.UTC().Format(time.RFC3339), oneLine(note))
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "REPOSITORY\tTARGET\tSOURCE\tLAYER\tDELTA\tLAYER SIZE\tSTATUS\tMADE IN\tVERIFIED IN")
	for _, l := range deltas {
		status := "published " + short(l.Blob.String())
		switch {
		case l.Blob == "" && l.Size == 0:
			status = "refused (layer beyond the bound or unreadable)"
		case l.Blob == "":
			status = "not published: saves too little"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", l.Repository, short(l.Target.String()), short(l.Source.String()), l.Layer,
			l.Size, l.LayerSize, status, l.MakeTime.Round(time.Millisecond), l.VerifyTime.Round(time.Millisecond))
	}
	return tw.Flush()
}

// short is a digest as people read it: algorithm and 12 hex digits.
func short(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
