package cli

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/oci"
)

// Local validation of what the user typed, with the rules the server applies
// (internal/oci), so a typo is named here instead of being sent and refused with a code,
// or worse, sent somewhere else: `catalog HOST/eco` used to ask HOST/eco/v2/_catalog.

// parseHost reads a registry host: HOST or HOST:PORT, a name or an IP address, nothing
// after it.
func parseHost(s string) (string, error) {
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		return "", fmt.Errorf("%q: write the registry without %s://, as %s (use --plain-http for a registry without TLS)", s, scheme, strings.TrimSuffix(rest, "/"))
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return "", fmt.Errorf("%q is not a registry host: a registry is HOST[:PORT], and %q after it is no part of one", s, s[i:])
	}
	if !validHost(s) {
		return "", fmt.Errorf("%q is not a registry host (HOST[:PORT], e.g. ghcr.io or 127.0.0.1:5000)", s)
	}
	return s, nil
}

func validHost(s string) bool {
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
	} else if strings.Contains(strings.Trim(s, "[]"), ":") && net.ParseIP(strings.Trim(s, "[]")) == nil {
		return false // a colon, but not host:port nor an IPv6 address
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return false
		}
	}
	host = strings.Trim(host, "[]")
	if host == "" {
		return false
	}
	if net.ParseIP(host) != nil {
		return true
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// parseRepository reads HOST/NAME. The first part must look like a host (a dot, a port,
// or localhost), as docker decides it: `library/alpine` names no registry.
func parseRepository(s string) (client.Repository, error) {
	host, name, ok := strings.Cut(s, "/")
	if !ok || name == "" {
		return client.Repository{}, fmt.Errorf("%q is not HOST/REPOSITORY (e.g. ghcr.io/owner/app or 127.0.0.1:5000/app)", s)
	}
	if !strings.ContainsAny(host, ".:[") && host != "localhost" {
		return client.Repository{}, fmt.Errorf("%q does not start with a registry host: %q has no dot or port; write e.g. docker.io/%s", s, host, s)
	}
	if _, err := parseHost(host); err != nil {
		return client.Repository{}, err
	}
	if !oci.ValidRepository(name) {
		return client.Repository{}, fmt.Errorf("%q is not a valid repository name: lowercase letters and digits, separated by '.', '_', '__', '-' or '/', at most 255 characters", name)
	}
	return client.Repository{Host: host, Name: name}, nil
}

// parseRef reads HOST/REPO[:TAG][@DIGEST]; ref defaults to "latest", and a digest wins
// over a tag given with it.
func parseRef(s string) (client.Repository, string, error) {
	name, ref := s, "latest"
	if i := strings.LastIndex(s, "@"); i >= 0 {
		name, ref = s[:i], s[i+1:]
		if err := checkDigest(ref); err != nil {
			return client.Repository{}, "", err
		}
		// HOST/REPO:TAG@DIGEST: the digest decides, the tag is only a reminder.
		if j := strings.LastIndex(name, ":"); j > strings.LastIndex(name, "/") {
			if err := checkTag(name[j+1:]); err != nil {
				return client.Repository{}, "", err
			}
			name = name[:j]
		}
	} else if i := strings.LastIndex(s, ":"); i > strings.LastIndex(s, "/") {
		name, ref = s[:i], s[i+1:]
		if err := checkTag(ref); err != nil {
			return client.Repository{}, "", err
		}
	}
	repo, err := parseRepository(name)
	return repo, ref, err
}

func checkTag(tag string) error {
	if !oci.ValidTag(tag) {
		return fmt.Errorf("%q is not a valid tag: up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'", tag)
	}
	return nil
}

func checkDigest(d string) error {
	_, err := oci.ParseDigest(d)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, oci.ErrDigestUnsupported):
		return fmt.Errorf("digest %q: only sha256 and sha512 are supported", d)
	case strings.HasPrefix(d, "sha256:"):
		return fmt.Errorf("%q is not a valid digest: sha256: is followed by 64 lowercase hex digits, here %d characters", d, len(d)-len("sha256:"))
	case strings.HasPrefix(d, "sha512:"):
		return fmt.Errorf("%q is not a valid digest: sha512: is followed by 128 lowercase hex digits, here %d characters", d, len(d)-len("sha512:"))
	}
	return fmt.Errorf("%q is not a valid digest (ALGORITHM:HEX, e.g. sha256: and 64 hex digits)", d)
}

// isDigest reports whether ref is a digest rather than a tag (tags have no colon).
func isDigest(ref string) bool { return strings.Contains(ref, ":") }
