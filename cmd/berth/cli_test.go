package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
)

// TestProgressOnlyWhereAPersonWatches: bars need a terminal on stderr; /dev/null is a
// character device but no terminal, and `2>log` on a terminal is no terminal either.
func TestProgressOnlyWhereAPersonWatches(t *testing.T) {
	s := startServe(t, t.TempDir())
	dir := t.TempDir()
	big := writeFile(t, dir, "big.bin", bytes.Repeat([]byte("berth"), 400_000))
	small := writeFile(t, dir, "notes.txt", []byte("hello\n"))
	other := writeFile(t, dir, "other.bin", bytes.Repeat([]byte("plain"), 400_000))
	env := runOpts{env: noCreds(t)}
	ref := func(tag string) string { return s.addr + "/p/files:" + tag }

	for _, tc := range []struct {
		name string
		w    where
		args []string
		want func(r result) string // "" when fine
	}{
		{"stdout to /dev/null", stdoutNull, []string{"push", "--plain-http", ref("a"), big}, func(r result) string {
			if r.stderr != "" {
				return "stderr not empty"
			}
			return ""
		}},
		{"stdout and stderr to pipes", pipes, []string{"push", "--plain-http", ref("b"), big}, func(r result) string {
			if r.stderr != "" || !strings.HasPrefix(r.stdout, s.addr+"/p/files@sha256:") {
				return "want only the result on stdout"
			}
			return ""
		}},
		{"stderr on a terminal", stderrPTY, []string{"push", "--plain-http", ref("c"), big}, func(r result) string {
			if !strings.Contains(r.stderr, "\r") || !strings.Contains(r.stderr, "1/1 blobs") || !strings.Contains(r.stderr, "1.9 MiB / 1.9 MiB") {
				return "want a redrawn bar"
			}
			return ""
		}},
		{"quiet on a terminal", stderrPTY, []string{"push", "--plain-http", "-q", ref("d"), big}, func(r result) string {
			if r.stderr != "" {
				return "want nothing on the terminal"
			}
			return ""
		}},
		{"plain for CI logs", stdoutNull, []string{"push", "--plain-http", "--progress=plain", ref("e"), other, small}, func(r result) string {
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if strings.Contains(r.stderr, "\r") || len(lines) != 3 || !strings.Contains(lines[0], "1.9 MiB done") || !strings.HasPrefix(lines[2], "push: 2 blobs, 1.9 MiB in ") {
				return "want a line per blob and a summary"
			}
			return ""
		}},
		{"BERTH_PROGRESS", stdoutNull, []string{"pull", "--plain-http", ref("e"), t.TempDir()}, func(r result) string {
			if strings.Count(r.stderr, " done\n") != 2 {
				return "want BERTH_PROGRESS=plain to count as --progress=plain"
			}
			return ""
		}},
		{"a mode that does not exist", pipes, []string{"push", "--plain-http", "--progress=fancy", ref("f"), big}, func(r result) string {
			if r.code != 2 || !strings.Contains(r.stderr, "--progress must be auto, plain or none") {
				return "want a usage error"
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := env
			if tc.name == "BERTH_PROGRESS" {
				o.env = append(o.env, "BERTH_PROGRESS=plain")
			}
			r := berth(t, tc.w, o, tc.args...)
			if tc.name != "a mode that does not exist" && r.code != 0 {
				t.Fatalf("exit %d: %q", r.code, r.stderr)
			}
			if msg := tc.want(r); msg != "" {
				t.Errorf("%s; stdout %q, stderr %q", msg, r.stdout, r.stderr)
			}
		})
	}
}

// TestHelpAndExitCodes: --help prints help on stdout and exits 0; a command line that
// cannot run exits 2 and says how to get help; a failure of the work exits 1.
func TestHelpAndExitCodes(t *testing.T) {
	for _, cmd := range [][]string{
		{"--help"}, {"help"}, {"help", "push"}, {"serve", "--help"}, {"config", "check", "--help"}, {"version", "--help"},
		{"backup", "-h"}, {"gc", "--help"}, {"tags", "--help"}, {"catalog", "--help"}, {"manifest", "get", "--help"},
		{"copy", "--help"}, {"push", "--help"}, {"pull", "--help"}, {"login", "--help"}, {"logout", "--help"},
		{"flatpak", "index", "--help"}, {"manifest", "--help"},
	} {
		r := berth(t, pipes, runOpts{}, cmd...)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: berth") || r.stderr != "" {
			t.Errorf("berth %s: exit %d, stdout %.60q, stderr %q; want usage on stdout and 0", strings.Join(cmd, " "), r.code, r.stdout, r.stderr)
		}
	}
	// A flag is listed only where it does something.
	for cmd, absent := range map[string][]string{
		"logout":  {"--page-size", "--json", "--password", "--plain-http", "--progress"},
		"login":   {"--page-size", "--json", "--progress"},
		"tags":    {"--progress", "--quiet"},
		"catalog": {"--progress"},
		"copy":    {"--page-size"},
		"push":    {"--page-size"},
		"pull":    {"--page-size"},
	} {
		help := berth(t, pipes, runOpts{}, cmd, "--help").stdout
		for _, f := range absent {
			if strings.Contains(help, f) {
				t.Errorf("berth %s --help lists %s, which it does not use:\n%s", cmd, f, help)
			}
		}
	}
	if help := berth(t, pipes, runOpts{}, "tags", "--help").stdout; !strings.Contains(help, "--page-size n") || !strings.Contains(help, "--username name") {
		t.Errorf("tags --help lacks its flags:\n%s", help)
	}

	dead := freePort(t) // nothing listens there
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{}, 2, "no command given"},
		{[]string{"sail"}, 2, `unknown command "sail"`},
		{[]string{"tags", "--bogus", dead + "/a"}, 2, "Run 'berth tags --help' for usage."},
		{[]string{"tags"}, 2, "berth tags expects HOST/REPO, got no arguments"},
		{[]string{"pull", dead + "/a:1"}, 2, "expects HOST/REPO[:TAG|@DIGEST] and a destination"},
		{[]string{"config", "check"}, 2, "config check expects one FILE"},
		{[]string{"config", "check", "/nonexistent/berth.yaml"}, 1, "read config"},
		{[]string{"version", "extra"}, 2, "version takes no arguments"},
		{[]string{"manifest"}, 2, "berth manifest needs a subcommand: get"},
		{[]string{"tags", "--plain-http", dead + "/a"}, 1, "connection refused; is a registry listening there?"},
	} {
		r := berth(t, pipes, runOpts{env: noCreds(t)}, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("berth %s: exit %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.want)
		}
	}
	if r := berth(t, pipes, runOpts{}, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "berth ") {
		t.Errorf("version: %+v", r)
	}
}

