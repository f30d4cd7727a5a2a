package e2e_test

import (
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
)

// screenshotDir is where the browser test writes its screenshots: docs/ui when
// BERTH_UI_SCREENSHOTS=1 (to refresh the committed ones), else a temporary directory.
func screenshotDir(t *testing.T) string {
	if os.Getenv("BERTH_UI_SCREENSHOTS") == "1" {
		return filepath.Join("..", "docs", "ui")
	}
	return t.TempDir()
}

// pushWithLabels pushes, as alice, an image with config labels and manifest
// annotations (go-containerregistry, a client independent of Berth's).
func pushWithLabels(t *testing.T, addr, repo string, labels, annotations map[string]string) {
	t.Helper()
	img := ociImage(t, 1)
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Config.Labels = "linux", "amd64", labels
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, annotations).(v1.Image)
	writeImage(t, addr+"/"+repo, img)
}

var alice = remote.WithAuth(&authn.Basic{Username: "alice", Password: "alice-pw"})

func writeImage(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img, alice); err != nil {
		t.Fatal(err)
	}
}

// pushTwoPlatforms pushes, as alice, an index of a linux/amd64 and a linux/arm64 image.
func pushTwoPlatforms(t *testing.T, ref string) {
	t.Helper()
	var idx v1.ImageIndex = empty.Index
	for _, arch := range []string{"amd64", "arm64"} {
		img := ociImage(t, 2)
		cf, _ := img.ConfigFile()
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		img, _ = mutate.ConfigFile(img, cf)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx, alice); err != nil {
		t.Fatal(err)
	}
}

