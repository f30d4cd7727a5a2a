// Package oci holds the pure rules of the OCI formats Berth speaks: repository names,
// tags, digests, byte ranges, media types, manifests and image configs. It does no I/O and
// imports nothing of Berth; every parser here reads untrusted input and is fuzzed.
package oci

import "regexp"

// maxNameLength is the longest repository name accepted, as in Distribution: the spec
// advises clients that longer names are often refused.
const maxNameLength = 255

var (
	nameRE = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	// The spec's [a-zA-Z0-9._-]{0,127}, with the bound checked apart: a counted
	// repetition compiles to 128 copies of the class, 100 KiB of heap for the process.
	tagRE = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]*$`)
)

// maxTagLength is the spec's bound on a tag.
const maxTagLength = 128

// ValidRepository reports whether name is a repository name of the OCI grammar.
func ValidRepository(name string) bool {
	return len(name) <= maxNameLength && nameRE.MatchString(name)
}

// ValidTag reports whether tag is a tag of the OCI grammar.
func ValidTag(tag string) bool {
	return len(tag) <= maxTagLength && tagRE.MatchString(tag)
}
