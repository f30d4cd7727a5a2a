package oci

import (
	"encoding/json"
	"fmt"
)

// ImageConfig is what Berth extracts from an image config at push time, so that queries
// (the Flatpak index above all) never read blobs.
type ImageConfig struct {
	OS           string
	Architecture string
	Variant      string
	Labels       map[string]string
	// DiffIDs are rootfs.diff_ids: the digests of the layers uncompressed, in order (the
	// `from` and `to` of Flatpak image deltas). Not checked here.
	DiffIDs []string
}

// ParseImageConfig reads os, architecture, variant, config.Labels and rootfs.diff_ids,
// which Docker and OCI image configs share. Missing fields are empty.
func ParseImageConfig(body []byte) (ImageConfig, error) {
	var raw struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant"`
		Config       struct {
			Labels map[string]string `json:"Labels"`
		} `json:"config"`
		RootFS struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return ImageConfig{}, fmt.Errorf("parse image config: %w", err)
	}
	return ImageConfig{OS: raw.OS, Architecture: raw.Architecture, Variant: raw.Variant, Labels: raw.Config.Labels, DiffIDs: raw.RootFS.DiffIDs}, nil
}
