package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth-registry/berth/client"
)

var tagsHelp = Command{Name: "tags", Usage: "[flags] HOST/REPO",
	Help: `List every tag of a repository, sorted, one per line (--json: a JSON array).
Every page is fetched, however the registry paginates.`}

func tags(ctx context.Context, e *env, args []string) error {
	fs := e.flags(remoteFlags | jsonFlag | pageSizeFlag)
	pos, err := e.args(fs, args, 1, "HOST/REPO")
	if err != nil {
		return err
	}
	repo, err := parseRepository(pos[0])
	if err != nil {
		return &UsageError{Cmd: e.cmd.Name, Err: err}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	list, err := c.Tags(ctx, repo)
	if err != nil {
		return e.explain(err, "list tags of "+repo.String())
	}
	return e.printList(list)
}

var catalogHelp = Command{Name: "catalog", Usage: "[flags] HOST[:PORT]",
	Help: `List every repository of a registry (GET /v2/_catalog), sorted, one per line.
Registries that keep their catalog private (Docker Hub, ghcr.io) refuse it.`}

func catalog(ctx context.Context, e *env, args []string) error {
	fs := e.flags(remoteFlags | jsonFlag | pageSizeFlag)
	pos, err := e.args(fs, args, 1, "HOST[:PORT]")
	if err != nil {
		return err
	}
	host, err := parseHost(pos[0])
	if err != nil {
		return &UsageError{Cmd: e.cmd.Name, Err: err}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	list, err := c.Catalog(ctx, host)
	if err != nil {
		return e.explain(err, "list repositories of "+host)
	}
	return e.printList(list)
}

func (e *env) printList(list []string) error {
	if e.jsonOut {
		if list == nil {
			list = []string{}
		}
		return e.printJSON(list)
	}
	if len(list) == 0 {
		return nil
	}
	_, err := fmt.Fprintln(e.stdout, strings.Join(list, "\n"))
	return err
}

var manifestGetHelp = Command{Name: "manifest get", Usage: "[flags] HOST/REPO[:TAG|@DIGEST]",
	Help: `Print a manifest exactly as the registry stores it (the tag defaults to latest).
--json wraps it with its descriptor: media type, digest and size.`}

func manifestGet(ctx context.Context, e *env, args []string) error {
	fs := e.flags(remoteFlags | jsonFlag)
	pos, err := e.args(fs, args, 1, "HOST/REPO[:TAG|@DIGEST]")
	if err != nil {
		return err
	}
	repo, ref, err := parseRef(pos[0])
	if err != nil {
		return &UsageError{Cmd: e.cmd.Name, Err: err}
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	desc, body, err := c.ManifestGet(ctx, repo, ref)
	if err != nil {
		return e.explain(err, "get manifest "+refString(repo, ref))
	}
	if e.jsonOut {
		return e.printJSON(struct {
			client.Descriptor
			Manifest any `json:"manifest"`
		}{desc, jsonRaw(body)})
	}
	_, err = e.stdout.Write(append(body, '\n'))
	return err
}

type jsonRaw []byte

func (j jsonRaw) MarshalJSON() ([]byte, error) { return j, nil }
