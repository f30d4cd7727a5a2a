package httphdr

import "strings"

// Challenge is one authentication challenge of a WWW-Authenticate header.
type Challenge struct {
	Scheme string            // lower case: "bearer", "basic"
	Params map[string]string // names in lower case: realm, service, scope, error, ...
}

// ParseChallenges parses WWW-Authenticate values: `Scheme k=v, k="v", Scheme2 ...`. A
// new challenge starts at a token that is not followed by '='.
func ParseChallenges(headers []string) []Challenge {
	var out []Challenge
	for _, h := range headers {
		p := parser{s: h}
		var cur *Challenge
		for !p.done() {
			p.skipSpace()
			if p.done() {
				break
			}
			if p.s[p.i] == ',' {
				p.i++
				continue
			}
			start := p.i
			for p.i < len(p.s) && !strings.ContainsRune("=, \t\"", rune(p.s[p.i])) {
				p.i++
			}
			token := p.s[start:p.i]
			if token == "" { // a stray quoted string or '=': skip it and the value after it
				if p.s[p.i] == '"' {
					p.quoted()
				} else {
					p.i++
					p.skipValue()
				}
				continue
			}
			p.skipSpace()
			if p.i < len(p.s) && p.s[p.i] == '=' && cur != nil {
				p.i++
				p.skipSpace()
				var value string
				if p.i < len(p.s) && p.s[p.i] == '"' {
					value = p.quoted()
				} else {
					vs := p.i
					for p.i < len(p.s) && !strings.ContainsRune(", \t", rune(p.s[p.i])) {
						p.i++
					}
					value = p.s[vs:p.i]
				}
				name := strings.ToLower(token)
				if _, dup := cur.Params[name]; !dup {
					cur.Params[name] = value
				}
				continue
			}
			if p.i < len(p.s) && p.s[p.i] == '=' { // parameter before any scheme
				p.i++
				p.skipValue()
				continue
			}
			out = append(out, Challenge{Scheme: strings.ToLower(token), Params: map[string]string{}})
			cur = &out[len(out)-1]
		}
	}
	return out
}

// skipValue passes over a token or quoted-string value.
func (p *parser) skipValue() {
	p.skipSpace()
	if p.i < len(p.s) && p.s[p.i] == '"' {
		p.quoted()
		return
	}
	for p.i < len(p.s) && !strings.ContainsRune(", \t", rune(p.s[p.i])) {
		p.i++
	}
}
