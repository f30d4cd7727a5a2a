package appstream

import (
	"regexp"
	"strings"
)

// Ref is a parsed org.flatpak.ref: kind/id/arch/branch.
type Ref struct{ Kind, ID, Arch, Branch string }

var (
	idPattern  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)+$`)
	refPart    = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
	maxRefPart = 255
)

// ValidID reports whether s is a Flatpak application or runtime id.
func ValidID(s string) bool { return len(s) <= maxRefPart && idPattern.MatchString(s) }

// ParseRef reads an org.flatpak.ref label. Every part is checked against the characters
// Flatpak allows, because refs end up in key files, commands and web pages.
func ParseRef(s string) (Ref, bool) {
	p := strings.Split(s, "/")
	if len(p) != 4 || (p[0] != "app" && p[0] != "runtime") || !ValidID(p[1]) ||
		len(p[2]) > maxRefPart || !refPart.MatchString(p[2]) || len(p[3]) > maxRefPart || !refPart.MatchString(p[3]) {
		return Ref{}, false
	}
	return Ref{p[0], p[1], p[2], p[3]}, true
}

// String is the ref as Flatpak writes it.
func (r Ref) String() string { return r.Kind + "/" + r.ID + "/" + r.Arch + "/" + r.Branch }

// runtimeOf reads runtime= of the [Application] group of an org.flatpak.metadata key
// file: the runtime an app needs (id/arch/branch), or "" when there is none that parses.
func runtimeOf(keyfile string) string {
	group := ""
	for line := range strings.Lines(keyfile) {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			group = line[1 : len(line)-1]
		case group == "Application":
			k, v, ok := strings.Cut(line, "=")
			if !ok || strings.TrimSpace(k) != "runtime" {
				continue
			}
			v = strings.TrimSpace(v)
			if p := strings.Split(v, "/"); len(p) == 3 && ValidID(p[0]) && refPart.MatchString(p[1]) && refPart.MatchString(p[2]) {
				return v
			}
			return ""
		}
	}
	return ""
}
