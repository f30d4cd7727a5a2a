package cli

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/berth-registry/berth/client"
)

// login checks the credentials against the registry (a GET /v2/ that must not be
// refused) and stores them in the docker config, where docker, podman and skopeo find
// them too.
func login(ctx context.Context, e *env, args []string) error {
	fs := e.flags("login [flags] HOST")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	host, err := oneArg(fs, args, "HOST")
	if err != nil {
		return err
	}
	if e.username == "" {
		return fmt.Errorf("login needs --username")
	}
	if *passwordStdin {
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read password: %w", err)
		}
		e.password = strings.TrimRight(line, "\r\n")
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	if err := c.Ping(ctx, host); err != nil {
		return explain(err, "log in to "+host)
	}
	path, err := client.DockerConfigPath()
	if err != nil {
		return err
	}
	if err := client.SaveDockerCredentials(path, host, e.username, e.password); err != nil {
		return fmt.Errorf("save credentials: %w", err)
	}
	fmt.Fprintf(e.stderr, "Login succeeded; credentials saved in %s\n", path)
	return nil
}

func logout(_ context.Context, e *env, args []string) error {
	fs := e.flags("logout HOST")
	host, err := oneArg(fs, args, "HOST")
	if err != nil {
		return err
	}
	path, err := client.DockerConfigPath()
	if err != nil {
		return err
	}
	_, err = client.RemoveDockerCredentials(path, host)
	return err
}
