package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/appstream"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/config"
)

// The existence-oracle suite: every path a caller can reach is asked the same questions
// of two registries that differ only in content the caller cannot read — in one, alice
// has pushed an image, an index, a referrer and an open upload into the private
// team/app (and a few more private repositories); in the other, none of it exists. The
// answers must be identical byte for byte (status, every header but Date and
// Server-Timing, body), and so must the store operations each request caused, which is
// what its timing is made of.

// Content, identical in both registries where it exists.
var (
	secretConfig = []byte(`{"architecture":"amd64","os":"linux","config":{"Labels":{"org.flatpak.ref":"app/org.secret.App/x86_64/stable","com.example.secret":"s3cret"}}}`)
	secretLayer  = []byte("the bytes of a private layer")
	publicConfig = []byte(`{"architecture":"amd64","os":"linux","config":{"Labels":{"org.flatpak.ref":"app/org.public.App/x86_64/stable"}}}`)
	publicLayer  = []byte("the bytes of a public layer")
	bobConfig    = []byte(`{"architecture":"arm64","os":"linux"}`)
	bobLayer     = []byte("the bytes of bob's layer")
	emptyConfig  = []byte("{}")
	// An app with an icon, pushed into the private repository only (no probe names it,
	// so no probe can make the icon exist in both registries).
	secretIcon      = squarePNG(64)
	secretAppConfig = fmt.Appendf(nil, `{"architecture":"amd64","os":"linux","config":{"Labels":{"org.flatpak.ref":"app/org.secret.Icon/x86_64/stable","org.freedesktop.appstream.icon-64":"%s"}}}`,
		appstream.DataURI(secretIcon))
)

// squarePNG is a valid PNG of size×size pixels: an icon the push extracts and stores.
func squarePNG(size int) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, size, size))); err != nil {
		panic(err)
	}
	return b.Bytes()
}

const (
	ociManifest = "application/vnd.oci.image.manifest.v1+json"
	ociIndex    = "application/vnd.oci.image.index.v1+json"
)

func imageManifest(config, layer []byte, extra string) []byte {
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"%s","size":%d},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"%s","size":%d}]%s}`,
		ociManifest, digest.FromBytes(config), len(config), digest.FromBytes(layer), len(layer), extra)
}

func indexOf(manifest []byte) []byte {
	return fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"%s","manifests":[{"mediaType":"%s","digest":"%s","size":%d,"platform":{"architecture":"amd64","os":"linux"}}]}`,
		ociIndex, ociManifest, digest.FromBytes(manifest), len(manifest))
}

func subjectOf(manifest []byte) string {
	return fmt.Sprintf(`,"subject":{"mediaType":"%s","digest":"%s","size":%d}`, ociManifest, digest.FromBytes(manifest), len(manifest))
}

