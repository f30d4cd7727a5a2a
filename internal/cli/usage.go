package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/berth-registry/berth/client"
)

var usageHelp = Command{Name: "usage", Usage: "[flags] HOST[:PORT][/REPO]",
	Help: `Show what the namespaces of a Berth registry store against their quotas: every
namespace you can see into (HOST), or one repository's namespace and its tags
(HOST/REPO). It reads Berth's usage API; other registries answer 404.`}

func usage(ctx context.Context, e *env, args []string) error {
	fs := e.flags(remoteFlags | jsonFlag | pageSizeFlag)
	pos, err := e.args(fs, args, 1, "HOST or HOST/REPO")
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	var list []client.Usage
	if strings.Contains(pos[0], "/") {
		repo, err := parseRepository(pos[0])
		if err != nil {
			return &UsageError{Cmd: e.cmd.Name, Err: err}
		}
		u, err := c.Usage(ctx, repo)
		if err != nil {
			return e.explain(err, "usage of "+repo.String())
		}
		list = []client.Usage{u}
	} else {
		host, err := parseHost(pos[0])
		if err != nil {
			return &UsageError{Cmd: e.cmd.Name, Err: err}
		}
		if list, err = c.Usages(ctx, host); err != nil {
			return e.explain(err, "usage of "+host)
		}
	}
	if e.jsonOut {
		if list == nil {
			list = []client.Usage{}
		}
		return e.printJSON(list)
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tUSED\tLIMIT\tOBJECTS")
	for _, u := range list {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", u.Namespace, byteSize(u.Bytes), limit(u.Limit, byteSize(u.Limit)), u.Objects)
	}
	if len(list) == 1 && list[0].Repository != "" {
		u := list[0]
		fmt.Fprintf(tw, "\nREPOSITORY\tTAGS\tTAG LIMIT\n%s\t%d\t%s\n", u.Repository, u.Tags, limit(int64(u.TagLimit), fmt.Sprint(u.TagLimit)))
	}
	return tw.Flush()
}

// limit shows a limit, or "none" for 0.
func limit(n int64, s string) string {
	if n <= 0 {
		return "none"
	}
	return s
}
