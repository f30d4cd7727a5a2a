package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/atomicfile"
	"github.com/berth-registry/berth/internal/oci"
)

// refNameAnnotation names an index.json entry of an OCI image layout (its "tag").
const refNameAnnotation = "org.opencontainers.image.ref.name"

// layout is an OCI image layout directory (image-spec image-layout.md): blobs under
// blobs/<alg>/<hex>, the entry points in index.json. Writes are atomic per file, so an
// interrupted copy leaves no half-written blob behind.
type layout struct {
	dir string
	mu  sync.Mutex // serialises index.json updates
}

type layoutIndex struct {
	SchemaVersion int                 `json:"schemaVersion"`
	MediaType     string              `json:"mediaType"`
	Manifests     []client.Descriptor `json:"manifests"`
}

func (l *layout) String() string { return layoutPrefix + l.dir }

func (l *layout) blobPath(d string) (string, error) {
	dg, err := digest.Parse(d)
	if err != nil {
		return "", fmt.Errorf("digest %q: %w", d, err)
	}
	return filepath.Join(l.dir, "blobs", dg.Algorithm().String(), dg.Encoded()), nil
}

func (l *layout) readIndex() (*layoutIndex, error) {
	b, err := os.ReadFile(filepath.Join(l.dir, "index.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return &layoutIndex{SchemaVersion: 2, MediaType: oci.MediaTypeImageIndex}, nil
	}
	if err != nil {
		return nil, err
	}
	var idx layoutIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s/index.json: %w", l.dir, err)
	}
	return &idx, nil
}

// find resolves ref in index.json: a tag, a digest, or "" when the layout holds exactly
// one entry.
func (l *layout) find(ref string) (client.Descriptor, error) {
	idx, err := l.readIndex()
	if err != nil {
		return client.Descriptor{}, err
	}
	var names []string
	for _, m := range idx.Manifests {
		name := m.Annotations[refNameAnnotation]
		if (ref == "" && len(idx.Manifests) == 1) || (ref != "" && (name == ref || m.Digest == ref)) {
			return m, nil
		}
		if name != "" {
			names = append(names, name)
		}
	}
	if ref == "" {
		return client.Descriptor{}, fmt.Errorf("%s holds %d images; name one with %s%s:TAG (tags: %s)", l.dir, len(idx.Manifests), layoutPrefix, l.dir, strings.Join(names, ", "))
	}
	return client.Descriptor{}, fmt.Errorf("%s has no image %q (tags: %s)", l.dir, ref, strings.Join(names, ", "))
}

func (l *layout) getManifest(_ context.Context, ref string) (client.Descriptor, []byte, error) {
	desc, err := l.find(ref)
	if err != nil && strings.HasPrefix(ref, "sha") {
		// A child of an index is in blobs/ but not in index.json.
		desc, err = client.Descriptor{Digest: ref}, nil
	}
	if err != nil {
		return desc, nil, err
	}
	p, err := l.blobPath(desc.Digest)
	if err != nil {
		return desc, nil, err
	}
	body, err := os.ReadFile(p)
	if err != nil {
		return desc, nil, fmt.Errorf("read manifest %s: %w", desc.Digest, err)
	}
	if digest.Digest(desc.Digest).Algorithm().FromBytes(body).String() != desc.Digest {
		return desc, nil, fmt.Errorf("%s: manifest %s does not match its digest", l.dir, desc.Digest)
	}
	m, err := oci.ParseManifest(desc.MediaType, body)
	if err != nil {
		return desc, nil, fmt.Errorf("%s: manifest %s: %w", l.dir, desc.Digest, err)
	}
	desc.MediaType, desc.Size = m.MediaType, int64(len(body))
	return desc, body, nil
}

func (l *layout) putManifest(ctx context.Context, ref string, desc client.Descriptor, body []byte, root bool) error {
	if err := l.putBlob(ctx, desc.Digest, int64(len(body)), strings.NewReader(string(body))); err != nil {
		return err
	}
	if !root {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	idx, err := l.readIndex()
	if err != nil {
		return err
	}
	entry := client.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: int64(len(body)), ArtifactType: desc.ArtifactType}
	if ref != desc.Digest {
		entry.Annotations = map[string]string{refNameAnnotation: ref}
	}
	kept := idx.Manifests[:0]
	for _, m := range idx.Manifests {
		name := m.Annotations[refNameAnnotation]
		if (ref != desc.Digest && name == ref) || (name == "" && m.Digest == desc.Digest) {
			continue
		}
		kept = append(kept, m)
	}
	idx.Manifests = append(kept, entry)
	b, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(l.dir, "index.json"), b)
}

func (l *layout) hasBlob(_ context.Context, d string) bool {
	p, err := l.blobPath(d)
	if err != nil {
		return false
	}
	_, err = os.Stat(p)
	return err == nil
}

func (l *layout) getBlob(_ context.Context, d string) (io.ReadCloser, int64, error) {
	p, err := l.blobPath(d)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: blob %s: %w", l.dir, d, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// putBlob writes the blob; it takes its name only once size and digest are verified.
func (l *layout) putBlob(_ context.Context, d string, size int64, r io.Reader) error {
	if err := l.init(); err != nil {
		return err
	}
	p, err := l.blobPath(d)
	if err != nil {
		return err
	}
	v := digest.Digest(d).Verifier()
	_, err = atomicfile.Write(p, io.TeeReader(r, v), func(n int64) error {
		if n != size || !v.Verified() {
			return fmt.Errorf("blob %s: received %d bytes that do not match the digest and size %d", d, n, size)
		}
		return nil
	})
	return err
}

// referrers scans the layout's entry points for manifests whose subject is d; a layout
// keeps no other referrers index.
func (l *layout) referrers(ctx context.Context, d string) ([]client.Descriptor, error) {
	idx, err := l.readIndex()
	if err != nil {
		return nil, err
	}
	var out []client.Descriptor
	for _, m := range idx.Manifests {
		_, body, err := l.getManifest(ctx, m.Digest)
		if err != nil {
			return nil, err
		}
		pm, err := oci.ParseManifest(m.MediaType, body)
		if err != nil {
			return nil, err
		}
		if pm.Subject != nil && pm.Subject.Digest.String() == d {
			out = append(out, m)
		}
	}
	return out, nil
}

// init creates the layout's marker file on first write.
func (l *layout) init() error {
	marker := filepath.Join(l.dir, "oci-layout")
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return err
	}
	return writeFileAtomic(marker, []byte(`{"imageLayoutVersion":"1.0.0"}`))
}

func writeFileAtomic(path string, b []byte) error {
	_, err := atomicfile.Write(path, bytes.NewReader(b), nil)
	return err
}