var (
	secretManifest = imageManifest(secretConfig, secretLayer, "")
	secretIndex    = indexOf(secretManifest)
	secretReferrer = fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":"%s","artifactType":"application/x-secret","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"%s","size":2},"layers":[]%s}`,
		ociManifest, digest.FromBytes(emptyConfig), subjectOf(secretManifest))
	publicManifest = imageManifest(publicConfig, publicLayer, "")
	bobManifest    = imageManifest(bobConfig, bobLayer, "")
)

// world is one registry of the pair.
type world struct {
	t      *testing.T
	url    string
	srv    *Server
	upload string // the id of alice's open upload in team/app (in both: it names none in one)
}

// newWorld starts a registry (with the rules of startWithAuth, and bob allowed to delete
// in bob/**, when withAuth) and pushes what bob and the public see; withSecrets adds the
// private content.
func newWorld(t *testing.T, withAuth, withSecrets bool) *world {
	t.Helper()
	adjust := func(c *config.Config) {
		c.GC.Enabled = false // nothing may touch the stores between requests
		c.Flatpak.Index = true
	}
	var hs *httptest.Server
	var srv *Server
	if withAuth {
		hs, srv = startWithAuthConfig(t, func(c *config.Config) {
			adjust(c)
			c.Auth.Rules = append(c.Auth.Rules, auth.Rule{Repositories: []string{"bob/**"}, Subjects: []string{"bob"}, Actions: []string{"delete"}})
		})
	} else {
		hs, srv = start(t, adjust)
	}
	w := &world{t: t, url: hs.URL, srv: srv}
	if withSecrets {
		w.pushImage("alice", "team/app", "v1", secretManifest, secretConfig, secretLayer)
		w.pushImage("alice", "team/app", "icon", imageManifest(secretAppConfig, secretLayer, ""), secretAppConfig, secretLayer)
		w.pushBlob("alice", "team/app", emptyConfig)
		w.put("alice", "team/app", "multi", ociIndex, secretIndex)
		w.put("alice", "team/app", digest.FromBytes(secretReferrer).String(), ociManifest, secretReferrer)
		for _, repo := range []string{"team/b", "team/c", "team/d"} {
			w.pushBlob("alice", repo, secretLayer)
		}
		resp := w.send("alice", http.MethodPost, "/v2/team/app/blobs/uploads/", nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("alice's upload: %d", resp.StatusCode)
		}
		w.upload = resp.Header.Get("Docker-Upload-UUID")
	}
	w.pushImage("alice", "public/app", "stable", publicManifest, publicConfig, publicLayer)
	w.pushImage("bob", "bob/x", "v0", bobManifest, bobConfig, bobLayer)
	return w
}

// send makes a request as user (a user name, "bob-token" for bob's bearer token for
// bob/x, or "" for anonymous).
func (w *world) send(user, method, path string, body []byte, header ...string) *http.Response {
	w.t.Helper()
	req, err := http.NewRequest(method, w.url+path, bytes.NewReader(body))
	must(w.t, err)
	switch user {
	case "":
	case "bob-token":
		req.Header.Set("Authorization", "Bearer "+token(w.t, w.url, "bob", "repository:bob/x:pull,push"))
	default:
		req.SetBasicAuth(user, user+"-pw")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no redirects followed, no gzip added
	must(w.t, err)
	return resp
}

func (w *world) pushBlob(user, repo string, data []byte) {
	w.t.Helper()
	resp := w.send(user, http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+digest.FromBytes(data).String(), data)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		w.t.Fatalf("push blob to %s as %s: %d", repo, user, resp.StatusCode)
	}
}

func (w *world) put(user, repo, ref, mediaType string, manifest []byte) {
	w.t.Helper()
	resp := w.send(user, http.MethodPut, "/v2/"+repo+"/manifests/"+ref, manifest, "Content-Type", mediaType)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		w.t.Fatalf("push manifest %s to %s as %s: %d", ref, repo, user, resp.StatusCode)
	}
}

func (w *world) pushImage(user, repo, tag string, manifest, config, layer []byte) {
	w.pushBlob(user, repo, config)
	w.pushBlob(user, repo, layer)
	w.put(user, repo, tag, ociManifest, manifest)
}

// storeOps counts the store operations made so far, by store and operation, from the
// server's own metrics (with access control on, the registry address serves none).
func (w *world) storeOps() map[string]uint64 {
	w.t.Helper()
	families, err := w.srv.metrics.Gather()
	must(w.t, err)
	ops := map[string]uint64{}
	for _, f := range families {
		if f.GetName() != "berth_store_operation_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			ops[strings.Join(labels, ",")] = m.GetHistogram().GetSampleCount()
		}
	}
	return ops
}

// probe is one request of the suite.
type probe struct {
	name         string
	user         string // see world.send
	method, path string // path may hold {upload} (alice's upload id) and {loc} (the Location of the probe before)
	body         []byte
	header       []string
	authOff      bool // compared without auth too: the answer may not depend on other repositories at all
	// mayDiffer is the one store operation whose count the answers may differ by: a
	// residue docs/auth.md ("What a caller can learn") describes, not a difference in
	// anything the caller is sent.
	mayDiffer string
}

// finishLink is the residue of finishing an upload: a blob the registry holds is linked
// (link_existing_blob) before its bytes are committed, so that collection leaves them
// alone; one it does not hold is looked for the same way, found missing, and linked
// after the commit (link_blob). One durable metadata write either way.
const finishLink = "op=link_blob,store=metadata"

// answer is what a probe got, normalised only where a difference carries no information:
// Date, the random id of a new upload session, and the random parts of a token.
type answer struct {
	text   string
	loc    string
	status int
}

func (w *world) ask(p probe, prevLoc string) answer {
	w.t.Helper()
	path := strings.ReplaceAll(p.path, "{loc}", prevLoc)
	path = strings.ReplaceAll(path, "{upload}", w.upload)
	before := w.storeOps()
	resp := w.send(p.user, p.method, path, p.body, p.header...)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	must(w.t, err)
	loc := strings.TrimPrefix(resp.Header.Get("Location"), w.url)
	after := w.storeOps()

	id := resp.Header.Get("Docker-Upload-UUID")
	var b strings.Builder
	fmt.Fprintf(&b, "%d\n", resp.StatusCode)
	names := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		// Server-Timing (the web UI's render time) is a clock reading, as Date is; what
		// the time is made of is compared below, as store operations.
		if k != "Date" && k != "Server-Timing" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range resp.Header[k] {
			if id != "" {
				v = strings.ReplaceAll(v, id, "<new upload>")
			}
			fmt.Fprintf(&b, "%s: %s\n", k, strings.ReplaceAll(v, w.url, "<base>"))
		}
	}
	if strings.HasPrefix(path, "/token") {
		body = tokenClaims(w.t, body)
	}
	// The web UI shows when public content was pushed: a clock reading of each world's
	// own seeding, like Date.
	body = pushTimes.ReplaceAll(body, []byte("<time>"))
	fmt.Fprintf(&b, "\n%s\n--- store operations:\n", strings.ReplaceAll(string(body), w.url, "<base>"))
	ops := make([]string, 0, len(after))
	for k, v := range after {
		if k == p.mayDiffer {
			continue
		}
		if d := v - before[k]; d != 0 {
			ops = append(ops, fmt.Sprintf("%s %v", k, d))
		}
	}
	slices.Sort(ops)
	b.WriteString(strings.Join(ops, "\n"))
	return answer{text: b.String(), loc: loc, status: resp.StatusCode}
}

// pushTimes are the web UI's renderings of a push time: <time datetime="…">…</time>.
var pushTimes = regexp.MustCompile(`<time datetime="[^"]*">[^<]*</time>`)

