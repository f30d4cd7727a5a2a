package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
)

// TestAuthWithRealClients runs Berth with an htpasswd file and rules, and drives it with
// skopeo (with --creds and anonymously), go-containerregistry and the berth CLI.
func TestAuthWithRealClients(t *testing.T) {
	needTool(t, "skopeo")
	dir := t.TempDir()
	var lines []string
	for _, u := range []string{"alice", "bob"} {
		h, err := bcrypt.GenerateFromPassword([]byte(u+"-pw"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, u+":"+string(h))
	}
	htpasswd := filepath.Join(dir, "htpasswd")
	config := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(htpasswd, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(config, []byte(`auth:
  rules:
    - {repositories: ["public/**"], subjects: [anonymous, authenticated], actions: [pull]}
    - {repositories: ["public/**", "team/**"], subjects: [alice], actions: [pull, push, delete]}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	b := startBerth(t, filepath.Join(dir, "data"), "--htpasswd", htpasswd, "--config", config)

	src := filepath.Join(dir, "layout")
	p, err := layout.Write(src, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(ociImage(t, 1)); err != nil {
		t.Fatal(err)
	}
	for _, repo := range []string{"public/app", "team/app"} {
		skopeo(t, "copy", "--dest-tls-verify=false", "--dest-creds", "alice:alice-pw", "oci:"+src, "docker://"+b.Addr+"/"+repo+":v1")
	}
	inspect := func(creds, repo string) error {
		args := []string{"inspect", "--tls-verify=false"}
		if creds == "" {
			args = append(args, "--no-creds")
		} else {
			args = append(args, "--creds", creds)
		}
		out, err := exec.Command("skopeo", append(args, "docker://"+b.Addr+"/"+repo+":v1")...).CombinedOutput()
		if err != nil {
			return &exec.ExitError{Stderr: out}
		}
		return nil
	}
	cases := []struct {
		creds, repo string
		ok          bool
	}{
		{"alice:alice-pw", "team/app", true},
		{"", "public/app", true},
		{"bob:bob-pw", "public/app", true},
		{"", "team/app", false},
		{"bob:bob-pw", "team/app", false},
		{"alice:wrong", "team/app", false},
	}
	for _, c := range cases {
		if err := inspect(c.creds, c.repo); (err == nil) != c.ok {
			t.Errorf("skopeo inspect %s as %q: %v, want allowed=%v", c.repo, c.creds, err, c.ok)
		}
	}
	// bob may not push, anonymous neither.
	for _, creds := range []string{"bob:bob-pw", ""} {
		args := []string{"copy", "--dest-tls-verify=false"}
		if creds != "" {
			args = append(args, "--dest-creds", creds)
		} else {
			args = append(args, "--dest-no-creds")
		}
		if out, err := exec.Command("skopeo", append(args, "oci:"+src, "docker://"+b.Addr+"/team/bobs:v1")...).CombinedOutput(); err == nil {
			t.Errorf("skopeo push to team/ as %q succeeded:\n%s", creds, out)
		}
	}

	// go-containerregistry with credentials pushes and pulls.
	img := ociImage(t, 2)
	alice := remote.WithAuth(&authn.Basic{Username: "alice", Password: "alice-pw"})
	if err := remote.Write(ref(t, b, "team/ggcr:v1"), img, alice); err != nil {
		t.Fatalf("ggcr push as alice: %v", err)
	}
	got, err := remote.Image(ref(t, b, "team/ggcr:v1"), alice)
	if err != nil {
		t.Fatal(err)
	}
	sameLayers(t, img, got)
	if _, err := remote.Image(ref(t, b, "team/ggcr:v1")); err == nil {
		t.Error("ggcr pulled a private image anonymously")
	}

	// The berth CLI: login stores credentials, tags uses them, logout forgets them.
	cfgDir := t.TempDir()
	berth := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(berthBin, args...) // a loopback registry needs no --plain-http
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+cfgDir)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := berth("alice-pw\n", "login", b.Addr, "--username", "alice", "--password-stdin"); err != nil {
		t.Fatalf("berth login: %v\n%s", err, out)
	}
	if out, err := berth("", "tags", b.Addr+"/team/app"); err != nil || strings.TrimSpace(out) != "v1" {
		t.Errorf("berth tags after login: %v\n%s", err, out)
	}
	if out, err := berth("", "catalog", b.Addr); err != nil || strings.Fields(out)[0] != "public/app" || !strings.Contains(out, "team/app") {
		t.Errorf("berth catalog after login: %v\n%s", err, out)
	}
	if out, err := berth("", "logout", b.Addr); err != nil {
		t.Fatalf("berth logout: %v\n%s", err, out)
	}
	if out, err := berth("", "tags", b.Addr+"/team/app"); err == nil || !strings.Contains(out, "requires credentials to pull team/app") || strings.Count(out, "berth login") != 1 {
		t.Errorf("berth tags after logout: %v\n%s", err, out)
	}
	if out, err := berth("wrong\n", "login", b.Addr, "--username", "alice", "--password-stdin"); err == nil {
		t.Errorf("berth login with a wrong password succeeded:\n%s", out)
	}
}
