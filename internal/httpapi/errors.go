package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/berth-registry/berth/internal/registry"
)

// Errors of the HTTP edge itself, before the service is reached.
var (
	// ErrTooManyRequests refuses a request over a rate or concurrency limit.
	ErrTooManyRequests  = errors.New("too many requests; retry later")
	errNotFound         = errors.New("no such endpoint")
	errMethodNotAllowed = errors.New("method not allowed on this endpoint")
	errBadRequest       = errors.New("bad request")
	errOverrideDenied   = errors.New("requested access to the resource is denied: overriding an immutable tag needs the admin right (auth.admins)")
)

// errorMapping is the one place where domain errors become OCI error codes and statuses;
// the first entry the error matches wins.
var errorMapping = []struct {
	err    error
	status int
	code   string
}{
	{registry.ErrNameInvalid, http.StatusBadRequest, "NAME_INVALID"},
	{registry.ErrNameUnknown, http.StatusNotFound, "NAME_UNKNOWN"},
	{registry.ErrDigestInvalid, http.StatusBadRequest, "DIGEST_INVALID"},
	// A tag that cannot exist is unknown to a lookup; a push wraps it as MANIFEST_INVALID.
	{registry.ErrReferenceInvalid, http.StatusNotFound, "MANIFEST_UNKNOWN"},
	{registry.ErrBlobUnknown, http.StatusNotFound, "BLOB_UNKNOWN"},
	{registry.ErrUploadUnknown, http.StatusNotFound, "BLOB_UPLOAD_UNKNOWN"},
	{registry.ErrUploadOutOfOrder, http.StatusRequestedRangeNotSatisfiable, "BLOB_UPLOAD_INVALID"},
	{registry.ErrUploadInvalid, http.StatusBadRequest, "BLOB_UPLOAD_INVALID"},
	{registry.ErrManifestUnknown, http.StatusNotFound, "MANIFEST_UNKNOWN"},
	{registry.ErrManifestBlobUnknown, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN"},
	{registry.ErrManifestTooLarge, http.StatusRequestEntityTooLarge, "SIZE_INVALID"},
	{registry.ErrManifestInvalid, http.StatusBadRequest, "MANIFEST_INVALID"},
	{registry.ErrRangeUnsatisfiable, http.StatusRequestedRangeNotSatisfiable, "SIZE_INVALID"},
	{registry.ErrPaginationInvalid, http.StatusBadRequest, "UNSUPPORTED"},
	{registry.ErrUnsupported, http.StatusMethodNotAllowed, "UNSUPPORTED"},
	{registry.ErrDenied, http.StatusForbidden, "DENIED"},
	// Not a code of the spec's list: Distribution's for the same case (errcode.ErrorCodeUnavailable).
	{registry.ErrUnavailable, http.StatusServiceUnavailable, "UNAVAILABLE"},
	{registry.ErrUpstreamLimited, http.StatusTooManyRequests, "TOOMANYREQUESTS"},
	// An immutable tag conflicts with the state of the tag, not with the caller's rights:
	// 409 (a 403 would send users to check their credentials), with the spec's DENIED.
	{registry.ErrTagImmutable, http.StatusConflict, "DENIED"},
	{errOverrideDenied, http.StatusForbidden, "DENIED"},
	{errMethodNotAllowed, http.StatusMethodNotAllowed, "UNSUPPORTED"},
	// A /v2/ path that addresses nothing is 404, as in Distribution, but the body still
	// carries a code of the spec's list: UNSUPPORTED ("missing implementation") is the
	// one that is true of a path Berth does not serve (an extension, a newer API), while
	// NAME_UNKNOWN, MANIFEST_UNKNOWN or BLOB_UNKNOWN would claim that something was looked
	// up and found missing.
	{errNotFound, http.StatusNotFound, "UNSUPPORTED"},
	{ErrTooManyRequests, http.StatusTooManyRequests, "TOOMANYREQUESTS"},
	{errUnauthorized, http.StatusUnauthorized, "UNAUTHORIZED"},
	{errBadRequest, http.StatusBadRequest, "UNSUPPORTED"},
	// The client's body broke off (a stall past the idle timeout, a cut connection): the
	// upload session stays at its last acknowledged offset, and the client may resume.
	// Last, so that a manifest's broken body is MANIFEST_INVALID.
	{errRequestBody, http.StatusBadRequest, "BLOB_UPLOAD_INVALID"},
}

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

// writeError answers with the OCI error JSON for err. An error that maps to no code is a
// bug or an infrastructure failure: 500, logged with its whole chain, and a message that
// reveals nothing of it.
func (a *API) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, msg := http.StatusInternalServerError, "UNKNOWN", "internal server error"
	for _, m := range errorMapping {
		if errors.Is(err, m.err) {
			status, code, msg = m.status, m.code, err.Error()
			break
		}
	}
	if status == http.StatusInternalServerError {
		a.log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	body, _ := json.Marshal(errorBody{Errors: []errorEntry{{Code: code, Message: msg}}})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Del("Docker-Content-Digest")
	if status == http.StatusTooManyRequests && h.Get("Retry-After") == "" {
		// An upstream's limit (pull-through cache): its own Retry-After does not reach
		// here, and a client retrying at once would only meet it again.
		h.Set("Retry-After", "30")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// WriteTooManyRequests answers 429 TOOMANYREQUESTS with Retry-After in whole seconds, for
// limits enforced in front of the API.
func WriteTooManyRequests(w http.ResponseWriter, r *http.Request, retryAfter time.Duration) {
	w.Header().Set("Retry-After", strconv.Itoa(int(max(retryAfter, time.Second)/time.Second)))
	(&API{log: slog.New(slog.DiscardHandler)}).writeError(w, r, ErrTooManyRequests)
}
