package metadata

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// Referrer is one manifest whose subject is a given digest.
type Referrer struct {
	Digest       digest.Digest
	MediaType    string
	Size         int64
	ArtifactType string // artifactType, or the config media type when that is empty
	Annotations  map[string]string
}

// Referrers answers the referrers API.
type Referrers interface {
	// Referrers lists the manifests in the repository whose subject is `subject`, ordered by
	// digest, after `after`; artifactType "" means all.
	Referrers(ctx context.Context, repo string, subject digest.Digest, artifactType string, after digest.Digest, limit int) ([]Referrer, error)
}
