// Package httphdr parses the HTTP headers a registry client must read from untrusted
// servers: RFC 8288 Link and RFC 9110 WWW-Authenticate. Parsers are tolerant (registries
// in the wild quote, space and case things differently) and never panic.
package httphdr

import (
	"net/url"
	"strings"
)

// Link is one link-value of a Link header.
type Link struct {
	Target string            // the URI-Reference between < and >, percent-decoding left to the caller
	Params map[string]string // parameter names in lower case; "rel" holds the relation types
}

// Rels returns the link's relation types, lower-cased (rel may list several).
func (l Link) Rels() []string {
	return strings.Fields(strings.ToLower(l.Params["rel"]))
}

// HasRel reports whether the link has relation type rel.
func (l Link) HasRel(rel string) bool {
	for _, r := range l.Rels() {
		if r == strings.ToLower(rel) {
			return true
		}
	}
	return false
}

// ParseLinks parses every link-value of one or more Link header values. Malformed values
// are skipped, never fatal: a registry's odd header must not lose the good links in it.
func ParseLinks(headers []string) []Link {
	var links []Link
	for _, h := range headers {
		p := parser{s: h}
		for !p.done() {
			if l, ok := p.link(); ok {
				links = append(links, l)
			}
		}
	}
	return links
}

// NextLink returns the target of the first rel="next" link, or "".
func NextLink(headers []string) string {
	for _, l := range ParseLinks(headers) {
		if l.HasRel("next") {
			return l.Target
		}
	}
	return ""
}

type parser struct {
	s string
	i int
}

func (p *parser) done() bool { return p.i >= len(p.s) }

func (p *parser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

// skipTo advances past the next top-level c (outside quotes and angle brackets).
func (p *parser) skipTo(c byte) {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case '"':
			p.quoted()
			continue
		case c:
			p.i++
			return
		}
		p.i++
	}
}

// link reads `<target> *( ; param[=value] )` and the comma after it.
func (p *parser) link() (Link, bool) {
	p.skipSpace()
	if p.done() {
		return Link{}, false
	}
	if p.s[p.i] != '<' {
		p.skipTo(',')
		return Link{}, false
	}
	end := strings.IndexByte(p.s[p.i:], '>')
	if end < 0 {
		p.i = len(p.s)
		return Link{}, false
	}
	l := Link{Target: strings.TrimSpace(p.s[p.i+1 : p.i+end]), Params: map[string]string{}}
	p.i += end + 1
	for {
		p.skipSpace()
		if p.done() {
			return l, true
		}
		switch p.s[p.i] {
		case ',':
			p.i++
			return l, true
		case ';':
			p.i++
			p.param(l.Params)
		default:
			p.skipTo(',') // garbage after the target: keep what was read
			return l, true
		}
	}
}

func (p *parser) param(into map[string]string) {
	p.skipSpace()
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune("=;, \t", rune(p.s[p.i])) {
		p.i++
	}
	name := strings.ToLower(p.s[start:p.i])
	p.skipSpace()
	value := ""
	if p.i < len(p.s) && p.s[p.i] == '=' {
		p.i++
		p.skipSpace()
		if p.i < len(p.s) && p.s[p.i] == '"' {
			value = p.quoted()
		} else {
			start := p.i
			for p.i < len(p.s) && !strings.ContainsRune(";, \t", rune(p.s[p.i])) {
				p.i++
			}
			value = p.s[start:p.i]
		}
	}
	if name != "" {
		if _, dup := into[name]; !dup { // RFC 8288: the first occurrence wins
			into[name] = value
		}
	}
}

// quoted reads a quoted-string at p.i, unescaping backslash pairs.
func (p *parser) quoted() string {
	var b strings.Builder
	p.i++ // opening quote
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\' && p.i < len(p.s):
			b.WriteByte(p.s[p.i])
			p.i++
		case c == '"':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// ResolveTarget resolves a link target against the URL of the response that carried it.
func ResolveTarget(base *url.URL, target string) (*url.URL, error) {
	ref, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	return base.ResolveReference(ref), nil
}
