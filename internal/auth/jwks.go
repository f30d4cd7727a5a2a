package auth

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// maxJWKS bounds a key set read from a file or URL.
const maxJWKS = 1 << 20

// jwk is one JSON Web Key (RFC 7517) of the kinds a token may be signed with.
type jwk struct {
	Kty string `json:"kty"`
	Kid string `json:"kid,omitempty"`
	Use string `json:"use,omitempty"`
	Alg string `json:"alg,omitempty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Y   string `json:"y,omitempty"`
	N   string `json:"n,omitempty"`
	E   string `json:"e,omitempty"`
}

// verKey is a public key a token may be verified with, with its key ID and, when its
// JWK said so, the one algorithm it is for.
type verKey struct {
	kid string
	alg string
	key crypto.PublicKey
}

// b64 is the encoding of every binary JWK member.
func b64() *base64.Encoding { return base64.RawURLEncoding }

// curveByName returns the NIST curve of a JWK crv or Go curve name, or nil.
func curveByName(name string) elliptic.Curve {
	switch name {
	case "P-256":
		return elliptic.P256()
	case "P-384":
		return elliptic.P384()
	case "P-521":
		return elliptic.P521()
	}
	return nil
}

// toJWK returns the public JWK members of an ECDSA or RSA key.
func toJWK(k crypto.PublicKey) (jwk, error) {
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		raw, err := k.Bytes() // 0x04 || X || Y, fixed length as JWK wants
		if err != nil {
			return jwk{}, err
		}
		n := (len(raw) - 1) / 2
		return jwk{Kty: "EC", Crv: k.Curve.Params().Name, X: b64().EncodeToString(raw[1 : 1+n]), Y: b64().EncodeToString(raw[1+n:])}, nil
	case *rsa.PublicKey:
		return jwk{Kty: "RSA", N: b64().EncodeToString(k.N.Bytes()), E: b64().EncodeToString(big.NewInt(int64(k.E)).Bytes())}, nil
	}
	return jwk{}, fmt.Errorf("unsupported key type %T", k)
}

// KeyID returns the RFC 7638 JWK thumbprint of k (SHA-256, base64url): the kid Berth
// puts in its tokens' headers and JWKS. Unlike Docker's libtrust key IDs it is a
// standard that any JOSE library can compute and check.
func KeyID(k crypto.PublicKey) (string, error) {
	j, err := toJWK(k)
	if err != nil {
		return "", err
	}
	// The required members only, in lexicographic order, no white space (RFC 7638 §3).
	var canon string
	if j.Kty == "EC" {
		canon = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, j.Crv, j.X, j.Y)
	} else {
		canon = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, j.E, j.N)
	}
	sum := sha256.Sum256([]byte(canon))
	return b64().EncodeToString(sum[:]), nil
}

// checkPublicKey accepts the key types and sizes Berth verifies with.
func checkPublicKey(k any) error {
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		if c := curveByName(k.Curve.Params().Name); c == nil || c != k.Curve {
			return fmt.Errorf("unsupported curve %s", k.Curve.Params().Name)
		}
		return nil
	case *rsa.PublicKey:
		// Too long a modulus makes every verification a denial of service.
		if n := k.N.BitLen(); n < 2048 || n > 8192 {
			return fmt.Errorf("RSA key of %d bits: want 2048 to 8192", n)
		}
		return nil
	}
	return fmt.Errorf("unsupported public key type %T (want ECDSA or RSA)", k)
}

// algFits reports whether a token signed with alg can be verified with k; this is what
// stops an attacker choosing an algorithm the key was never meant for (HS256 with the
// public key as the secret, RS256 against an EC key).
func algFits(alg string, k crypto.PublicKey) bool {
	switch k := k.(type) {
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case *rsa.PublicKey:
		return strings.HasPrefix(alg, "RS") || strings.HasPrefix(alg, "PS")
	}
	return false
}

// parseJWKS parses a JSON Web Key Set into verification keys. Keys not for signatures
// or of other types (symmetric "oct" keys above all) are skipped; a set with no usable
// key, or a malformed EC or RSA key, is an error.
func parseJWKS(data []byte) ([]verKey, error) {
	if len(data) > maxJWKS {
		return nil, fmt.Errorf("JWKS larger than %d bytes", maxJWKS)
	}
	var set struct {
		Keys []jwk `json:"keys"`
	}
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&set); err != nil {
		return nil, fmt.Errorf("JWKS: %w", err)
	}
	var out []verKey
	for i, j := range set.Keys {
		if j.Use != "" && j.Use != "sig" {
			continue
		}
		var (
			k   crypto.PublicKey
			err error
		)
		switch j.Kty {
		case "EC":
			k, err = ecFromJWK(j)
		case "RSA":
			k, err = rsaFromJWK(j)
		default:
			continue
		}
		if err == nil {
			err = checkPublicKey(k)
		}
		if err != nil {
			return nil, fmt.Errorf("JWKS key %d (kid %q): %w", i, j.Kid, err)
		}
		if j.Alg != "" && !algFits(j.Alg, k) {
			return nil, fmt.Errorf("JWKS key %d (kid %q): alg %s does not fit the key", i, j.Kid, j.Alg)
		}
		out = append(out, verKey{kid: j.Kid, alg: j.Alg, key: k})
	}
	if len(out) == 0 {
		return nil, errors.New("JWKS has no ECDSA or RSA signing key")
	}
	return out, nil
}

func ecFromJWK(j jwk) (*ecdsa.PublicKey, error) {
	c := curveByName(j.Crv)
	if c == nil {
		return nil, fmt.Errorf("unsupported curve %q", j.Crv)
	}
	x, err1 := b64().DecodeString(j.X)
	y, err2 := b64().DecodeString(j.Y)
	size := (c.Params().BitSize + 7) / 8
	if err1 != nil || err2 != nil || len(x) != size || len(y) != size {
		return nil, errors.New("bad x or y")
	}
	// ParseUncompressedPublicKey also checks that the point is on the curve.
	return ecdsa.ParseUncompressedPublicKey(c, append(append([]byte{4}, x...), y...))
}

func rsaFromJWK(j jwk) (*rsa.PublicKey, error) {
	n, err1 := b64().DecodeString(j.N)
	e, err2 := b64().DecodeString(j.E)
	if err1 != nil || err2 != nil || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("bad n or e")
	}
	exp := new(big.Int).SetBytes(e)
	if exp.Int64() < 3 || exp.Bit(0) == 0 {
		return nil, errors.New("bad exponent")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(exp.Int64())}, nil
}

// marshalJWKS writes keys as a JSON Web Key Set with their thumbprints as kid.
func marshalJWKS(keys ...crypto.PublicKey) ([]byte, error) {
	var set struct {
		Keys []jwk `json:"keys"`
	}
	for _, k := range keys {
		j, err := toJWK(k)
		if err != nil {
			return nil, err
		}
		if j.Kid, err = KeyID(k); err != nil {
			return nil, err
		}
		j.Use, j.Alg = "sig", defaultAlg(k)
		set.Keys = append(set.Keys, j)
	}
	return json.Marshal(set)
}

// defaultAlg is the algorithm a key signs with when nothing else says: ES256/384/512 by
// curve, RS256 for RSA.
func defaultAlg(k crypto.PublicKey) string {
	if ec, ok := k.(*ecdsa.PublicKey); ok {
		switch ec.Curve {
		case elliptic.P384():
			return "ES384"
		case elliptic.P521():
			return "ES512"
		}
		return "ES256"
	}
	return "RS256"
}
