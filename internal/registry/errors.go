package registry

import "errors"

// Domain errors. Callers wrap them with context (fmt.Errorf("...: %w", ErrX)); the HTTP edge
// maps each to its OCI error code and status in one place.
var (
	ErrNameInvalid         = errors.New("invalid repository name")
	ErrNameUnknown         = errors.New("repository name not known to registry")
	ErrReferenceInvalid    = errors.New("invalid tag or digest")
	ErrDigestInvalid       = errors.New("provided digest did not match uploaded content")
	ErrBlobUnknown         = errors.New("blob unknown to registry")
	ErrUploadUnknown       = errors.New("blob upload unknown to registry")
	ErrUploadInvalid       = errors.New("blob upload invalid")
	ErrUploadOutOfOrder    = errors.New("chunk does not start where the upload ends")
	ErrManifestUnknown     = errors.New("manifest unknown to registry")
	ErrManifestInvalid     = errors.New("manifest invalid")
	ErrManifestBlobUnknown = errors.New("manifest references a blob unknown to the repository")
	ErrManifestTooLarge    = errors.New("manifest too large")
	ErrRangeUnsatisfiable  = errors.New("requested range not satisfiable")
	ErrPaginationInvalid   = errors.New("invalid pagination parameter")
	ErrUnsupported         = errors.New("the operation is unsupported")
	// ErrDenied refuses what the caller may do but the registry will not take: a push
	// over a quota, a write to a read-only pull-through cache.
	ErrDenied = errors.New("requested access to the resource is denied")
	// ErrUnavailable reports that content is not in the registry and the upstream
	// registry it would come from cannot be reached (pull-through cache).
	ErrUnavailable = errors.New("upstream registry unavailable")
	// ErrUpstreamLimited reports that the upstream registry refused with 429.
	ErrUpstreamLimited = errors.New("upstream registry rate limit reached")
	// ErrTagImmutable refuses to move or delete a tag an immutable rule protects.
	ErrTagImmutable = errors.New("tag is immutable")
)
