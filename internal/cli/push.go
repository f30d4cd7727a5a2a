package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/oci"
)

const (
	// defaultArtifactType is what ORAS records when the user names none, so both tools
	// agree on what an untyped artifact is.
	defaultArtifactType = "application/vnd.unknown.artifact.v1"
	defaultFileType     = "application/vnd.oci.image.layer.v1.tar"
	titleAnnotation     = "org.opencontainers.image.title"
	emptyJSON           = "{}"
)

var pushHelp = Command{Name: "push", Usage: "[flags] HOST/REPO[:TAG] FILE...\n       berth push [flags] HOST/REPO[:TAG] oci:DIR[:TAG]",
	Help: `Push files as an OCI artifact: one layer per file, named by its base name
(org.opencontainers.image.title), with an empty config and --artifact-type, as ORAS
does. Or push an image from an OCI image layout directory (oci:DIR, or a directory
holding an oci-layout file). The tag defaults to latest. Prints REPO@DIGEST.`}

func push(ctx context.Context, e *env, args []string) error {
	fs := e.flags(remoteFlags | jsonFlag | progressFlags)
	artifactType := fs.String("artifact-type", defaultArtifactType, "the artifact's `type` (its artifactType)")
	fileType := fs.String("media-type", defaultFileType, "media `type` of each file's layer")
	var annotations multiFlag
	fs.Var(&annotations, "annotation", "manifest annotation `KEY=VALUE` (repeatable)")
	pos, err := e.args(fs, args, -2, "HOST/REPO[:TAG] and the files (or oci:DIR) to push")
	if err != nil {
		return err
	}
	if strings.HasPrefix(pos[0], layoutPrefix) {
		return Usagef(e.cmd.Name, "push goes to a registry; to write a layout use `berth copy SRC oci:DIR`")
	}
	dst, ref, err := e.parseEndpoint(pos[0])
	if err != nil {
		return err
	}
	if len(pos) == 2 {
		if src, srcRef, ok := layoutArg(pos[1]); ok {
			return e.copyImage(ctx, src, srcRef, dst, ref, true)
		}
	}
	ann, err := annotations.pairs()
	if err != nil {
		return &UsageError{Cmd: e.cmd.Name, Err: err}
	}
	return e.pushFiles(ctx, dst, ref, pos[1:], *artifactType, *fileType, ann)
}

// layoutArg recognises an OCI layout argument: oci:DIR[:TAG], or a directory holding an
// oci-layout file.
func layoutArg(s string) (*layout, string, bool) {
	if strings.HasPrefix(s, layoutPrefix) {
		ep, ref, err := (&env{}).parseEndpoint(s)
		if err == nil {
			return ep.(*layout), ref, true
		}
	}
	if _, err := os.Stat(filepath.Join(s, "oci-layout")); err == nil {
		return &layout{dir: s}, "", true
	}
	return nil, "", false
}

// pushFiles pushes files as the layers of an OCI artifact (image-spec 1.1 guidance: an
// empty config and an artifactType), each named by its title annotation. Every file is
// read twice, once to digest it and once to stream it, and never held in memory.
func (e *env) pushFiles(ctx context.Context, dst endpoint, ref string, files []string, artifactType, fileType string, ann map[string]string) error {
	prog := e.newProgress("push")
	defer prog.finish()
	seen := map[string]bool{}
	var layers []client.Descriptor
	for _, path := range files {
		title := filepath.Base(path)
		if seen[title] {
			return fmt.Errorf("two files are named %q; an artifact's files need distinct names", title)
		}
		seen[title] = true
		desc, err := digestFile(path)
		if err != nil {
			return err
		}
		desc.MediaType = fileType
		desc.Annotations = map[string]string{titleAnnotation: title}
		prog.expect(desc.Size)
		if err := pushFile(ctx, dst, path, desc, prog); err != nil {
			return err
		}
		layers = append(layers, desc)
	}
	config := client.Descriptor{MediaType: oci.MediaTypeEmpty, Digest: digest.FromString(emptyJSON).String(), Size: int64(len(emptyJSON))}
	if !dst.hasBlob(ctx, config.Digest) {
		if err := dst.putBlob(ctx, config.Digest, config.Size, strings.NewReader(emptyJSON)); err != nil {
			return err
		}
	}
	manifest := struct {
		SchemaVersion int                 `json:"schemaVersion"`
		MediaType     string              `json:"mediaType"`
		ArtifactType  string              `json:"artifactType"`
		Config        client.Descriptor   `json:"config"`
		Layers        []client.Descriptor `json:"layers"`
		Annotations   map[string]string   `json:"annotations,omitempty"`
	}{2, oci.MediaTypeImageManifest, artifactType, config, layers, ann}
	body, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	desc := client.Descriptor{MediaType: oci.MediaTypeImageManifest, Digest: digest.FromBytes(body).String(), Size: int64(len(body))}
	if err := dst.putManifest(ctx, ref, desc, body, true); err != nil {
		return err
	}
	prog.finish()
	if e.jsonOut {
		return e.printJSON(map[string]any{"digest": desc.Digest, "mediaType": desc.MediaType, "artifactType": artifactType, "files": len(layers)})
	}
	fmt.Fprintf(e.stdout, "%s@%s\n", dst, desc.Digest)
	return nil
}

func digestFile(path string) (client.Descriptor, error) {
	f, err := os.Open(path)
	if err != nil {
		return client.Descriptor{}, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.IsDir() {
		return client.Descriptor{}, fmt.Errorf("%s: a directory; push its files, or an archive of it", path)
	}
	dg := digest.Canonical.Digester()
	n, err := io.Copy(dg.Hash(), f)
	if err != nil {
		return client.Descriptor{}, fmt.Errorf("read %s: %w", path, err)
	}
	return client.Descriptor{Digest: dg.Digest().String(), Size: n}, nil
}

func pushFile(ctx context.Context, dst endpoint, path string, desc client.Descriptor, prog *progress) error {
	if dst.hasBlob(ctx, desc.Digest) {
		prog.skip(desc.Digest, desc.Size)
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := dst.putBlob(ctx, desc.Digest, desc.Size, prog.readSeeker(f)); err != nil {
		if rejectedContent(err) {
			return fmt.Errorf("%s: %w (did the file change while it was pushed?)", path, err)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	prog.blobDone(desc.Digest, desc.Size)
	return nil
}

// multiFlag collects a repeatable KEY=VALUE flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func (m multiFlag) pairs() (map[string]string, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range m {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("annotation %q: want KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}
