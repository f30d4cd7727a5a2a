package e2e_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// flatpakUser is a throw-away Flatpak user: its own HOME and its own session bus, so the
// OCI authenticator flatpak activates belongs to this test and is ended by it.
type flatpakUser struct {
	t    testing.TB
	home string
	env  []string
}

func newFlatpakUser(t testing.TB) *flatpakUser {
	t.Helper()
	home := t.TempDir()
	bus := "unix:path=" + filepath.Join(home, "bus")
	env := []string{"HOME=" + home, "DBUS_SESSION_BUS_ADDRESS=" + bus, "XDG_DATA_HOME=" + filepath.Join(home, ".local/share"),
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "XDG_CACHE_HOME=" + filepath.Join(home, ".cache")}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k != "HOME" && !strings.HasPrefix(k, "XDG_") && k != "DBUS_SESSION_BUS_ADDRESS" {
			env = append(env, kv)
		}
	}
	// The daemon's output goes nowhere: services it activates inherit it, and a pipe
	// held open by a lingering authenticator would block whoever reads it.
	dbus := exec.Command("dbus-daemon", "--session", "--nofork", "--address="+bus)
	dbus.Env = env
	if err := dbus.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = dbus.Process.Kill()
		_ = dbus.Wait()
		killByHome(home)
	})
	for i := 0; ; i++ {
		if _, err := os.Stat(filepath.Join(home, "bus")); err == nil {
			break
		}
		if i == 100 {
			t.Fatal("dbus-daemon did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &flatpakUser{t: t, home: home, env: env}
}

// killByHome ends the processes started for this user (the D-Bus-activated
// flatpak-oci-authenticator), found by the HOME in their environment.
func killByHome(home string) {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !strings.Contains("\x00"+string(env), "\x00HOME="+home+"\x00") {
			continue
		}
		var pid int
		if n, err := strconv.Atoi(e.Name()); err == nil && n != os.Getpid() {
			pid = n
			_ = syscall.Kill(pid, syscall.SIGTERM)
		}
	}
}

func (u *flatpakUser) run(args ...string) string {
	u.t.Helper()
	out, err := u.try(args...)
	if err != nil {
		u.t.Fatalf("flatpak %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (u *flatpakUser) try(args ...string) (string, error) {
	cmd := exec.Command("flatpak", args...)
	cmd.Env, cmd.Dir = u.env, u.home
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// buildFlatpaks makes a one-file runtime and an app that uses it, exports them to an
// OSTree repository and bundles each as an OCI image layout. It returns the layouts'
// directories; version changes the app's content.
type flatpakBuild struct {
	t    testing.TB
	dir  string
	repo string
}

func newFlatpakBuild(t testing.TB) *flatpakBuild {
	t.Helper()
	dir := t.TempDir()
	b := &flatpakBuild{t: t, dir: dir, repo: filepath.Join(dir, "repo")}
	rt := filepath.Join(dir, "runtime")
	b.write(filepath.Join(rt, "metadata"), "[Runtime]\nname=org.berth.Platform\nruntime=org.berth.Platform/x86_64/1\nsdk=org.berth.Platform/x86_64/1\n")
	// build-export --runtime exports usr/; files/ and var/ complete the build directory.
	b.write(filepath.Join(rt, "usr", "share", "berth-platform"), "platform\n")
	b.write(filepath.Join(rt, "files", ".keep"), "")
	b.write(filepath.Join(rt, "var", ".keep"), "")
	b.flatpak("build-export", "--runtime", b.repo, rt, "1")
	b.flatpak("build-bundle", "--runtime", "--oci", b.repo, filepath.Join(dir, "platform-oci"), "org.berth.Platform", "1")
	return b
}

func (b *flatpakBuild) app(version string) string {
	b.t.Helper()
	app := filepath.Join(b.dir, "app-"+version)
	// AppStream data and icons where flatpak-builder's appstream-compose puts them;
	// build-bundle turns them into labels.
	appdata := `<?xml version="1.0" encoding="UTF-8"?>
<components version="0.8" origin="flatpak"><component type="desktop-application"><id>org.berth.Hello</id>
<name>Hello</name><summary>Says hello from Berth</summary>
<description><p>A one-line shell script that greets you.</p><ul><li>Tiny</li><li>Friendly</li></ul></description>
<project_license>MIT</project_license><url type="homepage">https://example.org/hello</url>
<releases><release version="` + version + `" date="2026-01-15"><description><p>Greets in a new way.</p></description></release></releases>
</component></components>`
	b.writeGzip(filepath.Join(app, "files/share/app-info/xmls/org.berth.Hello.xml.gz"), appdata)
	b.writeBytes(filepath.Join(app, "files/share/app-info/icons/flatpak/64x64/org.berth.Hello.png"), b.icon(64))
	b.writeBytes(filepath.Join(app, "files/share/app-info/icons/flatpak/128x128/org.berth.Hello.png"), b.icon(128))
	return b.bundle(app, "org.berth.Hello", "hello", version)
}

// bundle completes the build directory dir as the app id with the command cmd (a
// script printing its name and version), exports it and bundles it as an OCI layout.
func (b *flatpakBuild) bundle(dir, id, cmd, version string) string {
	b.t.Helper()
	b.write(filepath.Join(dir, "metadata"), "[Application]\nname="+id+"\nruntime=org.berth.Platform/x86_64/1\nsdk=org.berth.Platform/x86_64/1\n")
	b.write(filepath.Join(dir, "files", "bin", cmd), "#!/bin/sh\necho "+cmd+" "+version+"\n")
	if err := os.Chmod(filepath.Join(dir, "files", "bin", cmd), 0o755); err != nil {
		b.t.Fatal(err)
	}
	b.flatpak("build-finish", dir, "--command="+cmd)
	b.flatpak("build-export", b.repo, dir, "stable")
	layout := filepath.Join(b.dir, cmd+"-oci-"+version)
	b.flatpak("build-bundle", "--oci", b.repo, layout, id, "stable")
	return layout
}

// icon is the app's icon at a size: a PNG drawn from the size, the same every time.
func (b *flatpakBuild) icon(size int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for y := range size {
		for x := range size {
			img.Set(x, y, color.NRGBA{uint8(40 + x*150/size), uint8(90 + y*120/size), 200, 255})
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		b.t.Fatal(err)
	}
	return buf.Bytes()
}

func (b *flatpakBuild) writeGzip(path, content string) {
	b.t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write([]byte(content))
	if err := zw.Close(); err != nil {
		b.t.Fatal(err)
	}
	b.writeBytes(path, buf.Bytes())
}

func (b *flatpakBuild) writeBytes(path string, data []byte) {
	b.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *flatpakBuild) write(path, content string) {
	b.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func (b *flatpakBuild) flatpak(args ...string) {
	b.t.Helper()
	cmd := exec.Command("flatpak", args...)
	cmd.Env = append(os.Environ(), "HOME="+b.dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		b.t.Fatalf("flatpak %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func skopeoPush(t testing.TB, layout, dest string) {
	t.Helper()
	out, err := exec.Command("skopeo", "copy", "--dest-tls-verify=false", "oci:"+layout, "docker://"+dest).CombinedOutput()
	if err != nil {
		t.Fatalf("skopeo copy %s %s: %v\n%s", layout, dest, err, out)
	}
}

func refs(out string) string {
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " ")
}

// TestFlatpakClientListsInstallsUpdates drives Debian's real flatpak client against
// `berth serve --flatpak-index`: remote-ls, install (pulling the runtime), update to a
// newly pushed version, install from a .flatpakref, and a deleted tag disappearing.
func TestFlatpakClientListsInstallsUpdates(t *testing.T) {
	needTool(t, "flatpak", "skopeo", "dbus-daemon")
	b := startBerth(t, t.TempDir(), "--flatpak-index")
	build := newFlatpakBuild(t)
	skopeoPush(t, filepath.Join(build.dir, "platform-oci"), b.Addr+"/berth/platform:latest")
	skopeoPush(t, build.app("v1"), b.Addr+"/berth/hello:latest")

	u := newFlatpakUser(t)
	u.run("--user", "remote-add", "--no-gpg-verify", "berth", "oci+"+b.URL)
	mark := len(b.log.String())
	if got := refs(u.run("--user", "remote-ls", "berth", "--columns=ref")); got != "app/org.berth.Hello/x86_64/stable runtime/org.berth.Platform/x86_64/1" {
		t.Fatalf("remote-ls shows %q", got)
	}
	// The index carries the icon as a URL; the client fetches it into its AppStream.
	u.run("--user", "update", "--appstream", "berth")
	// OCI remotes keep it in appstream/REMOTE/ARCH/icons (OSTree ones under active/).
	icons, _ := filepath.Glob(filepath.Join(u.home, ".local/share/flatpak/appstream/berth/x86_64/icons/64x64/org.berth.Hello.png"))
	if len(icons) != 1 {
		var files []string
		_ = filepath.WalkDir(filepath.Join(u.home, ".local/share/flatpak/appstream"), func(p string, _ os.DirEntry, _ error) error {
			files = append(files, p)
			return nil
		})
		t.Fatalf("no 64x64 icon in the AppStream cache, which has %q; requests:\n%s", files, requestLines(b.log.String()[mark:]))
	}
	if got, err := os.ReadFile(icons[0]); err != nil || !bytes.Equal(got, build.icon(64)) {
		t.Fatalf("the cached icon is not the pushed PNG (%d bytes, %v)", len(got), err)
	}
	if lines := requestLines(b.log.String()[mark:]); !strings.Contains(lines, "GET /icons/") {
		t.Fatalf("the icon did not come by URL:\n%s", lines)
	}
	u.run("--user", "install", "-y", "--noninteractive", "berth", "org.berth.Hello")
	// What the real client asked for, for whoever reads this test's output (-v).
	t.Logf("requests of remote-ls + install:\n%s", requestLines(b.log.String()[mark:]))
	if got := refs(u.run("--user", "list", "--columns=ref")); got != "org.berth.Hello/x86_64/stable org.berth.Platform/x86_64/1" {
		t.Fatalf("list shows %q", got)
	}
	before := refs(u.run("--user", "list", "--app", "--columns=active"))

	skopeoPush(t, build.app("v2"), b.Addr+"/berth/hello:latest")
	u.run("--user", "update", "-y", "--noninteractive")
	after := refs(u.run("--user", "list", "--app", "--columns=active"))
	if after == before {
		t.Fatalf("update kept commit %s", before)
	}
	installed := filepath.Join(u.home, ".local/share/flatpak/app/org.berth.Hello/current/active/files/bin/hello")
	if content, err := os.ReadFile(installed); err != nil || !strings.Contains(string(content), "hello v2") {
		t.Fatalf("installed app is not v2: %q, %v", content, err)
	}

	// A second user installs from the .flatpakref alone.
	resp, err := http.Get(b.URL + "/flatpak/org.berth.Hello.flatpakref")
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	refFile := filepath.Join(t.TempDir(), "hello.flatpakref")
	if err := os.WriteFile(refFile, ref, 0o644); err != nil {
		t.Fatal(err)
	}
	u2 := newFlatpakUser(t)
	u2.run("--user", "install", "-y", "--noninteractive", "--from", refFile)
	if got := refs(u2.run("--user", "list", "--columns=ref")); got != "org.berth.Hello/x86_64/stable org.berth.Platform/x86_64/1" {
		t.Fatalf("after install --from, list shows %q", got)
	}

	req, _ := http.NewRequest("DELETE", b.URL+"/v2/berth/hello/manifests/latest", nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete tag: %v %v", resp, err)
	}
	resp.Body.Close()
	if got := refs(u.run("--user", "remote-ls", "berth", "--columns=ref")); got != "runtime/org.berth.Platform/x86_64/1" {
		t.Fatalf("after deleting the app's tag, remote-ls shows %q", got)
	}
}

func TestFlatpakIndexIsOffByDefault(t *testing.T) {
	b := startBerth(t, t.TempDir())
	for _, p := range []string{"/index/static", "/index/dynamic", "/flatpak/repo.flatpakrepo"} {
		resp, err := http.Get(b.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, resp.StatusCode)
		}
	}
}

// requestLines reduces Berth's JSON access log to "METHOD PATH?QUERY → STATUS" lines.
func requestLines(log string) string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		var e struct {
			Msg, Method, Path, Query string
			Status                   int
		}
		if json.Unmarshal([]byte(line), &e) != nil || e.Msg != "request" {
			continue
		}
		if e.Query != "" {
			e.Path += "?" + e.Query
		}
		out = append(out, fmt.Sprintf("%s %s → %d", e.Method, e.Path, e.Status))
	}
	return strings.Join(out, "\n")
}
