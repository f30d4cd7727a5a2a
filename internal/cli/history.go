package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-registry/berth/client"
)

var historyHelp = Command{Name: "history", Usage: "[flags] HOST/REPO:TAG",
	Help: `List every move of a tag, newest first: when, what (set, moved, removed, with short
digests), who and on which replica. It reads Berth's tag history API, page by page;
other registries answer 404.`}

// history prints the moves of a tag: `berth history HOST/REPO:TAG`.
func history(ctx context.Context, e *env, args []string) error {
	fs := e.flags(remoteFlags | jsonFlag)
	limit := fs.Int("limit", 0, "print at most `n` changes, the newest (0: all)")
	pos, err := e.args(fs, args, 1, "HOST/REPO:TAG")
	if err != nil {
		return err
	}
	if strings.Contains(pos[0], "@") {
		return Usagef(e.cmd.Name, "history is kept for tags, not digests: give HOST/REPO:TAG")
	}
	repo, tag, err := parseRef(pos[0])
	if err != nil {
		return &UsageError{Cmd: e.cmd.Name, Err: err}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	changes, err := c.TagHistory(ctx, repo, tag, *limit)
	if err != nil {
		return e.explain(err, "history of "+refString(repo, tag))
	}
	if e.jsonOut {
		return e.printJSON(changes)
	}
	w := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "TIME\tCHANGE\tACTOR\tREPLICA")
	for _, ch := range changes {
		actor := ch.Actor
		if actor == "" {
			actor = "(anonymous)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", ch.Time.UTC().Format(time.RFC3339), describeChange(ch), actor, ch.Replica)
	}
	return w.Flush()
}

// describeChange says what a change did, with short digests.
func describeChange(ch client.TagChange) string {
	switch {
	case ch.Old == "":
		return "set to " + shortDigest(ch.New)
	case ch.New == "":
		return "removed (was " + shortDigest(ch.Old) + ")"
	}
	return "moved " + shortDigest(ch.Old) + " → " + shortDigest(ch.New)
}
