package oci

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/opencontainers/go-digest"
)

// ErrManifestInvalid reports a manifest Berth must refuse.
var ErrManifestInvalid = errors.New("invalid manifest")

// Platform is the platform of an index entry.
type Platform struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Variant      string `json:"variant,omitempty"`
}

// Descriptor points to content by digest.
type Descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       digest.Digest     `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     *Platform         `json:"platform,omitempty"`
	URLs         []string          `json:"urls,omitempty"`
}

// Manifest is a parsed image manifest or index (OCI or Docker schema 2).
type Manifest struct {
	// MediaType is the effective media type: the Content-Type it was pushed with when
	// that is a manifest type, else the one it declares or implies.
	MediaType    string
	ArtifactType string
	Config       *Descriptor // nil for indexes
	Layers       []Descriptor
	Manifests    []Descriptor
	Subject      *Descriptor
	Annotations  map[string]string
}

// IsIndex reports whether the manifest is an image list.
func (m *Manifest) IsIndex() bool { return IsIndexMediaType(m.MediaType) }

// rawManifest is the union of the manifest and index JSON shapes.
type rawManifest struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *Descriptor       `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Manifests     []Descriptor      `json:"manifests"`
	Subject       *Descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrManifestInvalid, fmt.Sprintf(format, args...))
}

// ParseManifest parses and validates a pushed manifest. contentType is the request's
// Content-Type (parameters are ignored).
func ParseManifest(contentType string, body []byte) (*Manifest, error) {
	var raw rawManifest
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, invalid("not a JSON manifest: %v", err)
	}
	ct, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		ct = ""
	}
	mt, err := effectiveMediaType(ct, &raw)
	if err != nil {
		return nil, err
	}
	if raw.SchemaVersion == nil {
		if strings.HasPrefix(mt, "application/vnd.docker.") {
			return nil, invalid("schemaVersion missing")
		}
	} else if *raw.SchemaVersion != 2 {
		return nil, invalid("schemaVersion %d is not supported", *raw.SchemaVersion)
	}
	m := &Manifest{
		MediaType:    mt,
		ArtifactType: raw.ArtifactType,
		Layers:       raw.Layers,
		Manifests:    raw.Manifests,
		Subject:      raw.Subject,
		Annotations:  raw.Annotations,
	}
	if IsIndexMediaType(mt) {
		if raw.Config != nil || raw.Layers != nil {
			return nil, invalid("an index has no config or layers")
		}
		for i := range m.Manifests {
			if err := checkDescriptor("manifests", &m.Manifests[i]); err != nil {
				return nil, err
			}
		}
	} else {
		if raw.Config == nil {
			return nil, invalid("config missing")
		}
		if raw.Manifests != nil {
			return nil, invalid("an image manifest has no manifests list")
		}
		m.Config = raw.Config
		if err := checkDescriptor("config", m.Config); err != nil {
			return nil, err
		}
		for i := range m.Layers {
			if err := checkDescriptor("layers", &m.Layers[i]); err != nil {
				return nil, err
			}
		}
	}
	if m.Subject != nil {
		if err := checkDescriptor("subject", m.Subject); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// effectiveMediaType decides what a manifest is. A known Content-Type must agree with
// the mediaType the body declares (the spec requires them to match).
func effectiveMediaType(ct string, raw *rawManifest) (string, error) {
	if IsManifestMediaType(ct) {
		if raw.MediaType != "" && raw.MediaType != ct {
			return "", invalid("mediaType %q does not match Content-Type %q", raw.MediaType, ct)
		}
		return ct, nil
	}
	switch {
	case IsManifestMediaType(raw.MediaType):
		return raw.MediaType, nil
	case raw.MediaType != "":
		return "", invalid("unsupported manifest media type %q", raw.MediaType)
	case raw.Manifests != nil:
		return MediaTypeImageIndex, nil
	case raw.Config != nil:
		return MediaTypeImageManifest, nil
	}
	return "", invalid("cannot tell the manifest's media type (Content-Type %q)", ct)
}

func checkDescriptor(field string, d *Descriptor) error {
	if d.MediaType == "" {
		return invalid("%s: descriptor without mediaType", field)
	}
	if _, err := ParseDigest(string(d.Digest)); err != nil {
		return invalid("%s: %v", field, err)
	}
	if d.Size < 0 {
		return invalid("%s: negative size %d", field, d.Size)
	}
	return nil
}
