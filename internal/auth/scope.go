package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Scope types of the Docker token spec.
const (
	TypeRepository = "repository"
	TypeRegistry   = "registry"
)

// Bounds on scopes from untrusted requests: a name is at most 255 bytes plus a host, and a
// client needs a scope or two per request (a cross-repository mount asks for two).
const (
	maxScopeLen = 1024
	maxScopes   = 64
)

// ErrScopeInvalid is returned for a scope that does not follow the Docker grammar.
var ErrScopeInvalid = errors.New("invalid scope")

// Scope is one resource scope of a token request or challenge:
// type[(class)]:name:action[,action...], e.g. repository:team/app:pull,push,
// repository(plugin):vieux/sshfs:pull or registry:catalog:*.
type Scope struct {
	Type    string   // repository, registry, or a type Berth grants nothing for
	Class   string   // e.g. plugin in repository(plugin); empty when absent
	Name    string   // may contain '/' and a host:port prefix
	Actions []string // without empty or repeated entries, in request order
}

// ParseScope parses one scope. The name may itself contain colons (host:port/name), so
// the scope is split on its first and last colon only. Action names are not checked
// against a list here: unknown ones are simply never granted.
func ParseScope(s string) (Scope, error) {
	if len(s) > maxScopeLen {
		return Scope{}, fmt.Errorf("%w: longer than %d bytes", ErrScopeInvalid, maxScopeLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return Scope{}, fmt.Errorf("%w %q: white space, control or non-ASCII character", ErrScopeInvalid, s)
		}
	}
	first, last := strings.IndexByte(s, ':'), strings.LastIndexByte(s, ':')
	if first < 0 || first == last {
		return Scope{}, fmt.Errorf("%w %q: want type:name:actions", ErrScopeInvalid, s)
	}
	sc := Scope{Type: s[:first], Name: s[first+1 : last]}
	if open := strings.IndexByte(sc.Type, '('); open >= 0 {
		class, ok := strings.CutSuffix(sc.Type[open+1:], ")")
		if !ok || !lowerAlnum(class) {
			return Scope{}, fmt.Errorf("%w %q: bad resource class", ErrScopeInvalid, s)
		}
		sc.Type, sc.Class = sc.Type[:open], class
	}
	if !lowerAlnum(sc.Type) {
		return Scope{}, fmt.Errorf("%w %q: bad resource type", ErrScopeInvalid, s)
	}
	if sc.Name == "" {
		return Scope{}, fmt.Errorf("%w %q: empty name", ErrScopeInvalid, s)
	}
	for _, a := range strings.Split(s[last+1:], ",") {
		if a == "" || slices.Contains(sc.Actions, a) {
			continue
		}
		if a != "*" && !lowerAlpha(a) {
			return Scope{}, fmt.Errorf("%w %q: bad action %q", ErrScopeInvalid, s, a)
		}
		sc.Actions = append(sc.Actions, a)
	}
	return sc, nil
}

// ParseScopes parses the scope parameters of a token request; each may hold several
// scopes separated by spaces (the OAuth2 form) and empty ones are skipped.
func ParseScopes(values []string) ([]Scope, error) {
	var out []Scope
	for _, v := range values {
		for _, f := range strings.Fields(v) {
			if len(out) == maxScopes {
				return nil, fmt.Errorf("%w: more than %d scopes", ErrScopeInvalid, maxScopes)
			}
			sc, err := ParseScope(f)
			if err != nil {
				return nil, err
			}
			out = append(out, sc)
		}
	}
	return out, nil
}

// String formats the scope as ParseScope reads it.
func (s Scope) String() string {
	t := s.Type
	if s.Class != "" {
		t += "(" + s.Class + ")"
	}
	return t + ":" + s.Name + ":" + strings.Join(s.Actions, ",")
}

func lowerAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		if !(s[i] >= 'a' && s[i] <= 'z' || s[i] >= '0' && s[i] <= '9') {
			return false
		}
	}
	return s != ""
}

func lowerAlpha(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return s != ""
}
