package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/config"
)

// testPNG is a size×size PNG with a pattern of seed.
func testPNG(t *testing.T, size int, seed byte) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = byte(i) ^ seed
	}
	var b bytes.Buffer
	must(t, png.Encode(&b, img))
	return b.Bytes()
}

// pushLabelled pushes an image whose config carries labels, with annotations on the
// manifest, tagged tag; it returns the manifest digest.
func pushLabelled(t *testing.T, c *client.Client, repo client.Repository, tag string, labels, annotations map[string]string) digest.Digest {
	t.Helper()
	ctx := context.Background()
	cfg := fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","config":{"Labels":%s},"rootfs":{"type":"layers","diff_ids":[]}}`, jsonOf(labels))
	cd := digest.FromBytes(cfg)
	must(t, c.BlobPut(ctx, repo, cd.String(), int64(len(cfg)), bytes.NewReader(cfg)))
	m := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[],"annotations":%s}`,
		cd, len(cfg), jsonOf(annotations))
	d, err := c.ManifestPut(ctx, repo, tag, "application/vnd.oci.image.manifest.v1+json", m)
	must(t, err)
	return digest.Digest(d)
}

func jsonOf(m map[string]string) string {
	var b strings.Builder
	b.WriteString("{")
	first := true
	for k, v := range m {
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, "%q:%q", k, v)
	}
	b.WriteString("}")
	return b.String()
}

// flatpakLabels are the labels build-bundle writes, with a hostile summary.
func flatpakLabels(id string, icon []byte, summary string) map[string]string {
	return map[string]string{
		"org.flatpak.ref":      "app/" + id + "/x86_64/stable",
		"org.flatpak.metadata": "[Application]\nname=" + id + "\nruntime=org.example.Platform/x86_64/24\n",
		"org.freedesktop.appstream.appdata": `<?xml version="1.0"?><components><component type="desktop-application"><id>` + id +
			`</id><name>App ` + id + `</name><summary>` + summary + `</summary><description><p>Line one.</p><ul><li>item</li></ul></description>` +
			`<releases><release version="2.0" date="2025-01-02"><description><p>Notes &lt;b&gt;bold&lt;/b&gt;</p></description></release></releases></component></components>`,
		"org.freedesktop.appstream.icon-64": "data:image/png;base64," + base64.StdEncoding.EncodeToString(icon),
	}
}

// browser is a cookie-keeping HTTP client that does not follow redirects.
type browser struct {
	t   *testing.T
	c   *http.Client
	url string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, url: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(method, path string, form url.Values, header ...string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.url+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := b.c.Do(req)
	must(b.t, err)
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(data)
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	resp, body := b.do("GET", path, nil)
	return resp.StatusCode, body
}

var tokenField = regexp.MustCompile(`name="token" value="([^"]+)"`)
var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *browser) login(name, password string) *http.Response {
	b.t.Helper()
	_, form := b.get("/ui/login?next=/ui/apps")
	m := tokenField.FindStringSubmatch(form)
	if m == nil {
		b.t.Fatalf("login form without token: %s", form)
	}
	resp, _ := b.do("POST", "/ui/login", url.Values{"token": {m[1]}, "name": {name}, "password": {password}, "next": {"/ui/apps"}})
	return resp
}

