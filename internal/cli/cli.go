// Package cli implements the client-side `berth` subcommands on top of the public client
// package: listing tags and repositories, manifests, copying, pushing and pulling images
// and artifacts, login and logout, and crawling a registry into a static Flatpak index.
// Output goes to the writers it is given. It imports no server-side package (the
// architecture's import table says so, and depcheck_test.go enforces it): the Flatpak
// index document it writes comes from internal/flatpak/index, which the server shares.
package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/client"
)

// Commands lists the subcommands this package runs, for the top-level usage text.
const Commands = `  tags HOST/REPO            list every tag of a repository, sorted
  catalog HOST              list every repository of a registry
  manifest get HOST/REPO:REF  print a manifest
  copy SRC DST              copy an image or index between registries and OCI layouts (oci:DIR)
  push HOST/REPO:TAG FILE...  push files as an artifact (or an OCI layout: oci:DIR)
  pull HOST/REPO:TAG DIR    pull an artifact's files (or the image into oci:DIR)
  login HOST                check credentials and store them in the docker config
  logout HOST               remove them
  flatpak index REGISTRY [REPO...]  crawl a registry into a static Flatpak index
  usage HOST[/REPO]         storage of a Berth registry's namespaces against their quotas
  history HOST/REPO:TAG     the moves of a tag, newest first (Berth registries)
`

type command struct {
	Command
	run func(context.Context, *env, []string) error
}

// commands are the client subcommands; "manifest" and "flatpak" take a second word.
var commands = map[string]command{
	"tags":          {tagsHelp, tags},
	"catalog":       {catalogHelp, catalog},
	"manifest get":  {manifestGetHelp, manifestGet},
	"copy":          {copyHelp, copyCmd},
	"push":          {pushHelp, push},
	"pull":          {pullHelp, pull},
	"login":         {loginHelp, login},
	"logout":        {logoutHelp, logout},
	"flatpak index": {flatpakIndexHelp, flatpakIndex},
	"usage":         {usageHelp, usage},
	"history":       {historyHelp, history},
}

// Run runs a client subcommand. It reports whether name is one of them.
func Run(ctx context.Context, name string, args []string, stdout, stderr io.Writer) (bool, error) {
	cmd, ok := commands[name]
	if !ok {
		var subs []string
		for full := range commands {
			if first, second, ok := strings.Cut(full, " "); ok && first == name {
				subs = append(subs, second)
				if len(args) > 0 && args[0] == second {
					cmd, args = commands[full], args[1:]
				}
			}
		}
		if len(subs) == 0 {
			return false, nil
		}
		if cmd.run == nil {
			if len(args) > 0 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
				fmt.Fprintf(stdout, "usage: berth %s %s ...\n", name, strings.Join(subs, "|"))
				return true, flag.ErrHelp
			}
			return true, Usagef(name, "berth %s needs a subcommand: %s", name, strings.Join(subs, ", "))
		}
	}
	e := &env{cmd: cmd.Command, stdin: os.Stdin, stdout: stdout, stderr: stderr}
	return true, cmd.run(ctx, e, args)
}

// env carries what every subcommand shares: its output and the client options.
type env struct {
	cmd            Command
	stdin          *os.File
	stdout, stderr io.Writer
	plainHTTP      bool
	jsonOut        bool
	username       string
	password       string
	pageSize       int
	progress       string // auto, plain or none
	quiet          bool
}

// flagGroup is a set of flags some subcommands take; each lists only those it uses.
type flagGroup uint

const (
	remoteFlags   flagGroup = 1 << iota // --plain-http, --username, --password
	jsonFlag                            // --json
	pageSizeFlag                        // --page-size
	progressFlags                       // --progress, --quiet
)

