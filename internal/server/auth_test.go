package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/auth"
	"github.com/berth-registry/berth/internal/config"
)

// startWithAuth serves Berth with users alice (group team) and bob: public/** is
// public, team/** belongs to the team, bob/** to bob.
func startWithAuth(t *testing.T) *httptest.Server {
	t.Helper()
	hs, _ := startWithAuthConfig(t, nil)
	return hs
}

// startWithAuthConfig is startWithAuth with the configuration adjusted further, and the
// server returned too.
func startWithAuthConfig(t *testing.T, adjust func(*config.Config)) (*httptest.Server, *Server) {
	t.Helper()
	var lines []string
	for _, u := range []string{"alice", "bob"} {
		h, err := bcrypt.GenerateFromPassword([]byte(u+"-pw"), bcrypt.MinCost)
		must(t, err)
		lines = append(lines, u+":"+string(h))
	}
	htpasswd := filepath.Join(t.TempDir(), "htpasswd")
	must(t, os.WriteFile(htpasswd, []byte(strings.Join(lines, "\n")+"\n"), 0o600))
	return start(t, func(c *config.Config) {
		c.Flatpak.Index = true
		c.Auth.Htpasswd = htpasswd
		c.Auth.Groups = map[string][]string{"team": {"alice"}}
		c.Auth.Rules = []auth.Rule{
			{Repositories: []string{"public/**"}, Subjects: []string{"anonymous"}, Actions: []string{"pull"}},
			{Repositories: []string{"public/**", "team/**"}, Subjects: []string{"group:team"}, Actions: []string{"pull", "push", "delete"}},
			{Repositories: []string{"bob/**"}, Subjects: []string{"bob"}, Actions: []string{"pull", "push"}},
		}
		if adjust != nil {
			adjust(c) // last, so that it may add rules too
		}
	})
}

func userClient(name string) *client.Client {
	return client.New(client.WithPlainHTTP(true), client.WithCredentials(func(string) (string, string, bool) {
		return name, name + "-pw", name != ""
	}))
}

func do(t *testing.T, method, url string, header ...string) (*http.Response, string) {
	t.Helper()
	return send(t, method, url, nil, header...)
}

// token asks the token service for scope as user (anonymous when "").
func token(t *testing.T, base, user, scope string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/token?service=berth&scope="+url.QueryEscape(scope), nil)
	if user != "" {
		req.SetBasicAuth(user, user+"-pw")
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	defer resp.Body.Close()
	var tr struct{ Token string }
	must(t, json.NewDecoder(resp.Body).Decode(&tr))
	if resp.StatusCode != 200 || tr.Token == "" {
		t.Fatalf("token for %s as %q: %d", scope, user, resp.StatusCode)
	}
	return tr.Token
}

func TestAuthRulesThroughTheTokenFlow(t *testing.T) {
	hs := startWithAuth(t)
	h := host(hs)
	alice, bob, anon := userClient("alice"), userClient("bob"), userClient("")
	teamApp := client.Repository{Host: h, Name: "team/app"}
	pubApp := client.Repository{Host: h, Name: "public/app"}

	// Pushes: the client follows Bearer challenges to /token with its credentials.
	if _, err := pushImageAs(alice, teamApp); err != nil {
		t.Fatalf("alice pushes to team/app: %v", err)
	}
	if _, err := pushImageAs(alice, pubApp); err != nil {
		t.Fatalf("alice pushes to public/app: %v", err)
	}
	for who, c := range map[string]*client.Client{"bob": bob, "anonymous": anon} {
		if _, err := pushImageAs(c, client.Repository{Host: h, Name: "team/other"}); client.StatusCode(err) != http.StatusUnauthorized {
			t.Errorf("%s pushes to team/other: %v, want 401", who, err)
		}
	}
	// Pulls.
	ctx := context.Background()
	if _, _, err := alice.ManifestGet(ctx, teamApp, "v1"); err != nil {
		t.Errorf("alice pulls team/app: %v", err)
	}
	for who, c := range map[string]*client.Client{"bob": bob, "anonymous": anon} {
		if _, _, err := c.ManifestGet(ctx, teamApp, "v1"); client.StatusCode(err) != http.StatusUnauthorized {
			t.Errorf("%s pulls team/app: %v, want 401", who, err)
		}
		if _, _, err := c.ManifestGet(ctx, pubApp, "v1"); err != nil {
			t.Errorf("%s pulls public/app: %v", who, err)
		}
	}
	// Deletes: bob may push to bob/** but not delete.
	if _, err := pushImageAs(bob, client.Repository{Host: h, Name: "bob/tool"}); err != nil {
		t.Fatalf("bob pushes to bob/tool: %v", err)
	}
	if err := bob.ManifestDelete(ctx, client.Repository{Host: h, Name: "bob/tool"}, "v1"); client.StatusCode(err) != http.StatusUnauthorized {
		t.Errorf("bob deletes in bob/tool: %v, want 401", err)
	}
	// The catalog shows each caller what it may pull.
	for who, want := range map[string][]string{"alice": {"public/app", "team/app"}, "bob": {"bob/tool", "public/app"}, "": {"public/app"}} {
		got, err := userClient(who).Catalog(ctx, h)
		if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("catalog as %q: %v, %v; want %v", who, got, err, want)
		}
	}
}

