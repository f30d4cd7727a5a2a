package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// hashOf returns a bcrypt hash of pw at the minimum cost, so tests stay fast while
// running real bcrypt.
func hashOf(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// testUsers: alice (htpasswd, group dev), bob (htpasswd), carol (config, groups ops
// and dev), ci (config). Each one's password is NAME-pw.
func testUsers(t testing.TB) *Users {
	t.Helper()
	ht := map[string][]byte{
		"alice": []byte(hashOf(t, "alice-pw")),
		"bob":   []byte(hashOf(t, "bob-pw")),
	}
	cfg := []UserConfig{
		{Name: "carol", PasswordHash: hashOf(t, "carol-pw"), Groups: []string{"ops"}},
		{Name: "ci", PasswordHash: hashOf(t, "ci-pw")},
	}
	u, err := NewUsers(ht, cfg, map[string][]string{"dev": {"alice", "carol"}, "empty": nil})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func newKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testIssuer(t testing.TB) *Issuer {
	t.Helper()
	i, err := NewIssuer(newKey(t, elliptic.P256()), TokenConfig{Issuer: "berth-test", Service: "registry.test", Expiry: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// fixedClock is a settable clock for the now fields.
type fixedClock struct{ t time.Time }

func (c *fixedClock) now() time.Time          { return c.t }
func (c *fixedClock) advance(d time.Duration) { c.t = c.t.Add(d) }