// flags returns a flag set with the groups of options the subcommand takes.
func (e *env) flags(groups flagGroup) *flag.FlagSet {
	fs := NewFlagSet(e.cmd)
	if groups&remoteFlags != 0 {
		fs.BoolVar(&e.plainHTTP, "plain-http", false, "use http:// for every registry (loopback ones need no flag; BERTH_PLAIN_HTTP can name others)")
		fs.StringVar(&e.username, "username", "", "user `name` (default: the credentials `berth login` stored)")
		fs.StringVar(&e.password, "password", "", "`password` or token, with --username")
	}
	if groups&jsonFlag != 0 {
		fs.BoolVar(&e.jsonOut, "json", false, "print the result as JSON")
	}
	if groups&pageSizeFlag != 0 {
		fs.IntVar(&e.pageSize, "page-size", 1000, "`n` to ask for per page when listing (every page is fetched whatever the size)")
	}
	if groups&progressFlags != 0 {
		def := "auto"
		if v := os.Getenv("BERTH_PROGRESS"); v != "" {
			def = v
		}
		fs.StringVar(&e.progress, "progress", def, "`mode` is auto (a bar when standard error is a terminal), plain (a line per blob, for CI logs) or none; BERTH_PROGRESS sets the default")
		fs.BoolVar(&e.quiet, "quiet", false, "print only the result: no progress, no notes")
		fs.BoolVar(&e.quiet, "q", false, "same as --quiet")
	}
	return fs
}

// parse parses args into fs and checks the flags' values against each other.
func (e *env) parse(fs *flag.FlagSet, args []string) error {
	if err := Parse(fs, args, e.stdout); err != nil {
		return err
	}
	switch e.progress {
	case "", "auto", "plain", "none":
	default:
		return Usagef(e.cmd.Name, "--progress must be auto, plain or none, not %q", e.progress)
	}
	if e.password != "" && e.username == "" {
		return Usagef(e.cmd.Name, "--password needs --username")
	}
	return nil
}

// args parses args and checks that n positional arguments remain (n < 0: at least -n).
func (e *env) args(fs *flag.FlagSet, args []string, n int, what string) ([]string, error) {
	if err := e.parse(fs, args); err != nil {
		return nil, err
	}
	if (n >= 0 && fs.NArg() != n) || (n < 0 && fs.NArg() < -n) {
		return nil, Usagef(e.cmd.Name, "berth %s expects %s, got %s", e.cmd.Name, what, describeArgs(fs.Args()))
	}
	return fs.Args(), nil
}

func describeArgs(a []string) string {
	if len(a) == 0 {
		return "no arguments"
	}
	q := make([]string, len(a))
	for i, s := range a {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, " ")
}

// note prints a hint on standard error unless --quiet.
func (e *env) note(format string, args ...any) {
	if !e.quiet {
		fmt.Fprintf(e.stderr, format+"\n", args...)
	}
}

// client builds the client: credentials from the flags, else from the docker config.
func (e *env) client() (*client.Client, error) {
	opts := []client.Option{client.WithPlainHTTP(e.plainHTTP), client.WithUserAgent("berth")}
	if e.pageSize > 0 {
		opts = append(opts, client.WithPageSize(e.pageSize))
	}
	if hosts := os.Getenv("BERTH_PLAIN_HTTP"); hosts != "" && !e.plainHTTP {
		opts = append(opts, client.WithPlainHTTPHosts(plainHTTPHosts(hosts)))
	}
	if e.username != "" {
		user, pass := e.username, e.password
		opts = append(opts, client.WithCredentials(func(string) (string, string, bool) { return user, pass, true }))
	} else {
		path, err := client.DockerConfigPath()
		if err != nil {
			return nil, err
		}
		creds, err := client.DockerCredentials(path)
		if err != nil {
			return nil, fmt.Errorf("read credentials: %w", err)
		}
		opts = append(opts, client.WithCredentials(creds))
	}
	return client.New(opts...), nil
}

// plainHTTPHosts reads BERTH_PLAIN_HTTP: a boolean for every host, or a comma-separated
// list of the hosts (host[:port]) that speak plain HTTP.
func plainHTTPHosts(v string) func(string) bool {
	if b, err := strconv.ParseBool(v); err == nil {
		return func(string) bool { return b }
	}
	set := map[string]bool{}
	for _, h := range strings.Split(v, ",") {
		if h = strings.TrimSpace(h); h != "" {
			set[h] = true
		}
	}
	return func(host string) bool { return set[host] }
}

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
