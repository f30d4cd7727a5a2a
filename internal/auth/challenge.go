package auth

import "strings"

// Error codes of a Bearer challenge (RFC 6750 §3.1).
const (
	// ChallengeInvalidToken: the token is malformed, expired or not trusted.
	ChallengeInvalidToken = "invalid_token"
	// ChallengeInsufficientScope: the token is valid but does not grant the action;
	// clients fetch a new token for the scope in the challenge and retry once.
	ChallengeInsufficientScope = "insufficient_scope"
)

// Challenge builds a WWW-Authenticate value, e.g.
//
//	Bearer realm="https://r.example/token",service="r.example",scope="repository:a/b:pull",error="insufficient_scope"
//
// Empty service, scope and errCode are left out. Several scopes are joined by spaces in
// the one scope parameter. Values are quoted-strings, with '"' and '\' escaped and
// control characters dropped, so nothing taken from a request can break the header.
func Challenge(realm, service, scope, errCode string) string {
	var b strings.Builder
	b.WriteString("Bearer ")
	param(&b, "realm", realm)
	for _, p := range [][2]string{{"service", service}, {"scope", scope}, {"error", errCode}} {
		if p[1] != "" {
			b.WriteByte(',')
			param(&b, p[0], p[1])
		}
	}
	return b.String()
}

// BasicChallenge is the WWW-Authenticate value asking for Basic credentials, as the
// token endpoint answers a wrong password and a registry without tokens answers
// anonymous requests.
func BasicChallenge(realm string) string {
	var b strings.Builder
	b.WriteString("Basic ")
	param(&b, "realm", realm)
	b.WriteString(`,charset="UTF-8"`)
	return b.String()
}

func param(b *strings.Builder, name, value string) {
	b.WriteString(name)
	b.WriteString(`="`)
	for i := 0; i < len(value); i++ {
		c := value[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < ' ' && c != '\t' || c == 0x7f:
			// Dropped: a CR or LF would end the header.
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
}
