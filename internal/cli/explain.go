package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"

	"github.com/berth-registry/berth/client"
)

// explain turns a client error into one sentence that says what went wrong and, once,
// what to do about it.
func (e *env) explain(err error, what string) error {
	var (
		ae  *client.AuthError
		ce  *client.Error
		uae x509.UnknownAuthorityError
	)
	hint := ""
	switch {
	case errors.As(err, &ae):
		switch {
		case ae.Refused && e.username != "":
			hint = "check --username and --password"
		case ae.Refused:
			hint = "the password `berth login` stored for it is no longer accepted: log in again with `berth login " + ae.Host + "`"
		case ae.User == "":
			hint = "log in with `berth login " + ae.Host + "`"
		}
	case errors.As(err, &ce):
		switch ce.Status {
		case http.StatusForbidden:
			hint = "the registry denies this to these credentials"
			if strings.Contains(ce.Message, "quota") {
				// Berth's DENIED for a full namespace: credentials are not the problem.
				hint = "the quota is used up: delete what is no longer needed, or ask for more (berth usage shows it)"
			}
		case http.StatusNotFound:
			hint = "check the repository and reference"
		case http.StatusTooManyRequests:
			hint = "rate limited: try again later"
		}
	case errors.Is(err, http.ErrSchemeMismatch):
		hint = "the registry speaks plain HTTP: pass --plain-http, or set BERTH_PLAIN_HTTP to its host[:port]"
	case errors.As(err, &uae):
		hint = "its certificate is signed by no authority this machine trusts: add the CA to the system's store, or name it with SSL_CERT_FILE"
	case errors.Is(err, syscall.ECONNREFUSED):
		hint = "is a registry listening there?"
	}
	if hint == "" {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w; %s", what, err, hint)
}

// refString spells a reference the way it would be typed: REPO:TAG or REPO@DIGEST.
func refString(repo client.Repository, ref string) string {
	if isDigest(ref) {
		return repo.String() + "@" + ref
	}
	return repo.String() + ":" + ref
}

// rejectedContent reports whether the registry refused a blob's bytes as not matching
// its digest or size.
func rejectedContent(err error) bool {
	var ce *client.Error
	return errors.As(err, &ce) && (slices.Contains(ce.Codes, "DIGEST_INVALID") || slices.Contains(ce.Codes, "SIZE_INVALID"))
}
