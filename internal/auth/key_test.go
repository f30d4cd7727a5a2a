package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKeyCreatesOnceWithMode0600(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "token-key.pem")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Fatal("second start made a new key")
	}
	// No temporary files are left behind.
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries", len(entries))
	}
}

// Servers starting together on one key file must end up with the same key.
func TestLoadOrCreateKeyConcurrentStartsAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key.pem")
	keys := make([]*ecdsa.PrivateKey, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateKey(path)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if k == nil || !k.Equal(keys[0]) {
			t.Fatal("concurrent starts got different keys")
		}
	}
}

func TestLoadOrCreateKeyReadsConfiguredKeys(t *testing.T) {
	dir := t.TempDir()
	p256 := newKey(t, elliptic.P256())
	sec1, _ := x509.MarshalECPrivateKey(p256)
	p384, _ := x509.MarshalPKCS8PrivateKey(newKey(t, elliptic.P384()))
	tests := []struct {
		name, pem string
		wantErr   string
	}{
		{"sec1", string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})), ""},
		{"p384", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p384})), "must be ECDSA P-256"},
		{"public", string(pemOf(t, &p256.PublicKey)), "not a private key"},
		{"garbage", "hello", "no PEM block"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, tt.name)
		if err := os.WriteFile(path, []byte(tt.pem), 0o600); err != nil {
			t.Fatal(err)
		}
		k, err := LoadOrCreateKey(path)
		if tt.wantErr == "" {
			if err != nil || !k.Equal(p256) {
				t.Errorf("%s: %v", tt.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: err = %v, want %q naming the file", tt.name, err, tt.wantErr)
		}
	}
}