func TestUIShowsWhatTheCallerMayPullAndLoginRevealsMore(t *testing.T) {
	hs := startWithAuth(t)
	alice := userClient("alice")
	pushLabelled(t, alice, client.Repository{Host: host(hs), Name: "public/tool"}, "v1", map[string]string{"a": "b"}, nil)
	pushLabelled(t, alice, client.Repository{Host: host(hs), Name: "team/secret"}, "v1", map[string]string{"a": "b"}, nil)

	anon := newBrowser(t, hs.URL)
	code, home := anon.get("/")
	if code != 200 || !strings.Contains(home, "public/tool") || strings.Contains(home, "team/secret") {
		t.Fatalf("anonymous home page: %d\n%s", code, home)
	}
	hiddenCode, hidden := anon.get("/ui/r/team/secret")
	missingCode, missing := anon.get("/ui/r/team/nothing")
	// The pages differ only in the path asked for (in the login link).
	if hiddenCode != 404 || missingCode != 404 || strings.ReplaceAll(hidden, "team%2fsecret", "X") != strings.ReplaceAll(missing, "team%2fnothing", "X") {
		t.Fatalf("a private repository answers %d, a missing one %d; the pages differ:\n%s\n%s", hiddenCode, missingCode, hidden, missing)
	}
	if code, _ := anon.get("/ui/r/public/tool"); code != 200 {
		t.Fatalf("public repository page: %d", code)
	}

	b := newBrowser(t, hs.URL)
	if resp := b.login("alice", "wrong"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	resp := b.login("alice", "alice-pw")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/apps" {
		t.Fatalf("login: %d %v", resp.StatusCode, resp.Header)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "berth_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
		t.Fatalf("session cookie %+v (over plain HTTP it is not Secure)", session)
	}
	code, home = b.get("/?q=secr")
	if code != 200 || !strings.Contains(home, "team/secret") || strings.Contains(home, "public/tool") || !strings.Contains(home, "alice") {
		t.Fatalf("alice's search: %d\n%s", code, home)
	}
	if code, _ := b.get("/ui/r/team/secret"); code != 200 {
		t.Fatalf("alice's private repository: %d", code)
	}
	// Logging out needs the page's token, from this site.
	if resp, _ := b.do("POST", "/ui/logout", url.Values{"csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without the token: %d", resp.StatusCode)
	}
	csrf := csrfField.FindStringSubmatch(home)
	if csrf == nil {
		t.Fatal("no logout form for a logged-in user")
	}
	if resp, _ := b.do("POST", "/ui/logout", url.Values{"csrf": {csrf[1]}}, "Origin", "https://evil.example"); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout from another site: %d", resp.StatusCode)
	}
	if resp, _ := b.do("POST", "/ui/logout", url.Values{"csrf": {csrf[1]}}, "Origin", hs.URL); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if _, home := b.get("/"); strings.Contains(home, "team/secret") {
		t.Fatal("still logged in after logout")
	}
}