// tokenClaims replaces a token answer by what it grants: the token itself differs in
// every answer (key, time, id), its grants must not.
func tokenClaims(t *testing.T, body []byte) []byte {
	var tr struct {
		Token string `json:"token"`
	}
	if json.Unmarshal(body, &tr) != nil || tr.Token == "" {
		return body
	}
	parts := strings.Split(tr.Token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q", tr.Token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	must(t, err)
	var claims struct {
		Subject string        `json:"sub"`
		Access  []auth.Access `json:"access"`
	}
	must(t, json.Unmarshal(payload, &claims))
	out, _ := json.Marshal(claims)
	return out
}

func oracleProbes() []probe {
	d := func(b []byte) string { return digest.FromBytes(b).String() }
	sm, sl, sc := d(secretManifest), d(secretLayer), d(secretConfig)
	tok := func(scope string) string { return "/token?service=berth&scope=" + scope }
	return []probe{
		// Manifest pushes into bob's repository naming private content.
		{name: "manifest naming a private config", user: "bob", method: "PUT", path: "/v2/bob/x/manifests/p1",
			body: imageManifest(secretConfig, bobLayer, ""), header: []string{"Content-Type", ociManifest}, authOff: true},
		{name: "manifest naming a private layer", user: "bob", method: "PUT", path: "/v2/bob/x/manifests/p2",
			body: imageManifest(bobConfig, secretLayer, ""), header: []string{"Content-Type", ociManifest}, authOff: true},
		{name: "index naming a private manifest", user: "bob", method: "PUT", path: "/v2/bob/x/manifests/p3",
			body: secretIndex, header: []string{"Content-Type", ociIndex}, authOff: true},
		{name: "index naming a private manifest, by digest with tags", user: "bob", method: "PUT", path: "/v2/bob/x/manifests/" + d(secretIndex) + "?tag=p4",
			body: secretIndex, header: []string{"Content-Type", ociIndex}, authOff: true},
		{name: "manifest with a private subject", user: "bob", method: "PUT", path: "/v2/bob/x/manifests/p5",
			body: imageManifest(bobConfig, bobLayer, subjectOf(secretManifest)), header: []string{"Content-Type", ociManifest}, authOff: true},

		// Reads in bob's repository by private digests, and reads of the private one.
		{name: "GET own manifest by a private digest", user: "bob", method: "GET", path: "/v2/bob/x/manifests/" + sm, authOff: true},
		{name: "HEAD own manifest by a private digest", user: "bob", method: "HEAD", path: "/v2/bob/x/manifests/" + d(secretIndex), authOff: true},
		{name: "HEAD own blob by a private digest", user: "bob", method: "HEAD", path: "/v2/bob/x/blobs/" + sl, authOff: true},
		{name: "GET own blob by a private digest", user: "bob", method: "GET", path: "/v2/bob/x/blobs/" + sl, authOff: true},
		{name: "GET own blob by a private digest, with Range", user: "bob", method: "GET", path: "/v2/bob/x/blobs/" + sc, header: []string{"Range", "bytes=0-3"}, authOff: true},
		{name: "GET private manifest", user: "bob", method: "GET", path: "/v2/team/app/manifests/v1"},
		{name: "HEAD private manifest by digest", user: "bob", method: "HEAD", path: "/v2/team/app/manifests/" + sm},
		{name: "GET private manifest, anonymous", method: "GET", path: "/v2/team/app/manifests/v1"},
		{name: "GET private blob", user: "bob", method: "GET", path: "/v2/team/app/blobs/" + sl},
		{name: "HEAD private blob", user: "bob-token", method: "HEAD", path: "/v2/team/app/blobs/" + sl},
		{name: "DELETE private blob", user: "bob", method: "DELETE", path: "/v2/team/app/blobs/" + sl},
		{name: "DELETE own blob by a private digest", user: "bob", method: "DELETE", path: "/v2/bob/x/blobs/" + sl, authOff: true},
		{name: "DELETE own manifest by a private digest", user: "bob", method: "DELETE", path: "/v2/bob/x/manifests/" + sm, authOff: true},
		{name: "DELETE own tag by a private tag's name", user: "bob", method: "DELETE", path: "/v2/bob/x/manifests/v1", authOff: true},

		// Mounts.
		{name: "mount from the private repository", user: "bob", method: "POST", path: "/v2/bob/x/blobs/uploads/?mount=" + sl + "&from=team/app"},
		{name: "mount from the private repository, with a token", user: "bob-token", method: "POST", path: "/v2/bob/x/blobs/uploads/?mount=" + sl + "&from=team/app"},
		{name: "mount without from", user: "bob", method: "POST", path: "/v2/bob/x/blobs/uploads/?mount=" + sl},
		{name: "mount without from, with a token", user: "bob-token", method: "POST", path: "/v2/bob/x/blobs/uploads/?mount=" + sc},
		{name: "mount from own repository that lacks it", user: "bob", method: "POST", path: "/v2/bob/x/blobs/uploads/?mount=" + sl + "&from=bob/x", authOff: true},
		{name: "mount from a missing repository", user: "bob", method: "POST", path: "/v2/bob/x/blobs/uploads/?mount=" + sl + "&from=bob/nothing", authOff: true},

		// Another repository's upload session, addressed through bob's repository.
		{name: "status of alice's upload", user: "bob", method: "GET", path: "/v2/bob/x/blobs/uploads/{upload}", authOff: true},
		{name: "PATCH alice's upload", user: "bob", method: "PATCH", path: "/v2/bob/x/blobs/uploads/{upload}", body: []byte("x"), authOff: true},
		{name: "PATCH alice's upload out of order", user: "bob", method: "PATCH", path: "/v2/bob/x/blobs/uploads/{upload}", body: []byte("x"), header: []string{"Content-Range", "5-5"}, authOff: true},
		{name: "finish alice's upload", user: "bob", method: "PUT", path: "/v2/bob/x/blobs/uploads/{upload}?digest=" + sl, authOff: true},
		{name: "cancel alice's upload", user: "bob", method: "DELETE", path: "/v2/bob/x/blobs/uploads/{upload}", authOff: true},
		{name: "status of alice's upload in her repository", user: "bob", method: "GET", path: "/v2/team/app/blobs/uploads/{upload}"},

		// Uploads of content that exists elsewhere.
		{name: "monolithic upload of a private blob", user: "bob", method: "POST", path: "/v2/bob/x/blobs/uploads/?digest=" + sl, body: secretLayer, authOff: true, mayDiffer: finishLink},
		{name: "start an upload", user: "bob", method: "POST", path: "/v2/bob/x/blobs/uploads/", authOff: true},
		{name: "finish it as a private config", user: "bob", method: "PUT", path: "{loc}?digest=" + sc, body: secretConfig, authOff: true, mayDiffer: finishLink},
		{name: "manifest naming the now-own config", user: "bob", method: "PUT", path: "/v2/bob/x/manifests/p6",
			body: imageManifest(secretConfig, bobLayer, ""), header: []string{"Content-Type", ociManifest}, authOff: true},
		{name: "the private manifest itself, its blobs now own", user: "bob", method: "PUT", path: "/v2/bob/x/manifests/" + sm,
			body: secretManifest, header: []string{"Content-Type", ociManifest}, authOff: true},

		// Referrers and tags.
		{name: "own referrers of a private subject", user: "bob", method: "GET", path: "/v2/bob/x/referrers/" + sm, authOff: true},
		{name: "own referrers of a private subject, filtered", user: "bob", method: "GET", path: "/v2/bob/x/referrers/" + sm + "?artifactType=application/x-secret", authOff: true},
		{name: "private referrers", user: "bob", method: "GET", path: "/v2/team/app/referrers/" + sm},
		{name: "private tags", user: "bob", method: "GET", path: "/v2/team/app/tags/list"},
		{name: "private tags, n=0", user: "bob", method: "GET", path: "/v2/team/app/tags/list?n=0"},
		{name: "own tags", user: "bob", method: "GET", path: "/v2/bob/x/tags/list", authOff: true},

		// The catalog.
		{name: "catalog", user: "bob", method: "GET", path: "/v2/_catalog"},
		{name: "catalog, n=1", user: "bob", method: "GET", path: "/v2/_catalog?n=1"},
		{name: "catalog, next page", user: "bob", method: "GET", path: "/v2/_catalog?n=1&last=bob/x"},
		{name: "catalog, last page", user: "bob", method: "GET", path: "/v2/_catalog?n=1&last=public/app"},
		{name: "catalog after a private name", user: "bob", method: "GET", path: "/v2/_catalog?n=1&last=team/app"},
		{name: "catalog before a private name", user: "bob", method: "GET", path: "/v2/_catalog?last=team/ap"},
		{name: "catalog, anonymous", method: "GET", path: "/v2/_catalog"},
		{name: "catalog with a token", user: "bob-token", method: "GET", path: "/v2/_catalog"},

		// The Flatpak index and install files.
		{name: "static index", method: "GET", path: "/index/static?label:org.flatpak.ref:exists=1"},
		{name: "static index, gzip", method: "GET", path: "/index/static?label:org.flatpak.ref:exists=1", header: []string{"Accept-Encoding", "gzip"}},
		{name: "static index, a private label", method: "GET", path: "/index/static?label:com.example.secret=s3cret"},
		{name: "dynamic index, a private label", method: "GET", path: "/index/dynamic?label:com.example.secret=s3cret"},
		{name: "dynamic index, a private label as bob", user: "bob", method: "GET", path: "/index/dynamic?label:com.example.secret=s3cret&architecture=amd64"},
		{name: "private flatpakref", method: "GET", path: "/flatpak/org.secret.App.flatpakref"},
		{name: "public flatpakref", method: "GET", path: "/flatpak/org.public.App.flatpakref"},
		{name: "flatpakrepo", method: "GET", path: "/flatpak/repo.flatpakrepo"},

		// The token endpoint.
		{name: "token for the private repository", user: "bob", method: "GET", path: tok("repository:team/app:pull")},
		{name: "token to push to the private repository", user: "bob", method: "GET", path: tok("repository:team/app:pull,push")},
		{name: "token for the private repository, anonymous", method: "GET", path: tok("repository:team/app:pull")},
		{name: "token for private and own", user: "bob", method: "GET", path: tok("repository:team/app:pull") + "&scope=repository:bob/x:pull"},
		{name: "token for the catalog", user: "bob", method: "GET", path: tok("registry:catalog:*")},
		{name: "ping", user: "bob", method: "GET", path: "/v2/"},

		// Berth's tag history API, and the immutable override.
		{name: "history of a private tag", user: "bob", method: "GET", path: "/berth/v1/repositories/team/app/tags/v1/history"},
		{name: "history of a private tag, anonymous", method: "GET", path: "/berth/v1/repositories/team/app/tags/v1/history"},
		{name: "history of a private tag, with a token", user: "bob-token", method: "GET", path: "/berth/v1/repositories/team/app/tags/v1/history?n=1"},
		{name: "history of own tag named as a private one", user: "bob", method: "GET", path: "/berth/v1/repositories/bob/x/tags/v1/history", authOff: true},
		{name: "DELETE private tag with the override", user: "bob", method: "DELETE", path: "/v2/team/app/manifests/v1?override=immutable"},
		{name: "DELETE own tag with the override", user: "bob", method: "DELETE", path: "/v2/bob/x/manifests/v1?override=immutable", authOff: true},

		// Berth's usage API. Each namespace here has one set of readers (team, bob,
		// public); docs/auth.md says what a namespace shared by readers and non-readers
		// shows. bob's rules rule out team, so the list passes over it unlooked-at.
		{name: "usage of own repository", user: "bob", method: "GET", path: "/berth/v1/usage/bob/x", authOff: true},
		{name: "usage of a missing own repository", user: "bob", method: "GET", path: "/berth/v1/usage/bob/nothing", authOff: true},
		{name: "usage of the private repository", user: "bob", method: "GET", path: "/berth/v1/usage/team/app"},
		{name: "usage of the private repository, anonymous", method: "GET", path: "/berth/v1/usage/team/app"},
		{name: "usage list", user: "bob", method: "GET", path: "/berth/v1/usage"},
		{name: "usage list, n=1", user: "bob", method: "GET", path: "/berth/v1/usage?n=1"},
		{name: "usage list after bob", user: "bob", method: "GET", path: "/berth/v1/usage?n=1&last=bob"},
		{name: "usage list after public", user: "bob", method: "GET", path: "/berth/v1/usage?last=public"},
		{name: "usage list, anonymous", method: "GET", path: "/berth/v1/usage"},
		{name: "usage list with a token", user: "bob-token", method: "GET", path: "/berth/v1/usage"},

		// The web UI, anonymous: hidden content is neither listed nor found.
		{name: "UI repositories", method: "GET", path: "/"},
		{name: "UI search for the private repository", method: "GET", path: "/?q=team"},
		{name: "UI private repository", method: "GET", path: "/ui/r/team/app"},
		{name: "UI private repository, newest tags", method: "GET", path: "/ui/r/team/app?sort=newest"},
		{name: "UI private manifest", method: "GET", path: "/ui/r/team/app/-/manifest/" + sm},
		{name: "UI gallery", method: "GET", path: "/ui/apps"},
		{name: "UI private app", method: "GET", path: "/ui/apps/org.secret.App"},

		// The icon extracted from the private image: as unknown as an icon never pushed,
		// to anonymous callers and to users who may not pull the repository.
		{name: "icon of the private app, anonymous", method: "GET", path: appstream.IconPath(digest.FromBytes(secretIcon))},
		{name: "icon of the private app, HEAD", method: "HEAD", path: appstream.IconPath(digest.FromBytes(secretIcon))},
		{name: "icon of the private app, revalidated", method: "GET", path: appstream.IconPath(digest.FromBytes(secretIcon)),
			header: []string{"If-None-Match", `"` + digest.FromBytes(secretIcon).Encoded() + `"`}},
		{name: "icon of the private app, another user", user: "bob", method: "GET", path: appstream.IconPath(digest.FromBytes(secretIcon))},

		// Operations endpoints on the registry's address.
		{name: "metrics", method: "GET", path: "/metrics"},
		{name: "readiness", method: "GET", path: "/readyz"},
	}
}

// TestAnswersAlikeWhetherHiddenContentExists compares every probe's answer in a registry
// where the private content exists and in one where it never did.
func TestAnswersAlikeWhetherHiddenContentExists(t *testing.T) {
	for _, withAuth := range []bool{true, false} {
		t.Run(map[bool]string{true: "auth", false: "no auth"}[withAuth], func(t *testing.T) {
			exists, missing := newWorld(t, withAuth, true), newWorld(t, withAuth, false)
			missing.upload = exists.upload // an id that names a session there and none here
			var locE, locM string
			for _, p := range oracleProbes() {
				if !withAuth && !p.authOff {
					continue
				}
				if !withAuth {
					p.user = ""
				}
				a, b := exists.ask(p, locE), missing.ask(p, locM)
				locE, locM = a.loc, b.loc
				switch {
				case a.status >= 500:
					// Two failures alike would prove nothing.
					t.Errorf("%s (%s %s): %s", p.name, p.method, p.path, a.text)
				case a.text != b.text:
					t.Errorf("%s (%s %s): answers differ\n--- where it exists:\n%s\n--- where it does not:\n%s", p.name, p.method, p.path, a.text, b.text)
				}
			}
		})
	}
}

// TestMetricsWithAccessControlOnlyOnTheirOwnAddress: metrics tell what every caller did
// in every repository, so with access control on they are served on metrics.addr only.
func TestMetricsWithAccessControlOnlyOnTheirOwnAddress(t *testing.T) {
	for _, addr := range []string{"", "127.0.0.1:0"} {
		hs, srv := startWithAuthConfig(t, func(c *config.Config) { c.Metrics.Addr = addr })
		resp, err := http.Get(hs.URL + "/metrics")
		must(t, err)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("metrics.addr %q: /metrics on the registry address answers %d, want 404", addr, resp.StatusCode)
		}
		if addr == "" {
			continue
		}
		ops := httptest.NewServer(srv.ops)
		if v := metric(t, ops.URL, "berth_uploads_in_flight"); v != 0 {
			t.Errorf("metrics address: berth_uploads_in_flight = %v, want 0", v)
		}
		ops.Close()
	}
}
