package oci

import "strings"

// Media types of the manifests, configs and layers Berth treats specially.
const (
	MediaTypeImageManifest      = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeImageIndex         = "application/vnd.oci.image.index.v1+json"
	MediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	MediaTypeEmpty              = "application/vnd.oci.empty.v1+json"
	MediaTypeImageConfig        = "application/vnd.oci.image.config.v1+json"
	MediaTypeDockerConfig       = "application/vnd.docker.container.image.v1+json"
	MediaTypeDockerForeignLayer = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
	mediaTypeNonDistributable   = "application/vnd.oci.image.layer.nondistributable.v1.tar"
)

// IsIndexMediaType reports whether mt is an image list: an OCI index or a Docker
// manifest list.
func IsIndexMediaType(mt string) bool {
	return mt == MediaTypeImageIndex || mt == MediaTypeDockerManifestList
}

// IsManifestMediaType reports whether mt is one of the manifest types Berth accepts.
func IsManifestMediaType(mt string) bool {
	switch mt {
	case MediaTypeImageManifest, MediaTypeImageIndex, MediaTypeDockerManifest, MediaTypeDockerManifestList:
		return true
	}
	return false
}

// IsNonDistributable reports whether a layer of this media type lives outside the
// registry (OCI non-distributable or Docker foreign layers): a manifest may refer to it
// without the registry holding it.
func IsNonDistributable(mediaType string) bool {
	return strings.HasPrefix(mediaType, mediaTypeNonDistributable) || mediaType == MediaTypeDockerForeignLayer
}