func TestAuthPrivateRepositoriesDoNotLeak(t *testing.T) {
	hs := startWithAuth(t)
	h := host(hs)
	layer, err := pushImageAs(userClient("alice"), client.Repository{Host: h, Name: "team/app"})
	must(t, err)
	// For every read path, an existing private repository and a missing one answer alike.
	for _, path := range []string{"/manifests/v1", "/manifests/nope", "/tags/list", "/blobs/" + layer.String(), "/referrers/" + layer.String()} {
		a, abody := do(t, http.MethodGet, hs.URL+"/v2/team/app"+path)
		b, bbody := do(t, http.MethodGet, hs.URL+"/v2/team/missing"+path)
		bbody = strings.ReplaceAll(bbody, "team/missing", "team/app")
		if a.StatusCode != http.StatusUnauthorized || a.StatusCode != b.StatusCode || abody != bbody ||
			strings.Replace(b.Header.Get("WWW-Authenticate"), "team/missing", "team/app", 1) != a.Header.Get("WWW-Authenticate") {
			t.Errorf("%s: existing %d %q / missing %d %q", path, a.StatusCode, abody, b.StatusCode, bbody)
		}
	}
	// A mount from a repository bob cannot pull is an ordinary upload, not a 201.
	bobToken := token(t, hs.URL, "bob", "repository:bob/x:pull,push")
	resp, _ := do(t, http.MethodPost, hs.URL+"/v2/bob/x/blobs/uploads/?mount="+layer.String()+"&from=team/app", "Authorization", "Bearer "+bobToken)
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("bob mounts from team/app: %d, want 202 (an upload session)", resp.StatusCode)
	}
	resp, _ = do(t, http.MethodPost, hs.URL+"/v2/bob/x/blobs/uploads/?mount="+layer.String(), "Authorization", "Bearer "+bobToken)
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("bob mounts without from: %d, want 202", resp.StatusCode)
	}
	// Without from, a mount finds the blob only in a repository the caller may pull:
	// alice may pull team/app, and bob may once alice has put the layer in public/.
	mount := func(who, into, query string) int {
		tok := token(t, hs.URL, who, "repository:"+into+":pull,push")
		resp, _ := do(t, http.MethodPost, hs.URL+"/v2/"+into+"/blobs/uploads/?mount="+layer.String()+query, "Authorization", "Bearer "+tok)
		return resp.StatusCode
	}
	if code := mount("alice", "team/copy", ""); code != http.StatusCreated {
		t.Errorf("alice mounts without from: %d, want 201", code)
	}
	if code := mount("alice", "public/mirror", "&from=team/app"); code != http.StatusCreated {
		t.Errorf("alice mounts from team/app into public/mirror: %d, want 201", code)
	}
	if code := mount("bob", "bob/y", ""); code != http.StatusCreated {
		t.Errorf("bob mounts without from a blob public/mirror holds: %d, want 201", code)
	}
	// The Flatpak index lists only public repositories.
	_, err = pushImageAs(userClient("alice"), client.Repository{Host: h, Name: "public/app"})
	must(t, err)
	_, index := do(t, http.MethodGet, hs.URL+"/index/static?label:org.flatpak.ref:exists=1")
	if !strings.Contains(index, `"public/app"`) || strings.Contains(index, "team/") {
		t.Errorf("flatpak index: %s", index)
	}
}

