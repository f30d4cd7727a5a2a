package auth

import (
	"context"
	"crypto"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// signed signs claims with any method and key, with kid in the header when not empty:
// the tool for forging tokens.
func signed(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// validClaims are claims this test's issuer would write.
func validClaims(iss, aud string) jwt.MapClaims {
	now := time.Now().Unix()
	return jwt.MapClaims{"iss": iss, "sub": "alice", "aud": aud, "exp": now + 300, "nbf": now, "iat": now, "jti": "x",
		"access": []Access{{Type: "repository", Name: "team/app", Actions: []string{"pull", "push"}}}}
}

func TestVerifyOwnToken(t *testing.T) {
	iss := testIssuer(t)
	v, err := NewVerifier(iss.Trust())
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue("alice", []Access{
		{Type: "repository", Name: "team/app", Actions: []string{"pull", "push"}},
		{Type: "repository", Class: "plugin", Name: "p/q", Actions: []string{"pull"}},
		{Type: "registry", Name: "catalog", Actions: []string{"*"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "alice" || c.Issuer != "berth-test" || c.ID == "" || c.NotBefore == nil || c.IssuedAt == nil ||
		c.ExpiresAt.Sub(c.IssuedAt.Time) != 5*time.Minute || len(c.Audience) != 1 || c.Audience[0] != "registry.test" {
		t.Fatalf("claims = %+v", c)
	}
	allows := []struct {
		typ, name, action string
		want              bool
	}{
		{"repository", "team/app", "pull", true},
		{"repository", "team/app", "push", true},
		{"repository", "team/app", "delete", false},
		{"repository", "team/other", "pull", false},
		{"repository", "p/q", "pull", true},
		{"registry", "catalog", "*", true},
		{"registry", "team/app", "pull", false},
	}
	for _, a := range allows {
		if got := c.Allows(a.typ, a.name, a.action); got != a.want {
			t.Errorf("Allows(%s, %s, %s) = %v, want %v", a.typ, a.name, a.action, got, a.want)
		}
	}
	// The header names the key by its RFC 7638 thumbprint, and aud is one string.
	parts := strings.Split(tok, ".")
	var hdr, payload map[string]any
	b, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(b, &hdr)
	b, _ = base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(b, &payload)
	if hdr["alg"] != "ES256" || hdr["kid"] != iss.KeyID() {
		t.Fatalf("header = %v", hdr)
	}
	if payload["aud"] != "registry.test" {
		t.Fatalf("aud = %#v", payload["aud"])
	}
	// An anonymous token with nothing granted still carries "access": [].
	tok, _ = iss.Issue("", nil)
	b, _ = base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if !strings.Contains(string(b), `"access":[]`) {
		t.Fatalf("anonymous payload %s", b)
	}
}

// RFC 7638 §3.1's example key and thumbprint, so KeyID is the standard one.
func TestKeyIDIsRFC7638Thumbprint(t *testing.T) {
	n, _ := base64.RawURLEncoding.DecodeString("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw")
	k := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	id, err := KeyID(k)
	if err != nil || id != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("KeyID = %q, %v", id, err)
	}
}

func TestVerifyRejectsAdversarialTokens(t *testing.T) {
	iss := testIssuer(t)
	ownKey, kid := iss.key, iss.KeyID()
	v, err := NewVerifier(iss.Trust())
	if err != nil {
		t.Fatal(err)
	}
	other := newKey(t, elliptic.P256())
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, _ := x509.MarshalPKIXPublicKey(&ownKey.PublicKey)
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	rawPub, _ := ownKey.PublicKey.Bytes()
	good := func() jwt.MapClaims { return validClaims("berth-test", "registry.test") }
	with := func(k string, val any) jwt.MapClaims { c := good(); c[k] = val; return c }
	without := func(k string) jwt.MapClaims { c := good(); delete(c, k); return c }
	now := time.Now().Unix()

	expired := iss.nowShifted(t, -time.Hour)
	future := iss.nowShifted(t, time.Hour)
	refresh, _ := iss.issueRefresh("alice", []byte("hash"))
	valid := signed(t, jwt.SigningMethodES256, ownKey, kid, good())
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"berth-test","sub":"alice","aud":"registry.test","exp":9999999999,"access":[{"type":"repository","name":"x","actions":["*"]}]}`)) + "." + parts[2]

	tests := map[string]string{
		"expired":                  expired,
		"expired by hand":          signed(t, jwt.SigningMethodES256, ownKey, kid, with("exp", now-120)),
		"not yet valid":            future,
		"nbf in the future":        signed(t, jwt.SigningMethodES256, ownKey, kid, with("nbf", now+600)),
		"no exp":                   signed(t, jwt.SigningMethodES256, ownKey, kid, without("exp")),
		"forged payload":           tampered,
		"signature cut":            parts[0] + "." + parts[1] + ".",
		"alg none":                 signed(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, good()),
		"HS256 with PEM as secret": signed(t, jwt.SigningMethodHS256, pubPEM, kid, good()),
		"HS256 with DER as secret": signed(t, jwt.SigningMethodHS256, pubDER, kid, good()),
		"HS256 with point secret":  signed(t, jwt.SigningMethodHS256, rawPub, kid, good()),
		"wrong audience":           signed(t, jwt.SigningMethodES256, ownKey, kid, with("aud", "other.registry")),
		"no audience":              signed(t, jwt.SigningMethodES256, ownKey, kid, without("aud")),
		"wrong issuer":             signed(t, jwt.SigningMethodES256, ownKey, kid, with("iss", "evil")),
		"no issuer":                signed(t, jwt.SigningMethodES256, ownKey, kid, without("iss")),
		"wrong key, our kid":       signed(t, jwt.SigningMethodES256, other, kid, good()),
		"wrong key, no kid":        signed(t, jwt.SigningMethodES256, other, "", good()),
		"RS256 key, our kid":       signed(t, jwt.SigningMethodRS256, rsaKey, kid, good()),
		"ES384 on a P-256 key":     signed(t, jwt.SigningMethodES384, newKey(t, elliptic.P384()), kid, good()),
		"refresh token as access":  refresh,
		"garbage":                  "not.a.token",
		"empty":                    "",
		"too long":                 valid + strings.Repeat("A", maxTokenLen),
	}
	if _, err := v.Verify(context.Background(), valid); err != nil {
		t.Fatalf("the untampered token is refused: %v", err)
	}
	for name, tok := range tests {
		if c, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: accepted (%+v, %v)", name, c, err)
		}
	}
}

// nowShifted issues a token as if the clock were off by d.
func (i *Issuer) nowShifted(t *testing.T, d time.Duration) string {
	t.Helper()
	c := &fixedClock{time.Now().Add(d)}
	saved := i.now
	i.now = c.now
	defer func() { i.now = saved }()
	tok, err := i.Issue("alice", nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestVerifyToleratesClockSkew(t *testing.T) {
	iss := testIssuer(t)
	v, _ := NewVerifier(iss.Trust())
	for _, d := range []time.Duration{-5*time.Minute - 10*time.Second, 20 * time.Second} {
		if _, err := v.Verify(context.Background(), iss.nowShifted(t, d)); err != nil {
			t.Errorf("clock off by %s: %v", d, err)
		}
	}
}

func pemOf(t *testing.T, k crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestVerifyExternalIssuerPEM(t *testing.T) {
	ec := newKey(t, elliptic.P384())
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParsePublicKeysPEM(append(pemOf(t, &ec.PublicKey), pemOf(t, &rsaKey.PublicKey)...))
	if err != nil || len(keys) != 2 {
		t.Fatalf("ParsePublicKeysPEM: %d keys, %v", len(keys), err)
	}
	own := testIssuer(t)
	v, err := NewVerifier(own.Trust(), Trust{Issuer: "https://idp.example", Audience: "registry.test", PublicKeys: keys})
	if err != nil {
		t.Fatal(err)
	}
	good := validClaims("https://idp.example", "registry.test")
	for name, tok := range map[string]string{
		"ES384 foreign kid": signed(t, jwt.SigningMethodES384, ec, "key-2024", good),
		"RS256 no kid":      signed(t, jwt.SigningMethodRS256, rsaKey, "", good),
		"PS256":             signed(t, jwt.SigningMethodPS256, rsaKey, "", good),
	} {
		c, err := v.Verify(context.Background(), tok)
		if err != nil || !c.Allows("repository", "team/app", "push") {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, tok := range map[string]string{
		"our issuer, their key": signed(t, jwt.SigningMethodES384, ec, "", validClaims("berth-test", "registry.test")),
		"their issuer, our key": signed(t, jwt.SigningMethodES256, own.key, own.KeyID(), good),
		"their audience wrong":  signed(t, jwt.SigningMethodRS256, rsaKey, "", validClaims("https://idp.example", "x")),
		"HS256 with their key":  signed(t, jwt.SigningMethodHS256, pemOf(t, &rsaKey.PublicKey), "", good),
	} {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrInvalidToken) {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestNewVerifierRefusesBadTrust(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	own := testIssuer(t)
	tests := map[string][]Trust{
		"no audience":    {{Issuer: "a", PublicKeys: own.Trust().PublicKeys}},
		"no keys":        {{Issuer: "a", Audience: "b"}},
		"twice":          {own.Trust(), own.Trust()},
		"short RSA":      {{Issuer: "a", Audience: "b", PublicKeys: []crypto.PublicKey{&small.PublicKey}}},
		"http JWKS URL":  {{Issuer: "a", Audience: "b", JWKSURL: "http://idp.example/jwks"}},
		"bad JWKS":       {{Issuer: "a", Audience: "b", JWKS: []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)}},
		"not a JWKS URL": {{Issuer: "a", Audience: "b", JWKSURL: "ftp://idp.example/jwks"}},
	}
	for name, trusts := range tests {
		if _, err := NewVerifier(trusts...); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