// TestReferencesAreCheckedLocally: what the server would refuse is refused before
// anything is sent (nothing listens at the address, so a request would fail with 1).
func TestReferencesAreCheckedLocally(t *testing.T) {
	dead := freePort(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"catalog", dead + "/eco"}, `is not a registry host: a registry is HOST[:PORT], and "/eco" after it is no part of one`},
		{[]string{"manifest", "get", dead + "/a@sha256:abc"}, `"sha256:abc" is not a valid digest: sha256: is followed by 64 lowercase hex digits, here 3 characters`},
		{[]string{"manifest", "get", dead + "/a:bad+tag"}, `"bad+tag" is not a valid tag`},
		{[]string{"tags", dead + "/Upper"}, `"Upper" is not a valid repository name`},
		{[]string{"tags", "library/alpine"}, `"library" has no dot or port; write e.g. docker.io/library/alpine`},
		{[]string{"login", "https://" + dead}, "write the registry without https://"},
		{[]string{"copy", dead + "/a:1", "oci:dir@sha256:abc"}, `"sha256:abc" is not a valid digest`},
	} {
		r := berth(t, pipes, runOpts{env: noCreds(t)}, tc.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("berth %s: exit %d, stderr %q; want 2 and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.want)
		}
	}
}

// TestLoopbackRegistriesNeedNoPlainHTTPFlag: crane's rule, plain HTTP for a loopback
// registry that answers HTTPS in HTTP, so `berth tags 127.0.0.1:5000/x` just works.
func TestLoopbackRegistriesNeedNoPlainHTTPFlag(t *testing.T) {
	s := startServe(t, t.TempDir())
	f := writeFile(t, t.TempDir(), "f", []byte("x"))
	o := runOpts{env: noCreds(t)}
	if r := berth(t, pipes, o, "push", s.addr+"/loop/a:v1", f); r.code != 0 {
		t.Fatalf("push without --plain-http: %+v", r)
	}
	port := s.addr[strings.LastIndex(s.addr, ":"):]
	if r := berth(t, pipes, o, "tags", "localhost"+port+"/loop/a"); r.code != 0 || r.stdout != "v1\n" {
		t.Errorf("tags via localhost: %+v", r)
	}
	o.env = append(o.env, "BERTH_PLAIN_HTTP="+s.addr)
	if r := berth(t, pipes, o, "catalog", s.addr); r.code != 0 || r.stdout != "loop/a\n" {
		t.Errorf("catalog with BERTH_PLAIN_HTTP: %+v", r)
	}
}

