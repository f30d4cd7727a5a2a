package auth

import (
	"crypto/elliptic"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The yaml keys are the ones docs/auth.md documents; unknown keys are errors, as in
// Berth's configuration.
func TestConfigYAML(t *testing.T) {
	doc := `
htpasswd: /etc/berth/htpasswd
users:
  - name: ci
    password_hash: "$2y$05$KHltwrpCEZhW2kSrVka46.EPM9zx3As4y6wpKvUSHs/TOFN4WoYIi"
    groups: [builders]
groups:
  dev: [alice, bob]
rules:
  - repositories: ["library/*", "public/**"]
    subjects: [anonymous]
    actions: [pull]
token:
  issuer: berth.example
  expiry: 10m
  key_file: /var/lib/berth/token-key.pem
  realm: https://registry.example.com/token
  service: registry.example.com
external:
  issuer: https://idp.example.com
  audience: registry.example.com
  jwks_url: https://idp.example.com/jwks.json
`
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Htpasswd != "/etc/berth/htpasswd" || c.Users[0].Groups[0] != "builders" || c.Groups["dev"][1] != "bob" ||
		c.Rules[0].Repositories[1] != "public/**" || c.Token.Expiry != 10*time.Minute ||
		c.Token.KeyFile == "" || c.Token.Realm == "" || c.Token.Service == "" || c.Token.Issuer == "" ||
		c.External.JWKSURL == "" || c.External.Audience == "" || !c.Enabled() {
		t.Fatalf("decoded %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := map[string]Config{
		"short expiry":    {Token: TokenConfig{Expiry: 30 * time.Second}},
		"relative realm":  {Token: TokenConfig{Realm: "/token"}},
		"external no aud": {External: ExternalConfig{Issuer: "x", JWKSURL: "https://x/j"}},
		"two key sources": {External: ExternalConfig{Issuer: "x", Audience: "y", JWKSURL: "https://x/j", JWKSFile: "/j"}},
		"no key source":   {External: ExternalConfig{Issuer: "x", Audience: "y"}},
	}
	for name, c := range tests {
		if err := c.Validate(); err == nil {
			t.Errorf("%s: valid", name)
		}
	}
	if (Config{}).Enabled() || (Config{}).Validate() != nil {
		t.Fatal("the empty config is not the valid, disabled one")
	}
}

func TestTokenConfigDefaults(t *testing.T) {
	got := TokenConfig{}.WithDefaults("https://registry.example.com:8443")
	want := TokenConfig{Issuer: "berth", Expiry: 5 * time.Minute, Realm: "https://registry.example.com:8443/token", Service: "registry.example.com:8443"}
	if got != want {
		t.Fatalf("%+v, want %+v", got, want)
	}
	if got := (TokenConfig{}).WithDefaults(""); got.Realm != "" || got.Service != "berth" {
		t.Fatalf("no public_url: %+v", got)
	}
	set := TokenConfig{Issuer: "i", Expiry: time.Hour, Realm: "https://auth/t", Service: "s"}
	if got := set.WithDefaults("https://x"); got != set {
		t.Fatalf("set options overridden: %+v", got)
	}
}

func TestExternalConfigTrustReadsPEM(t *testing.T) {
	k := newKey(t, elliptic.P256())
	path := filepath.Join(t.TempDir(), "idp.pem")
	if err := os.WriteFile(path, pemOf(t, &k.PublicKey), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := ExternalConfig{Issuer: "idp", Audience: "a", PublicKeyFile: path}.Trust()
	if err != nil || len(tr.PublicKeys) != 1 {
		t.Fatalf("%+v, %v", tr, err)
	}
	if _, err := (ExternalConfig{Issuer: "idp", Audience: "a", PublicKeyFile: path + "x"}).Trust(); err == nil {
		t.Fatal("missing file accepted")
	}
}
