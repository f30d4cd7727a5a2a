package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/berth-registry/berth/internal/atomicfile"
	"github.com/berth-registry/berth/internal/oci"
)

var pullHelp = Command{Name: "pull", Usage: "[flags] HOST/REPO[:TAG|@DIGEST] DIR\n       berth pull [flags] HOST/REPO[:TAG|@DIGEST] oci:DIR[:TAG]",
	Help: `Pull an artifact's files into DIR, each under its title (the name it was pushed
with); layers without a title are written as sha256-<hex> files. To get an image
(every platform) as an OCI image layout that skopeo, podman and berth copy read,
pull into oci:DIR instead. The tag defaults to latest. Prints the files written.`}

func pull(ctx context.Context, e *env, args []string) error {
	fs := e.flags(remoteFlags | jsonFlag | progressFlags)
	platform := fs.String("platform", "", "the platform (`OS/ARCH[/VARIANT]`) to take from an image index when pulling files")
	pos, err := e.args(fs, args, 2, "HOST/REPO[:TAG|@DIGEST] and a destination DIR or oci:DIR")
	if err != nil {
		return err
	}
	src, ref, err := e.parseEndpoint(pos[0])
	if err != nil {
		return err
	}
	if _, ok := src.(*remote); !ok {
		return Usagef(e.cmd.Name, "pull reads from a registry; to read a layout use `berth copy oci:DIR DST`")
	}
	if dst, dstRef, ok := layoutArg(pos[1]); ok && strings.HasPrefix(pos[1], layoutPrefix) {
		if dstRef == "" && !isDigest(ref) {
			dstRef = ref
		}
		return e.copyImage(ctx, src, ref, dst, dstRef, false)
	}
	return e.pullFiles(ctx, src, ref, pos[1], *platform)
}

// pullFiles writes the layers of an artifact into dir, each under its title annotation
// (layers without one under their digest). Each file appears only once its digest has
// been verified, so an interrupted pull leaves no corrupt file under a real name.
func (e *env) pullFiles(ctx context.Context, src endpoint, ref, dir, platform string) error {
	desc, body, err := src.getManifest(ctx, ref)
	if err != nil {
		return err
	}
	m, err := oci.ParseManifest(desc.MediaType, body)
	if err != nil {
		return fmt.Errorf("%s:%s: %w", src, ref, err)
	}
	if m.IsIndex() {
		child, err := pickPlatform(m, platform)
		if err != nil {
			return fmt.Errorf("%s:%s is an image index: %w", src, ref, err)
		}
		return e.pullFiles(ctx, src, child, dir, "")
	}
	type file struct {
		name string
		desc oci.Descriptor
	}
	var files []file
	seen := map[string]bool{}
	untitled := 0
	for _, l := range m.Layers {
		name := l.Annotations[titleAnnotation]
		if name == "" {
			untitled++
			name = l.Digest.Algorithm().String() + "-" + l.Digest.Encoded()
		}
		// A title comes from whoever pushed the artifact: it must not reach outside dir.
		if !filepath.IsLocal(name) || seen[name] {
			return fmt.Errorf("%s:%s: refusing file name %q (not a distinct relative path)", src, ref, name)
		}
		seen[name] = true
		files = append(files, file{name, l})
	}
	prog := e.newProgress("pull")
	defer prog.finish()
	for _, f := range files {
		prog.expect(f.desc.Size)
	}
	for _, f := range files {
		if err := pullFile(ctx, src, f.desc.Digest.String(), filepath.Join(dir, f.name), prog); err != nil {
			return err
		}
	}
	prog.finish()
	if untitled > 0 && m.Config != nil && (m.Config.MediaType == oci.MediaTypeImageConfig || m.Config.MediaType == oci.MediaTypeDockerConfig) {
		// An image, not an artifact of files: its layers are tarballs without names.
		e.note("note: %s is a container image; its %d layers were written as sha256-<hex> files. For the image as an OCI layout, pull it into oci:%s instead.", refString(src.(*remote).repo, ref), untitled, dir)
	}
	if e.jsonOut {
		names := make([]string, len(files))
		for i, f := range files {
			names[i] = f.name
		}
		return e.printJSON(map[string]any{"digest": desc.Digest, "files": names})
	}
	for _, f := range files {
		fmt.Fprintln(e.stdout, filepath.Join(dir, f.name))
	}
	return nil
}

func pickPlatform(m *oci.Manifest, platform string) (string, error) {
	var have []string
	for _, c := range m.Manifests {
		if c.Platform == nil {
			continue
		}
		p := c.Platform.OS + "/" + c.Platform.Architecture
		if c.Platform.Variant != "" {
			p += "/" + c.Platform.Variant
		}
		if platform != "" && (p == platform || c.Platform.OS+"/"+c.Platform.Architecture == platform) {
			return c.Digest.String(), nil
		}
		have = append(have, p)
	}
	if platform == "" {
		return "", fmt.Errorf("choose one of its platforms with --platform (%s), or pull it into an OCI layout with oci:DIR", strings.Join(have, ", "))
	}
	return "", fmt.Errorf("no platform %s (it has %s)", platform, strings.Join(have, ", "))
}

func pullFile(ctx context.Context, src endpoint, d, path string, prog *progress) error {
	rc, _, err := src.getBlob(ctx, d)
	if err != nil {
		return err
	}
	defer rc.Close()
	// The client's blob reader fails at EOF when the bytes do not match the digest, so
	// a corrupt download never takes the file's name.
	n, err := atomicfile.Write(path, prog.reader(rc), nil)
	if err != nil {
		return fmt.Errorf("pull %s: %w", path, err)
	}
	prog.blobDone(d, n)
	return nil
}
