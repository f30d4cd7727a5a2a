package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/term"

	"github.com/berth-registry/berth/client"
)

var loginHelp = Command{Name: "login", Usage: "[flags] HOST[:PORT]",
	Help: `Check a user name and password (or token) against a registry, then store them in
the docker config ($DOCKER_CONFIG/config.json, else ~/.docker/config.json), where
docker, podman, skopeo and every berth command find them. They are stored
unencrypted (base64), as docker does without a credential helper.

On a terminal, berth asks for what is missing (the password without echo). In
scripts, pipe the password in: berth login HOST --username me --password-stdin < token.
--password works too, but leaves the password in shell history and the process list.`}

// login checks the credentials against the registry (a GET /v2/ that must not be
// refused) and stores them.
func login(ctx context.Context, e *env, args []string) error {
	fs := e.flags(remoteFlags)
	// What --username and --password mean here is not what they mean elsewhere.
	fs.Lookup("username").Usage = "user `name` (asked for on a terminal when not given)"
	fs.Lookup("password").Usage = "`password` or token; --password-stdin keeps it out of ps and shell history"
	passwordStdin := fs.Bool("password-stdin", false, "read the password from standard input (its first line)")
	pos, err := e.args(fs, args, 1, "HOST[:PORT]")
	if err != nil {
		return err
	}
	host, err := parseHost(pos[0])
	if err != nil {
		return &UsageError{Cmd: e.cmd.Name, Err: err}
	}
	if e.password != "" {
		if *passwordStdin {
			return Usagef(e.cmd.Name, "--password and --password-stdin exclude each other")
		}
		fmt.Fprintln(e.stderr, "WARNING: a password given with --password can be read by other users (ps) and stays in shell history; use --password-stdin.")
	}
	interactive := !*passwordStdin && term.IsTerminal(int(e.stdin.Fd()))
	in := bufio.NewReader(e.stdin)
	if e.username == "" {
		if !interactive {
			return Usagef(e.cmd.Name, "login needs --username (standard input is not a terminal to ask on)")
		}
		fmt.Fprint(e.stderr, "Username: ")
		if e.username, err = readLine(in); err != nil {
			return fmt.Errorf("read user name: %w", err)
		}
		if e.username == "" {
			return Usagef(e.cmd.Name, "no user name given")
		}
	}
	switch {
	case *passwordStdin:
		if e.password, err = readLine(in); err != nil {
			return fmt.Errorf("read the password from standard input: %w", err)
		}
	case e.password == "" && interactive:
		fmt.Fprint(e.stderr, "Password: ")
		pw, err := term.ReadPassword(int(e.stdin.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return fmt.Errorf("read password: %w", err)
		}
		e.password = string(pw)
	case e.password == "":
		return Usagef(e.cmd.Name, "no password: pipe it in with --password-stdin (standard input is not a terminal to ask on)")
	}
	if e.password == "" {
		return Usagef(e.cmd.Name, "the password is empty")
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	if err := c.Ping(ctx, host); err != nil {
		var ae *client.AuthError
		if errors.As(err, &ae) {
			return fmt.Errorf("log in to %s: %w", host, err) // the sentence says it all
		}
		return e.explain(err, "log in to "+host)
	}
	path, err := client.DockerConfigPath()
	if err != nil {
		return err
	}
	if err := client.SaveDockerCredentials(path, host, e.username, e.password); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	fmt.Fprintf(e.stderr, "Login succeeded: credentials of %s for %s saved in %s\n", e.username, host, path)
	return nil
}

// readLine reads one line without its line ending; the last line may lack one.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

var logoutHelp = Command{Name: "logout", Usage: "HOST[:PORT]",
	Help: `Remove the credentials stored for a registry from the docker config.`}

func logout(_ context.Context, e *env, args []string) error {
	fs := NewFlagSet(e.cmd)
	pos, err := e.args(fs, args, 1, "HOST[:PORT]")
	if err != nil {
		return err
	}
	host, err := parseHost(pos[0])
	if err != nil {
		return &UsageError{Cmd: e.cmd.Name, Err: err}
	}
	path, err := client.DockerConfigPath()
	if err != nil {
		return err
	}
	removed, err := client.RemoveDockerCredentials(path, host)
	if err != nil {
		return err
	}
	if !removed {
		fmt.Fprintf(e.stderr, "No credentials for %s in %s: nothing removed\n", host, path)
		return nil
	}
	fmt.Fprintf(e.stderr, "Removed the credentials for %s from %s\n", host, path)
	return nil
}
