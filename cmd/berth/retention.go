package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/berth-registry/berth/internal/cli"
	"github.com/berth-registry/berth/internal/lifecycle"
	"github.com/berth-registry/berth/internal/server"
)

var retentionHelp = cli.Command{Name: "retention", Usage: "[--dry-run [-v]] [--config FILE] [--data DIR]",
	Help: `Run one retention pass now under the policies of lifecycle.retention (docs/lifecycle.md),
taking the lease so that no replica runs one at the same time; or with --dry-run print
every deletion a pass would make and why, changing nothing. Both may run beside a
serving registry.`}

// retentionCmd runs one retention pass now, or prints what one would delete.
func retentionCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet(retentionHelp)
	load := registryFlags(fs)
	dryRun := fs.Bool("dry-run", false, "print what a pass would delete and why; change nothing")
	verbose := fs.Bool("v", false, "with --dry-run, print what is kept and why too")
	if err := cli.Parse(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return cli.Usagef("retention", "retention takes no arguments, got %q", fs.Arg(0))
	}
	cfg, err := load()
	if err != nil {
		return err
	}
	if len(cfg.Lifecycle.Retention.Policies) == 0 {
		return fmt.Errorf("no retention policies configured (lifecycle.retention.policies)")
	}
	meta, _, err := server.OpenStores(ctx, cfg)
	if err != nil {
		return err
	}
	defer meta.Close()
	// A pass run by hand deletes as one run by a replica does: audited alike (a dry run
	// deletes nothing, so emits nothing).
	au := server.NewAudit(cfg, slog.New(slog.NewJSONHandler(stderr, nil)))
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = au.Close(ctx)
	}()
	r, err := server.NewRetainer(cfg, meta, slog.New(slog.NewTextHandler(stderr, nil)), au)
	if err != nil {
		return err
	}
	start := time.Now()
	if !*dryRun {
		rep, err := r.Pass(ctx)
		if err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		if rep.Skipped {
			return fmt.Errorf("retention: another replica is running a pass (it holds the lease); try again later")
		}
		fmt.Fprintf(stdout, "deleted %d tags and %d untagged manifests of %s (%d tags judged) in %s\n",
			rep.TagsDeleted, rep.Manifests, repositories(rep.Repositories), rep.Tags, time.Since(start).Round(time.Millisecond))
		return nil
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	kept := map[string]int{}
	rep, err := r.DryRun(ctx, func(v lifecycle.Verdict) error {
		if v.Delete || *verbose {
			_, err := fmt.Fprintln(out, v)
			if !v.Delete {
				kept[v.Reason]++
			}
			return err
		}
		kept[v.Reason]++
		return nil
	})
	if err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	fmt.Fprintf(out, "would delete %d tags and %d untagged manifests of %s (%d tags judged) in %s; nothing changed\n",
		rep.TagsDeleted, rep.Manifests, repositories(rep.Repositories), rep.Tags, time.Since(start).Round(time.Millisecond))
	reasons := slices.SortedFunc(maps.Keys(kept), func(a, b string) int { return cmp.Or(kept[b]-kept[a], cmp.Compare(a, b)) })
	for _, reason := range reasons {
		fmt.Fprintf(out, "  kept %d: %s\n", kept[reason], reason)
	}
	fmt.Fprintln(out, "(manifests this pass leaves untagged, and children and referrers of manifests it deletes, are judged by later passes)")
	return nil
}

func repositories(n int) string {
	if n == 1 {
		return "1 repository"
	}
	return fmt.Sprintf("%d repositories", n)
}