// chromium starts Debian's Chromium headless, with a fresh profile and none of the
// background connections the closed network here refuses.
func chromium(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		needTool(t, "chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // root in a container
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 860),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// TestWebUIInARealBrowser drives the web UI with Chromium: each page loads, a click goes
// from the repository list to a repository, a tag and its manifest, the gallery shows a
// real build-bundle app with its icon loaded, hostile labels and AppStream text render
// as text, and logging in reveals a private repository that anonymous callers do not
// see. It writes the screenshots of docs/ui.md.
func TestWebUIInARealBrowser(t *testing.T) {
	needTool(t, "chromium", "flatpak", "skopeo")
	dir := t.TempDir()
	h, err := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	htpasswd, config := filepath.Join(dir, "htpasswd"), filepath.Join(dir, "config.yaml")
	must(t, os.WriteFile(htpasswd, []byte("alice:"+string(h)+"\n"), 0o600))
	must(t, os.WriteFile(config, []byte(`flatpak:
  title: Example Apps
auth:
  rules:
    - {repositories: ["apps/**", "library/**"], subjects: [anonymous, authenticated], actions: [pull]}
    - {repositories: ["**"], subjects: [alice], actions: [pull, push, delete]}
`), 0o600))
	b := startBerth(t, filepath.Join(dir, "data"), "--htpasswd", htpasswd, "--config", config, "--flatpak-index")

	build := newFlatpakBuild(t)
	for _, push := range []struct{ layout, repo string }{
		{filepath.Join(build.dir, "platform-oci"), "apps/platform"},
		{build.app("1.4"), "apps/hello"},
	} {
		skopeo(t, "copy", "--dest-tls-verify=false", "--dest-creds", "alice:alice-pw", "oci:"+push.layout, "docker://"+b.Addr+"/"+push.repo+":latest")
	}
	icon := build.icon(64)
	hostile := map[string]string{
		"org.flatpak.ref": "app/org.example.Hostile/x86_64/stable",
		"org.freedesktop.appstream.appdata": `<components><component><id>org.example.Hostile</id><name>Hostile &lt;b&gt;App&lt;/b&gt;</name>` +
			`<summary>&lt;script&gt;window.pwned=1&lt;/script&gt; tries its luck</summary>` +
			`<description><p>&lt;img src=x onerror="window.pwned=2"&gt;</p></description></component></components>`,
		"org.freedesktop.appstream.icon-64": "data:image/png;base64," + base64.StdEncoding.EncodeToString(icon),
	}
	pushWithLabels(t, b.Addr, "apps/hostile:latest", hostile, map[string]string{"org.opencontainers.image.description": `<script>window.pwned=3</script>`})
	pushTwoPlatforms(t, b.Addr+"/library/multi:1.0")
	pushWithLabels(t, b.Addr, "team/secret:v1", map[string]string{"team": "only"}, nil)

	ctx := chromium(t)
	shots := screenshotDir(t)
	type step = chromedp.Action[chromedp.Void]
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	shot := func(name string) step {
		return chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			png, err := chromedp.FullScreenshot(100)(ctx, tg) // 100: PNG
			if err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644)
		})
	}
	do := func(what string, steps ...step) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	text := func() string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(css("main")))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	pwned := func() {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.pwned !== undefined`))
		if err != nil || v {
			t.Fatalf("an image's label ran as script (%v)", err)
		}
	}

	// Anonymous: the public repositories, not the private one.
	do("repositories", chromedp.Navigate(b.URL+"/"), chromedp.WaitVisible(css("table.list")), shot("repositories"))
	page := text()
	for _, want := range []string{"apps/hello", "apps/hostile", "library/multi"} {
		if !strings.Contains(page, want) {
			t.Fatalf("repository list lacks %s:\n%s", want, page)
		}
	}
	if strings.Contains(page, "team/secret") {
		t.Fatal("anonymous sees the private repository")
	}
	// Click through repository → tag → manifest.
	do("repository", chromedp.Click(css(`a[href="/ui/r/library/multi"]`)), chromedp.WaitVisible(`//h1[text()="library/multi"]`), shot("repository"))
	if page = text(); !strings.Contains(page, "linux/amd64, linux/arm64") || !strings.Contains(page, "docker pull "+b.Addr+"/library/multi:1.0") {
		t.Fatalf("repository page:\n%s", page)
	}
	do("manifest", chromedp.Click(`//table//a[text()="1.0"]`), chromedp.WaitVisible(`//h2[text()="Platforms"]`), shot("manifest"))
	if page = text(); !strings.Contains(page, "linux/arm64") || !strings.Contains(page, "Referrers") {
		t.Fatalf("manifest page:\n%s", page)
	}
	do("image of the index", chromedp.Click(`//h2[text()="Platforms"]/following-sibling::table[1]//a`), chromedp.WaitVisible(`//h2[text()="Layers"]`))

	// The gallery: the real app with its icon loaded, the hostile one as text.
	do("gallery", chromedp.Navigate(b.URL+"/ui/apps"), chromedp.WaitVisible(css("ul.gallery")))
	width, err := chromedp.Run(ctx, chromedp.Evaluate[int](`(async () => {
		const i = document.querySelector('a[href="/ui/apps/org.berth.Hello"] img.icon');
		if (!i) return -1;
		if (!i.complete) await new Promise(r => { i.onload = r; i.onerror = r; });
		return i.naturalWidth; })()`, chromedp.EvalAwaitPromise))
	if err != nil || width <= 0 {
		t.Fatalf("the app's icon did not load (naturalWidth %d, %v)", width, err)
	}
	do("gallery screenshot", shot("gallery"))
	if page = text(); !strings.Contains(page, "Hello") || !strings.Contains(page, "Says hello from Berth") ||
		!strings.Contains(page, "<script>window.pwned=1</script> tries its luck") || !strings.Contains(page, "Hostile <b>App</b>") {
		t.Fatalf("gallery text:\n%s", page)
	}
	pwned()
	do("app page", chromedp.Click(css(`a[href="/ui/apps/org.berth.Hello"]`)), chromedp.WaitVisible(`//h2[text()="Releases"]`), shot("app"))
	if page = text(); !strings.Contains(page, "A one-line shell script that greets you.") || !strings.Contains(page, "Greets in a new way.") ||
		!strings.Contains(page, "flatpak install --user") {
		t.Fatalf("app page:\n%s", page)
	}
	do("hostile app page", chromedp.Navigate(b.URL+"/ui/apps/org.example.Hostile"), chromedp.WaitVisible(css("h1")))
	if page = text(); !strings.Contains(page, `<img src=x onerror="window.pwned=2">`) {
		t.Fatalf("hostile description not shown as text:\n%s", page)
	}
	pwned()
	do("hostile manifest", chromedp.Navigate(b.URL+"/ui/r/apps/hostile"), chromedp.Click(`//table//a[text()="latest"]`),
		chromedp.WaitVisible(`//h2[text()="Annotations"]`))
	if page = text(); !strings.Contains(page, "<script>window.pwned=3</script>") {
		t.Fatalf("hostile annotation not shown as text:\n%s", page)
	}
	pwned()

	// Log in as alice: the private repository appears; log out: it goes.
	do("login", chromedp.Navigate(b.URL+"/ui/login"), chromedp.WaitVisible(css(`input[name="name"]`)),
		chromedp.SendKeys(css(`input[name="name"]`), "alice"), chromedp.SendKeys(css(`input[name="password"]`), "alice-pw"), shot("login"),
		chromedp.Submit(css(`form.login`)), chromedp.WaitVisible(css(`span.user`)),
		chromedp.Navigate(b.URL+"/"), chromedp.WaitVisible(css("table.list")), shot("repositories-alice"))
	if page = text(); !strings.Contains(page, "team/secret") {
		t.Fatalf("alice does not see her private repository:\n%s", page)
	}
	do("logout", chromedp.Click(css(`header form button`)), chromedp.WaitVisible(css(`a[href^="/ui/login"]`)))
	if page = text(); strings.Contains(page, "team/secret") {
		t.Fatal("the private repository is still shown after logout")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
