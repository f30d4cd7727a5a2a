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
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
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
  login HOST                store credentials in the docker config
  logout HOST               remove them
  flatpak index REGISTRY [REPO...]  crawl a registry into a static Flatpak index
`

// Run runs a client subcommand. It reports whether name is one of them.
func Run(ctx context.Context, name string, args []string, stdout, stderr io.Writer) (bool, error) {
	cmds := map[string]func(context.Context, *env, []string) error{
		"tags":     tags,
		"catalog":  catalog,
		"manifest": manifest,
		"copy":     copyCmd,
		"push":     push,
		"pull":     pull,
		"login":    login,
		"logout":   logout,
		"flatpak":  flatpakCmd,
	}
	fn, ok := cmds[name]
	if !ok {
		return false, nil
	}
	e := &env{name: name, stdout: stdout, stderr: stderr}
	if isTerminal(stdout) {
		e.progressOut = stderr
	}
	return true, fn(ctx, e, args)
}

// env carries what every subcommand shares: its output and the client options.
type env struct {
	name           string
	stdout, stderr io.Writer
	progressOut    io.Writer // where progress bars go; nil when stdout is not a terminal
	plainHTTP      bool
	jsonOut        bool
	username       string
	password       string
	pageSize       int
}

// flags returns a flag set with the options every subcommand takes.
func (e *env) flags(usage string) *flag.FlagSet {
	fs := flag.NewFlagSet(e.name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: berth %s\n", usage)
		fs.PrintDefaults()
	}
	fs.BoolVar(&e.plainHTTP, "plain-http", false, "use http:// instead of https:// (local registries)")
	fs.BoolVar(&e.jsonOut, "json", false, "print JSON")
	fs.StringVar(&e.username, "username", "", "user name (default: from the docker config)")
	fs.StringVar(&e.password, "password", "", "password or token (with --username)")
	fs.IntVar(&e.pageSize, "page-size", 1000, "n to ask for when listing")
	return fs
}

// client builds the client: credentials from the flags, else from the docker config.
func (e *env) client() (*client.Client, error) {
	opts := []client.Option{client.WithPlainHTTP(e.plainHTTP), client.WithPageSize(e.pageSize), client.WithUserAgent("berth")}
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

func (e *env) printJSON(v any) error {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// explain turns a client error into one that says what to do.
func explain(err error, what string) error {
	var ce *client.Error
	if !errors.As(err, &ce) {
		return fmt.Errorf("%s: %w", what, err)
	}
	hint := ""
	switch ce.Status {
	case http.StatusUnauthorized:
		hint = " (log in with `berth login HOST`, or pass --username/--password)"
	case http.StatusForbidden:
		hint = " (your credentials do not allow this)"
	case http.StatusNotFound:
		hint = " (check the repository and reference)"
	case http.StatusTooManyRequests:
		hint = " (rate limited: try again later)"
	}
	return fmt.Errorf("%s: %w%s", what, err, hint)
}

// splitRef reads HOST/REPO[:TAG|@DIGEST]; ref defaults to "latest".
func splitRef(s string) (client.Repository, string, error) {
	name, ref := s, "latest"
	if i := strings.LastIndex(s, "@"); i >= 0 {
		name, ref = s[:i], s[i+1:]
	} else if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		name, ref = s[:i], s[i+1:]
	}
	repo, err := client.ParseRepository(name)
	return repo, ref, err
}

func oneArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	if err := parseInterspersed(fs, args); err != nil {
		return "", err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return "", fmt.Errorf("expected %s", what)
	}
	return fs.Arg(0), nil
}

// parseInterspersed parses flags wherever they appear among the arguments, so that
// `berth pull REF DIR --json` works as people type it; "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) error {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	return fs.Parse(append([]string{"--"}, pos...))
}