func TestUILoginRefusesForeignAndExpiredForms(t *testing.T) {
	hs := startWithAuth(t)
	b := newBrowser(t, hs.URL)
	if resp, _ := b.do("POST", "/ui/login", url.Values{"name": {"alice"}, "password": {"alice-pw"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login without the form's token: %d", resp.StatusCode)
	}
	_, form := b.get("/ui/login")
	tok := tokenField.FindStringSubmatch(form)[1]
	resp, _ := b.do("POST", "/ui/login", url.Values{"token": {tok}, "name": {"alice"}, "password": {"alice-pw"}}, "Sec-Fetch-Site", "cross-site")
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login posted from another site: %d", resp.StatusCode)
	}
	// A redirect target elsewhere is replaced by the home page.
	_, form = b.get("/ui/login")
	tok = tokenField.FindStringSubmatch(form)[1]
	resp, _ = b.do("POST", "/ui/login", url.Values{"token": {tok}, "name": {"alice"}, "password": {"alice-pw"}, "next": {"//evil.example/"}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("open redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestUISessionCookieIsSecureUnderTLS(t *testing.T) {
	hs, _ := startWithAuthConfig(t, func(c *config.Config) { c.TrustProxyHeaders = true })
	b := newBrowser(t, hs.URL)
	_, form := b.get("/ui/login")
	tok := tokenField.FindStringSubmatch(form)[1]
	resp, _ := b.do("POST", "/ui/login", url.Values{"token": {tok}, "name": {"alice"}, "password": {"alice-pw"}}, "X-Forwarded-Proto", "https")
	for _, c := range resp.Cookies() {
		if c.Name == "berth_session" && !c.Secure {
			t.Fatalf("session cookie over HTTPS is not Secure: %+v", c)
		}
	}
}

func TestUIGalleryIconsAndHostileTextRenderAsText(t *testing.T) {
	hs := startWithAuth(t)
	alice := userClient("alice")
	pubIcon, privIcon := testPNG(t, 64, 1), testPNG(t, 64, 2)
	hostile := "&lt;script&gt;alert(1)&lt;/script&gt;"
	pushLabelled(t, alice, client.Repository{Host: host(hs), Name: "public/app"}, "latest", flatpakLabels("org.example.Public", pubIcon, hostile),
		map[string]string{"org.opencontainers.image.description": `<img src=x onerror="alert(2)">`})
	pushLabelled(t, alice, client.Repository{Host: host(hs), Name: "team/app"}, "latest", flatpakLabels("org.example.Private", privIcon, "private"), nil)

	anon := newBrowser(t, hs.URL)
	code, gallery := anon.get("/ui/apps")
	if code != 200 || !strings.Contains(gallery, "App org.example.Public") || strings.Contains(gallery, "org.example.Private") {
		t.Fatalf("anonymous gallery: %d\n%s", code, gallery)
	}
	if !strings.Contains(gallery, "&lt;script&gt;alert(1)&lt;/script&gt;") || strings.Contains(gallery, "<script>alert") {
		t.Fatalf("hostile summary not escaped:\n%s", gallery)
	}
	pubPath := "/icons/" + digest.FromBytes(pubIcon).Encoded() + ".png"
	privPath := "/icons/" + digest.FromBytes(privIcon).Encoded() + ".png"
	if !strings.Contains(gallery, pubPath) || !strings.Contains(gallery, "/flatpak/org.example.Public.flatpakref") {
		t.Fatalf("gallery lacks the icon or the install link:\n%s", gallery)
	}
	resp, data := anon.do("GET", pubPath, nil)
	if resp.StatusCode != 200 || data != string(pubIcon) || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("public icon: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := anon.do("GET", privPath, nil); resp.StatusCode != 404 {
		t.Fatalf("private icon for anonymous: %d", resp.StatusCode)
	}
	code, page := anon.get("/ui/apps/org.example.Public")
	if code != 200 || !strings.Contains(page, "Line one.") || !strings.Contains(page, "Notes &lt;b&gt;bold&lt;/b&gt;") || strings.Contains(page, "<b>bold") {
		t.Fatalf("app page: %d\n%s", code, page)
	}
	if code, _ := anon.get("/ui/apps/org.example.Private"); code != 404 {
		t.Fatalf("private app page for anonymous: %d", code)
	}
	// The manifest page shows labels and annotations as text.
	code, repo := anon.get("/ui/r/public/app")
	link := regexp.MustCompile(`href="(/ui/r/public/app/-/manifest/[^"]+)"`).FindStringSubmatch(repo)
	if code != 200 || link == nil {
		t.Fatalf("repository page: %d\n%s", code, repo)
	}
	code, man := anon.get(strings.ReplaceAll(link[1], "%3A", ":"))
	if code != 200 || !strings.Contains(man, "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;") || strings.Contains(man, "<img src=x") ||
		!strings.Contains(man, "org.flatpak.ref") {
		t.Fatalf("manifest page: %d\n%s", code, man)
	}

	b := newBrowser(t, hs.URL)
	b.login("alice", "alice-pw")
	if _, gallery := b.get("/ui/apps"); !strings.Contains(gallery, "org.example.Private") {
		t.Fatalf("alice's gallery lacks her private app:\n%s", gallery)
	}
	resp, data = b.do("GET", privPath, nil)
	if resp.StatusCode != 200 || data != string(privIcon) || !strings.HasPrefix(resp.Header.Get("Cache-Control"), "private") {
		t.Fatalf("private icon for alice: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestUITagsPageByNameAndNewest(t *testing.T) {
	hs, _ := start(t, nil)
	c := client.New(client.WithPlainHTTP(true))
	repo := client.Repository{Host: host(hs), Name: "many/tags"}
	for i := range 55 {
		pushLabelled(t, c, repo, fmt.Sprintf("t%02d", i), map[string]string{"i": fmt.Sprint(i)}, nil)
	}
	b := newBrowser(t, hs.URL)
	code, first := b.get("/ui/r/many/tags")
	next := regexp.MustCompile(`rel="next" href="([^"]+)"`).FindStringSubmatch(first)
	if code != 200 || !strings.Contains(first, ">t00<") || !strings.Contains(first, ">t49<") || strings.Contains(first, ">t50<") || next == nil {
		t.Fatalf("first page by name: %d", code)
	}
	_, second := b.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	if !strings.Contains(second, ">t50<") || !strings.Contains(second, ">t54<") || strings.Contains(second, ">t49<") {
		t.Fatalf("second page by name:\n%s", second)
	}
	_, newest := b.get("/ui/r/many/tags?sort=newest")
	if i, j := strings.Index(newest, ">t54<"), strings.Index(newest, ">t53<"); i < 0 || j < 0 || i > j || strings.Contains(newest, ">t04<") {
		t.Fatalf("newest first:\n%s", newest)
	}
	if !strings.Contains(first, "55 tags") || !strings.Contains(first, "docker pull "+host(hs)+"/many/tags:") {
		t.Fatalf("repository facts or pull commands missing:\n%s", first)
	}
}

func TestUIOffAnswers404(t *testing.T) {
	hs, _ := start(t, func(c *config.Config) { c.UI.Enabled = false })
	for _, p := range []string{"/", "/ui/apps", "/icons/" + digest.FromString("x").Encoded() + ".png"} {
		if resp, _ := do(t, "GET", hs.URL+p); resp.StatusCode != 404 {
			t.Errorf("%s with the UI off: %d", p, resp.StatusCode)
		}
	}
	hsOn, _ := start(t, nil)
	if resp, body := do(t, "GET", hsOn.URL+"/"); resp.StatusCode != 200 || !strings.Contains(body, "Repositories") ||
		!strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("UI on by default: %d %v", resp.StatusCode, resp.Header)
	}
}
