package auth

import (
	"context"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestJWKSFileTrust(t *testing.T) {
	ec := newKey(t, elliptic.P256())
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	set, err := marshalJWKS(&ec.PublicKey, &rk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(path, set, 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := ExternalConfig{Issuer: "idp", Audience: "registry.test", JWKSFile: path}.Trust()
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(tr)
	if err != nil {
		t.Fatal(err)
	}
	ecKid, _ := KeyID(&ec.PublicKey)
	rsaKid, _ := KeyID(&rk.PublicKey)
	good := validClaims("idp", "registry.test")
	if _, err := v.Verify(context.Background(), signed(t, jwt.SigningMethodES256, ec, ecKid, good)); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), signed(t, jwt.SigningMethodRS256, rk, rsaKid, good)); err != nil {
		t.Fatal(err)
	}
	// The JWKS says the RSA key is for RS256 only.
	if _, err := v.Verify(context.Background(), signed(t, jwt.SigningMethodPS256, rk, rsaKid, good)); !errors.Is(err, ErrInvalidToken) {
		t.Fatal("PS256 accepted for an RS256 key")
	}
}

func TestParseJWKS(t *testing.T) {
	ec := newKey(t, elliptic.P256())
	one, _ := marshalJWKS(&ec.PublicKey)
	j, _ := toJWK(&ec.PublicKey)
	j.Alg = "RS256"
	mismatch, _ := json.Marshal(map[string]any{"keys": []jwk{j}})
	tests := map[string]struct {
		doc string
		ok  bool
	}{
		"ours":         {string(one), true},
		"only oct":     {`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`, false},
		"enc use only": {`{"keys":[{"kty":"EC","use":"enc","crv":"P-256","x":"AA","y":"AA"}]}`, false},
		"off curve":    {`{"keys":[{"kty":"EC","crv":"P-256","x":"` + b64().EncodeToString(make([]byte, 32)) + `","y":"` + b64().EncodeToString(make([]byte, 32)) + `"}]}`, false},
		"bad curve":    {`{"keys":[{"kty":"EC","crv":"secp256k1","x":"AA","y":"AA"}]}`, false},
		"alg mismatch": {string(mismatch), false},
		"not json":     {`keys`, false},
		"empty":        {`{"keys":[]}`, false},
		"rsa bad e":    {`{"keys":[{"kty":"RSA","n":"AQAB","e":""}]}`, false},
		"oct skipped":  {`{"keys":[{"kty":"oct","k":"c2VjcmV0"},` + string(one[9:]), true},
	}
	for name, tt := range tests {
		_, err := parseJWKS([]byte(tt.doc))
		if tt.ok != (err == nil) {
			t.Errorf("%s: err = %v, want ok=%v", name, err, tt.ok)
		}
	}
}

// jwksServer serves a key set that the test can replace, counting the fetches.
type jwksServer struct {
	mu    sync.Mutex
	doc   []byte
	fail  bool
	count atomic.Int32
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.count.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write(s.doc)
}

func (s *jwksServer) set(doc []byte, fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.doc, s.fail = doc, fail
}

func TestJWKSURLIsCachedAndRefreshed(t *testing.T) {
	k1, k2 := newKey(t, elliptic.P256()), newKey(t, elliptic.P256())
	kid1, _ := KeyID(&k1.PublicKey)
	kid2, _ := KeyID(&k2.PublicKey)
	doc1, _ := marshalJWKS(&k1.PublicKey)
	doc2, _ := marshalJWKS(&k1.PublicKey, &k2.PublicKey)
	js := &jwksServer{doc: doc1}
	srv := httptest.NewServer(js) // 127.0.0.1
	defer srv.Close()

	v, err := NewVerifier(Trust{Issuer: "idp", Audience: "registry.test", JWKSURL: srv.URL + "/jwks", Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	clock := &fixedClock{time.Now()}
	v.now = clock.now
	ctx := context.Background()
	tok := func(k any, kid string) string {
		c := validClaims("idp", "registry.test")
		c["iat"], c["nbf"], c["exp"] = clock.t.Unix(), clock.t.Unix(), clock.t.Add(time.Hour).Unix()
		return signed(t, jwt.SigningMethodES256, k, kid, c)
	}
	verify := func(step, tok string, ok bool, fetches int32) {
		t.Helper()
		_, err := v.Verify(ctx, tok)
		if ok != (err == nil) {
			t.Fatalf("%s: err = %v, want ok=%v", step, err, ok)
		}
		if n := js.count.Load(); n != fetches {
			t.Fatalf("%s: %d fetches, want %d", step, n, fetches)
		}
	}
	verify("first use fetches", tok(k1, kid1), true, 1)
	verify("cached", tok(k1, kid1), true, 1)
	// The issuer rotates: an unknown kid refetches (once jwksRetry has passed since the
	// last fetch).
	js.set(doc2, false)
	clock.advance(jwksRetry)
	verify("unknown kid refetches", tok(k2, kid2), true, 2)
	// Made-up kids cannot make Berth hammer the issuer.
	clock.advance(jwksRetry)
	verify("unknown kid again", tok(newKey(t, elliptic.P256()), "made-up"), false, 3)
	verify("throttled", tok(newKey(t, elliptic.P256()), "made-up-2"), false, 3)
	// Stale after the TTL; a failed refresh keeps the keys it had.
	clock.advance(jwksTTL + time.Second)
	js.set(nil, true)
	verify("stale, issuer down", tok(k2, kid2), true, 4)
	clock.advance(jwksRetry)
	js.set(doc1, false)
	verify("recovered, k2 gone", tok(k2, kid2), false, 5)
	verify("k1 still good", tok(k1, kid1), true, 5)
}

func TestJWKSURLUnavailableAtStart(t *testing.T) {
	js := &jwksServer{fail: true}
	srv := httptest.NewServer(js)
	defer srv.Close()
	v, err := NewVerifier(Trust{Issuer: "idp", Audience: "a", JWKSURL: srv.URL, Client: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	k := newKey(t, elliptic.P256())
	if _, err := v.Verify(context.Background(), signed(t, jwt.SigningMethodES256, k, "", validClaims("idp", "a"))); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("err = %v", err)
	}
	// The next attempt waits jwksRetry; then a cancelled request gives up without
	// reaching the issuer.
	if _, err := v.Verify(context.Background(), signed(t, jwt.SigningMethodES256, k, "", validClaims("idp", "a"))); !errors.Is(err, ErrInvalidToken) || js.count.Load() != 1 {
		t.Fatalf("err = %v, %d fetches", err, js.count.Load())
	}
	v.now = (&fixedClock{time.Now().Add(jwksRetry)}).now
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := v.Verify(ctx, signed(t, jwt.SigningMethodES256, k, "", validClaims("idp", "a"))); !errors.Is(err, ErrInvalidToken) || js.count.Load() != 1 {
		t.Fatalf("err = %v, %d fetches", err, js.count.Load())
	}
}
