package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth-registry/berth/client"
)

func tags(ctx context.Context, e *env, args []string) error {
	fs := e.flags("tags [flags] HOST/REPO")
	arg, err := oneArg(fs, args, "HOST/REPO")
	if err != nil {
		return err
	}
	repo, err := client.ParseRepository(arg)
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	list, err := c.Tags(ctx, repo)
	if err != nil {
		return explain(err, "list tags of "+repo.String())
	}
	return e.printList(list)
}

func catalog(ctx context.Context, e *env, args []string) error {
	fs := e.flags("catalog [flags] HOST")
	host, err := oneArg(fs, args, "HOST")
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	list, err := c.Catalog(ctx, host)
	if err != nil {
		return explain(err, "list repositories of "+host)
	}
	return e.printList(list)
}

func (e *env) printList(list []string) error {
	if e.jsonOut {
		return e.printJSON(list)
	}
	if len(list) == 0 {
		return nil
	}
	_, err := fmt.Fprintln(e.stdout, strings.Join(list, "\n"))
	return err
}

func manifest(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || args[0] != "get" {
		return fmt.Errorf("usage: berth manifest get [flags] HOST/REPO[:TAG|@DIGEST]")
	}
	fs := e.flags("manifest get [flags] HOST/REPO[:TAG|@DIGEST]")
	arg, err := oneArg(fs, args[1:], "HOST/REPO[:TAG|@DIGEST]")
	if err != nil {
		return err
	}
	repo, ref, err := splitRef(arg)
	if err != nil {
		return err
	}
	c, err := e.client()
	if err != nil {
		return err
	}
	desc, body, err := c.ManifestGet(ctx, repo, ref)
	if err != nil {
		return explain(err, "get manifest "+arg)
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
