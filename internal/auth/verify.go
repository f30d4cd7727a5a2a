package auth

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ErrInvalidToken is returned for a token that is malformed, forged, expired, not yet
// valid, or from an issuer, audience or key that is not trusted. The HTTP layer answers
// it with error="invalid_token".
var ErrInvalidToken = errors.New("invalid token")

// clockSkew is how far the clocks of an issuer and Berth may disagree on exp, nbf, iat.
const clockSkew = 30 * time.Second

// maxTokenLen bounds a token before it is parsed; 64 scopes of long names fit easily.
const maxTokenLen = 64 << 10

// verifyMethods are the algorithms a trusted issuer may sign with. Each key further
// restricts them to its own family and curve (algFits); none, HS* and EdDSA never pass.
func verifyMethods() []string {
	return []string{"ES256", "ES384", "ES512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
}

// Trust describes one issuer whose tokens a Verifier accepts. Keys come from any of
// PublicKeys, JWKS and JWKSURL.
type Trust struct {
	Issuer     string             // the iss claim
	Audience   string             // the aud claim the tokens must carry
	PublicKeys []crypto.PublicKey // ECDSA or RSA keys; kid is their RFC 7638 thumbprint
	JWKS       []byte             // a JSON Web Key Set document
	JWKSURL    string             // a JSON Web Key Set fetched on demand and cached
	Client     *http.Client       // for JWKSURL; nil means one with a 10s timeout
}

type trusted struct {
	static []verKey
	remote *remoteJWKS
	parser *jwt.Parser
}

// Verifier checks access tokens of the trusted issuers. Safe for concurrent use.
type Verifier struct {
	trusts map[string]*trusted // by issuer
	now    func() time.Time
}

// NewVerifier returns a Verifier accepting tokens of each trusted issuer.
func NewVerifier(trusts ...Trust) (*Verifier, error) {
	v := &Verifier{trusts: map[string]*trusted{}, now: time.Now}
	for _, t := range trusts {
		if t.Issuer == "" || t.Audience == "" {
			return nil, errors.New("trusted issuer: issuer and audience are required")
		}
		if v.trusts[t.Issuer] != nil {
			return nil, fmt.Errorf("issuer %q is trusted twice", t.Issuer)
		}
		tr := &trusted{parser: jwt.NewParser(
			jwt.WithValidMethods(verifyMethods()),
			jwt.WithIssuer(t.Issuer),
			jwt.WithAudience(t.Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(clockSkew),
			jwt.WithTimeFunc(func() time.Time { return v.now() }),
		)}
		for _, k := range t.PublicKeys {
			if err := checkPublicKey(k); err != nil {
				return nil, fmt.Errorf("issuer %q: %w", t.Issuer, err)
			}
			kid, err := KeyID(k)
			if err != nil {
				return nil, err
			}
			tr.static = append(tr.static, verKey{kid: kid, key: k})
		}
		if t.JWKS != nil {
			keys, err := parseJWKS(t.JWKS)
			if err != nil {
				return nil, fmt.Errorf("issuer %q: %w", t.Issuer, err)
			}
			tr.static = append(tr.static, keys...)
		}
		if t.JWKSURL != "" {
			r, err := newRemoteJWKS(t.JWKSURL, t.Client, func() time.Time { return v.now() })
			if err != nil {
				return nil, fmt.Errorf("issuer %q: %w", t.Issuer, err)
			}
			tr.remote = r
		}
		if tr.static == nil && tr.remote == nil {
			return nil, fmt.Errorf("issuer %q: no keys", t.Issuer)
		}
		v.trusts[t.Issuer] = tr
	}
	return v, nil
}

// Verify checks token's signature, issuer, audience and times, and returns its claims.
// Every failure wraps ErrInvalidToken. ctx bounds a JWKS fetch, if one is needed.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if len(token) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: too long", ErrInvalidToken)
	}
	// The issuer decides which keys and audience apply, so read it first; nothing of
	// this unverified parse is trusted beyond choosing where to look.
	var peek jwt.RegisteredClaims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &peek); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	t := v.trusts[peek.Issuer]
	if t == nil {
		return Claims{}, fmt.Errorf("%w: issuer %q is not trusted", ErrInvalidToken, peek.Issuer)
	}
	var c Claims
	if _, err := t.parser.ParseWithClaims(token, &c, func(tok *jwt.Token) (any, error) {
		return t.keyFor(ctx, tok)
	}); err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return c, nil
}

// keyFor picks the keys a token may be verified with: those of its kid, else every
// trusted key (an issuer configured by PEM may name its keys in any format), each only
// if it fits the token's algorithm. Trying several keys is safe: each is trusted, and
// the signature must still verify with one of them.
func (t *trusted) keyFor(ctx context.Context, tok *jwt.Token) (any, error) {
	kid, _ := tok.Header["kid"].(string)
	keys := t.static
	if t.remote != nil {
		remote, err := t.remote.get(ctx, kid)
		if err != nil && keys == nil {
			return nil, err
		}
		keys = append(keys[:len(keys):len(keys)], remote...)
	}
	var candidates []verKey
	if kid != "" {
		for _, k := range keys {
			if k.kid == kid {
				candidates = append(candidates, k)
			}
		}
	}
	if len(candidates) == 0 {
		candidates = keys
	}
	alg := tok.Method.Alg()
	var set jwt.VerificationKeySet
	for _, k := range candidates {
		if algFits(alg, k.key) && (k.alg == "" || k.alg == alg) {
			set.Keys = append(set.Keys, k.key)
		}
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no trusted key %q for %s", kid, alg)
	}
	return set, nil
}