func TestAuthTokensAreCheckedStrictly(t *testing.T) {
	hs := startWithAuth(t)
	h := host(hs)
	_, err := pushImageAs(userClient("alice"), client.Repository{Host: h, Name: "team/app"})
	must(t, err)
	_, err = pushImageAs(userClient("alice"), client.Repository{Host: h, Name: "team/other"})
	must(t, err)

	tok := token(t, hs.URL, "alice", "repository:team/app:pull")
	if resp, _ := do(t, http.MethodGet, hs.URL+"/v2/team/app/manifests/v1", "Authorization", "Bearer "+tok); resp.StatusCode != 200 {
		t.Fatalf("token for team/app on team/app: %d", resp.StatusCode)
	}
	// A token for one repository does not open another, nor push to its own.
	resp, _ := do(t, http.MethodGet, hs.URL+"/v2/team/other/manifests/v1", "Authorization", "Bearer "+tok)
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
		t.Errorf("token for team/app on team/other: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	resp, _ = do(t, http.MethodPost, hs.URL+"/v2/team/app/blobs/uploads/", "Authorization", "Bearer "+tok)
	if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `scope="repository:team/app:pull,push"`) {
		t.Errorf("pull token used to push: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	// A token bob asked for team/app carries no grant for it.
	bobTok := token(t, hs.URL, "bob", "repository:team/app:pull")
	if resp, _ := do(t, http.MethodGet, hs.URL+"/v2/team/app/manifests/v1", "Authorization", "Bearer "+bobTok); resp.StatusCode != 401 {
		t.Errorf("bob's token on team/app: %d", resp.StatusCode)
	}
	// Garbage and tampered tokens are invalid_token.
	tampered := tok[:len(tok)-4] + "AAAA"
	for _, bad := range []string{"garbage", tampered} {
		resp, _ := do(t, http.MethodGet, hs.URL+"/v2/team/app/manifests/v1", "Authorization", "Bearer "+bad)
		if resp.StatusCode != 401 || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("token %.10s…: %d %q", bad, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// Basic credentials work directly for simple clients; wrong ones do not.
	resp, _ = do(t, http.MethodGet, hs.URL+"/v2/team/app/manifests/v1", "Authorization", "Basic "+basic("alice", "alice-pw"))
	if resp.StatusCode != 200 {
		t.Errorf("Basic alice: %d", resp.StatusCode)
	}
	resp, _ = do(t, http.MethodGet, hs.URL+"/v2/team/app/manifests/v1", "Authorization", "Basic "+basic("alice", "wrong"))
	if resp.StatusCode != 401 {
		t.Errorf("Basic with a wrong password: %d", resp.StatusCode)
	}
	// /v2/ asks anonymous callers to authenticate, with the realm of this server.
	resp, _ = do(t, http.MethodGet, hs.URL+"/v2/")
	want := `Bearer realm="` + hs.URL + `/token",service="berth"`
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != want {
		t.Errorf("anonymous /v2/: %d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
	}
}

func basic(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}
