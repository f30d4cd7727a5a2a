package metadata

import (
	"context"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
)

// MissingError reports that a manifest refers to content that is not in the repository.
// Kind is "blob" for a config or layer, "manifest" for a child of an index.
type MissingError struct {
	Kind   string
	Digest digest.Digest
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s %s not in repository", e.Kind, e.Digest)
}

// Manifest is a stored manifest with the facts extracted from it (and from its image
// config) at push time. Payload is the exact byte sequence that was pushed.
type Manifest struct {
	Digest          digest.Digest
	MediaType       string
	ArtifactType    string        // the manifest's artifactType field, "" if none
	ConfigDigest    digest.Digest // "" for indexes
	ConfigMediaType string
	Subject         digest.Digest // "" when the manifest has no subject
	OS              string        // from the image config; "" when not an image
	Architecture    string
	Variant         string
	Labels          map[string]string // the image config's config.Labels
	Annotations     map[string]string // the manifest's annotations
	Payload         []byte
	CreatedAt       time.Time
	// App is what the labels of a Flatpak image tell about the app it carries (stored
	// with the manifest, so never out of step with it); nil for other manifests.
	App *App

	// Blobs are the digests of the config and layers that must already be linked to the
	// repository; non-distributable layers and the subject are not listed.
	Blobs []digest.Digest
	// Children are the digests of the manifests an index refers to; each must already be
	// stored in the repository.
	Children []digest.Digest
}

// Manifests stores, reads and deletes manifests (push and pull by digest).
type Manifests interface {
	// PutManifest stores the manifest in the repository (a no-op for the row if the same
	// digest is already there) and points each tag at it, atomically. It fails with a
	// *MissingError if a blob or child manifest is absent from the repository.
	PutManifest(ctx context.Context, repo string, m *Manifest, tags []string) error
	// Manifest returns the manifest with that digest in the repository, or ErrNotFound.
	Manifest(ctx context.Context, repo string, d digest.Digest) (*Manifest, error)
	// DeleteManifest removes the manifest and every tag pointing to it; ErrNotFound if absent.
	DeleteManifest(ctx context.Context, repo string, d digest.Digest) error
}