// TestCredentials: a refused password is one sentence with one hint; login asks on a
// terminal (without echo) and reads --password-stdin otherwise; logout says what it did.
func TestCredentials(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("right-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	htpasswd := writeFile(t, dir, "htpasswd", []byte("alice:"+string(hash)+"\n"))
	s := startServe(t, filepath.Join(dir, "data"), "--htpasswd", htpasswd)
	docker := t.TempDir()
	o := runOpts{env: []string{"DOCKER_CONFIG=" + docker}}
	oneLine := func(t *testing.T, r result, code int, want ...string) {
		t.Helper()
		if r.code != code || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("exit %d, stderr %q; want %d and one line", r.code, r.stderr, code)
		}
		for _, w := range want {
			if strings.Count(r.stderr, w) != 1 {
				t.Errorf("stderr %q; want %q once", r.stderr, w)
			}
		}
	}

	r := berth(t, pipes, o, "tags", "--username", "alice", "--password", "wrong", s.addr+"/p/a")
	oneLine(t, r, 1, s.addr+` refused the password of user "alice"`, "check --username and --password")
	r = berth(t, pipes, runOpts{env: o.env, stdin: "wrong\n"}, "login", "--username", "alice", "--password-stdin", s.addr)
	oneLine(t, r, 1, "berth: log in to "+s.addr+": "+s.addr+` refused the password of user "alice"`)
	if strings.Contains(r.stderr, "log in with") || strings.Contains(r.stderr, "/token") {
		t.Errorf("login advice or a bare URL: %q", r.stderr)
	}
	r = berth(t, pipes, o, "tags", s.addr+"/p/a")
	oneLine(t, r, 1, s.addr+" requires credentials to pull p/a", "log in with `berth login "+s.addr+"`")
	r = berth(t, pipes, runOpts{env: o.env, stdin: "\n"}, "login", "--username", "alice", s.addr)
	if r.code != 2 || !strings.Contains(r.stderr, "no password: pipe it in with --password-stdin") {
		t.Errorf("login without a password and no terminal: %+v", r)
	}

	r = berth(t, pipes, runOpts{env: o.env, stdin: "right-pw\n"}, "login", "--username", "alice", "--password-stdin", s.addr)
	if r.code != 0 || !strings.Contains(r.stderr, "Login succeeded") {
		t.Fatalf("login --password-stdin: %+v", r)
	}
	if r := berth(t, pipes, o, "catalog", s.addr); r.code != 0 {
		t.Errorf("catalog with stored credentials: %+v", r)
	}
	cfg := filepath.Join(docker, "config.json")
	r = berth(t, pipes, o, "logout", s.addr)
	if r.code != 0 || r.stderr != "Removed the credentials for "+s.addr+" from "+cfg+"\n" {
		t.Errorf("logout: %+v", r)
	}
	r = berth(t, pipes, o, "logout", s.addr)
	if r.code != 0 || !strings.Contains(r.stderr, "No credentials for "+s.addr) {
		t.Errorf("second logout: %+v", r)
	}

	// A stored password that is no longer right says to log in again.
	if err := os.WriteFile(cfg, []byte(`{"auths":{"`+s.addr+`":{"auth":"YWxpY2U6b2xk"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	r = berth(t, pipes, o, "tags", s.addr+"/p/a")
	oneLine(t, r, 1, `refused the password of user "alice"`, "log in again with `berth login "+s.addr+"`")

	// On a terminal: asked for, the password not echoed.
	r = berth(t, stderrPTY, runOpts{env: o.env, answer: []string{"alice", "right-pw"}}, "login", s.addr)
	if r.code != 0 || !strings.Contains(r.stderr, "Username: alice") || !strings.Contains(r.stderr, "Password:") || strings.Contains(r.stderr, "right-pw") || !strings.Contains(r.stderr, "Login succeeded") {
		t.Errorf("login on a terminal: exit %d, terminal %q", r.code, r.stderr)
	}
	// --password works, with the warning.
	r = berth(t, pipes, o, "login", "--username", "alice", "--password", "right-pw", s.addr)
	if r.code != 0 || !strings.HasPrefix(r.stderr, "WARNING: a password given with --password") {
		t.Errorf("login --password: %+v", r)
	}
}

// TestConfigErrorsAllAtOnce: every problem, each with the option, its line and the
// expected form, in one run.
func TestConfigErrorsAllAtOnce(t *testing.T) {
	file := writeFile(t, t.TempDir(), "bad.yaml", []byte(`registery:
  delete_enabled: false
limits:
  idle_timeout: "30"
  transfer_idle_timeout: 2x
log:
  level: loud
gc:
  interval: -1m
`))
	r := berth(t, pipes, runOpts{env: []string{"BERTH_METRICS_ENABLED=maybe"}}, "config", "check", file)
	want := []string{
		"invalid configuration: 6 problems:",
		file + `: line 1: unknown option "registery" (did you mean "registry"?)`,
		file + `: line 4: limits.idle_timeout: "30" is not a duration; write e.g. 30s`,
		file + `: line 5: limits.transfer_idle_timeout: "2x" is not a duration; write e.g. 30s, 5m or 1h30m`,
		`BERTH_METRICS_ENABLED (metrics.enabled): "maybe" is not true or false`,
		"gc.interval must be positive, got -1m0s",
		`log.level must be debug, info, warn or error, got "loud"`,
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("config check stderr lacks %q:\n%s", w, r.stderr)
		}
	}
	if r.code != 1 || strings.Contains(r.stderr, "config.Config") || strings.Contains(r.stderr, "time.Duration") {
		t.Errorf("exit %d, Go types in the message:\n%s", r.code, r.stderr)
	}
}

// TestJSONLogDurationsAreSeconds: "timeout":30, not 30000000000.
func TestJSONLogDurationsAreSeconds(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "berth.yaml", []byte("log:\n  format: json\n"))
	s := startServe(t, filepath.Join(dir, "data"), "--config", cfg)
	resp, err := http.Get("http://" + s.addr + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.stop()
	var sawShutdown, sawAccess bool
	for _, line := range strings.Split(strings.TrimSpace(s.log.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not JSON: %q", line)
		}
		if rec["msg"] == "shutting down" {
			sawShutdown = true
			if rec["timeout"] != 30.0 {
				t.Errorf("shutdown timeout logged as %v, want 30 (seconds)", rec["timeout"])
			}
		}
		if d, ok := rec["dur"]; ok {
			sawAccess = true
			if f, ok := d.(float64); !ok || f <= 0 || f > 10 {
				t.Errorf("access log dur %v, want seconds", d)
			}
		}
	}
	if !sawShutdown || !sawAccess {
		t.Errorf("no shutdown or access line in:\n%s", s.log.String())
	}
}

// TestPullOfAnImageSaysWhereTheLayoutIs: an image pulled into a plain directory gets
// a note that oci:DIR makes a layout.
func TestPullOfAnImageSaysWhereTheLayoutIs(t *testing.T) {
	s := startServe(t, t.TempDir())
	pushImage(t, s.addr+"/img/app:1")
	dst := t.TempDir()
	r := berth(t, pipes, runOpts{env: noCreds(t)}, "pull", s.addr+"/img/app:1", dst)
	if r.code != 0 || !strings.Contains(r.stderr, "is a container image; its 1 layers were written as sha256-<hex> files") || !strings.Contains(r.stderr, "pull it into oci:"+dst) {
		t.Errorf("pull of an image: %+v", r)
	}
	if !regexp.MustCompile(`sha256-[0-9a-f]{64}\n`).MatchString(r.stdout) {
		t.Errorf("pull printed %q", r.stdout)
	}
	if r := berth(t, pipes, runOpts{env: noCreds(t)}, "pull", "-q", s.addr+"/img/app:1", t.TempDir()); r.stderr != "" {
		t.Errorf("pull -q still notes: %q", r.stderr)
	}
	if r := berth(t, pipes, runOpts{env: noCreds(t)}, "pull", s.addr+"/img/app:1", "oci:"+filepath.Join(dst, "layout")); r.code != 0 || r.stderr != "" {
		t.Errorf("pull into a layout: %+v", r)
	}
	if _, err := os.Stat(filepath.Join(dst, "layout", "index.json")); err != nil {
		t.Error(err)
	}
}

// pushImage pushes a random one-layer image with go-containerregistry.
func pushImage(t *testing.T, ref string) {
	t.Helper()
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}
