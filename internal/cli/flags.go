package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// UsageError is a command line that cannot run as written: an unknown flag, a missing
// or extra argument, a malformed reference. `berth` exits 2 for it and 1 for a failure
// of the work itself, as crane, oras and regctl do, so scripts can tell the two apart.
type UsageError struct {
	Cmd string // the subcommand, for "run berth CMD --help"; empty for berth itself
	Err error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// Usagef returns a UsageError of cmd.
func Usagef(cmd, format string, args ...any) error {
	return &UsageError{Cmd: cmd, Err: fmt.Errorf(format, args...)}
}

// Command is the help of one subcommand: what `berth CMD --help` prints above its flags.
type Command struct {
	Name  string // e.g. "manifest get"
	Usage string // the arguments, e.g. "[flags] HOST/REPO[:TAG|@DIGEST]"
	Help  string // what it does, and anything a first-time user needs; may be several lines
}

// NewFlagSet returns an empty flag set whose usage prints cmd's help and flags, with
// "--" before long names as they are usually typed.
func NewFlagSet(cmd Command) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // Parse reports errors itself, once
	fs.Usage = func() { printUsage(fs.Output(), fs, cmd) }
	return fs
}

// shortNames maps a one-letter alias to the flag it stands for; the help lists them
// together.
var shortNames = map[string]string{"q": "quiet", "o": "output"}

func printUsage(w io.Writer, fs *flag.FlagSet, cmd Command) {
	fmt.Fprintln(w, strings.TrimSpace("usage: berth "+cmd.Name+" "+cmd.Usage))
	if cmd.Help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimRight(cmd.Help, "\n"))
	}
	aliases := map[string]string{}
	for short, long := range shortNames {
		if fs.Lookup(short) != nil && fs.Lookup(long) != nil {
			aliases[long] = short
		}
	}
	type line struct{ left, usage string }
	var lines []line
	fs.VisitAll(func(f *flag.Flag) {
		if long, isAlias := shortNames[f.Name]; isAlias && fs.Lookup(long) != nil {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		left := "--" + f.Name
		if s, ok := aliases[f.Name]; ok {
			left = "-" + s + ", " + left
		}
		if name != "" {
			left += " " + name
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		lines = append(lines, line{left, usage})
	})
	if len(lines) == 0 {
		return
	}
	width := 0
	for _, l := range lines {
		width = max(width, len(l.left))
	}
	fmt.Fprintln(w, "\nflags:")
	for _, l := range lines {
		fmt.Fprintf(w, "  %-*s  %s\n", width, l.left, l.usage)
	}
}

// Parse parses the flags of args wherever they stand among the arguments, so that
// `berth pull REF DIR --json` works as people type it ("--" ends the flags). --help and
// -h print the usage to stdout and return flag.ErrHelp; a flag that is not one of fs's
// is a UsageError.
func Parse(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(stdout)
		fs.Usage()
		return flag.ErrHelp
	}
	if err != nil {
		return &UsageError{Cmd: fs.Name(), Err: err}
	}
	return nil
}

// parseInterspersed parses flags wherever they appear among the arguments.
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
