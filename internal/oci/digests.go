package oci

import (
	_ "crypto/sha256" // registers sha256 with go-digest
	_ "crypto/sha512" // registers sha512 with go-digest
	"errors"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// ErrDigestInvalid reports a malformed digest.
var ErrDigestInvalid = errors.New("invalid digest")

// ErrDigestUnsupported reports a well-formed digest of an algorithm Berth does not
// implement (anything but sha256 and sha512).
var ErrDigestUnsupported = errors.New("unsupported digest algorithm")

// ParseDigest parses a sha256 or sha512 digest in its canonical form (lowercase hex of
// the algorithm's length).
func ParseDigest(s string) (digest.Digest, error) {
	alg, hex, ok := strings.Cut(s, ":")
	if !ok || alg == "" || hex == "" {
		return "", fmt.Errorf("%w: %q", ErrDigestInvalid, s)
	}
	a, err := ParseAlgorithm(alg)
	if err != nil {
		if !validAlgorithmSyntax(alg) {
			return "", fmt.Errorf("%w: %q", ErrDigestInvalid, s)
		}
		return "", err
	}
	d := digest.NewDigestFromEncoded(a, hex)
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("%w: %q", ErrDigestInvalid, s)
	}
	return d, nil
}

// ParseAlgorithm accepts the algorithms Berth implements: sha256 and sha512.
func ParseAlgorithm(s string) (digest.Algorithm, error) {
	switch a := digest.Algorithm(s); a {
	case digest.SHA256, digest.SHA512:
		return a, nil
	}
	return "", fmt.Errorf("%w: %q", ErrDigestUnsupported, s)
}

// validAlgorithmSyntax follows the spec's grammar for algorithm names:
// [a-z0-9]+([+._-][a-z0-9]+)*
func validAlgorithmSyntax(s string) bool {
	prevSep := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
			prevSep = false
		case c == '+' || c == '.' || c == '_' || c == '-':
			if prevSep {
				return false
			}
			prevSep = true
		default:
			return false
		}
	}
	return !prevSep
}
