package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

type tokenFixture struct {
	users  *Users
	issuer *Issuer
	auth   *Authenticator
	svc    *Service
	verify *Verifier
}

func newTokenFixture(t *testing.T) *tokenFixture {
	t.Helper()
	f := &tokenFixture{users: testUsers(t), issuer: testIssuer(t)}
	policy, err := NewPolicy(f.users, exampleRules())
	if err != nil {
		t.Fatal(err)
	}
	f.auth = NewAuthenticator(f.users, Limit{}, nil)
	f.svc = NewService(f.auth, policy, f.issuer, nil)
	if f.verify, err = NewVerifier(f.issuer.Trust()); err != nil {
		t.Fatal(err)
	}
	return f
}

type tokenReply struct {
	status int
	header http.Header
	body   tokenResponse
	errs   errorBody
}

func (f *tokenFixture) do(t *testing.T, r *http.Request) tokenReply {
	t.Helper()
	w := httptest.NewRecorder()
	f.svc.ServeHTTP(w, r)
	rep := tokenReply{status: w.Code, header: w.Header()}
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &rep.body); err != nil {
			t.Fatal(err)
		}
	} else if err := json.Unmarshal(w.Body.Bytes(), &rep.errs); err != nil || len(rep.errs.Errors) != 1 {
		t.Fatalf("error body %q: %v", w.Body.String(), err)
	}
	if rep.header.Get("Content-Type") != "application/json" || rep.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("headers %v", rep.header)
	}
	return rep
}

func (f *tokenFixture) get(t *testing.T, user, pw, query string) tokenReply {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/token?"+query, nil)
	if user != "" {
		r.SetBasicAuth(user, pw)
	}
	return f.do(t, r)
}

func (f *tokenFixture) post(t *testing.T, form url.Values) tokenReply {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return f.do(t, r)
}

// access verifies the token of a reply and returns its access claim.
func (f *tokenFixture) access(t *testing.T, rep tokenReply) (string, []Access) {
	t.Helper()
	if rep.status != http.StatusOK {
		t.Fatalf("status %d: %+v", rep.status, rep.errs)
	}
	b := rep.body
	if b.Token == "" || b.Token != b.AccessToken || b.ExpiresIn != 300 {
		t.Fatalf("response %+v", b)
	}
	if at, err := time.Parse(time.RFC3339, b.IssuedAt); err != nil || time.Since(at) > time.Minute {
		t.Fatalf("issued_at %q: %v", b.IssuedAt, err)
	}
	c, err := f.verify.Verify(context.Background(), b.Token)
	if err != nil {
		t.Fatal(err)
	}
	return c.Subject, c.Access
}

func TestTokenGET(t *testing.T) {
	f := newTokenFixture(t)
	pull := func(n string) []Access { return []Access{{Type: "repository", Name: n, Actions: []string{"pull"}}} }
	tests := []struct {
		name, user, pw, query string
		sub                   string
		want                  []Access
	}{
		{"anonymous public", "", "", "service=registry.test&scope=repository:library/alpine:pull", "", pull("library/alpine")},
		{"anonymous private gets a token without access", "", "", "scope=repository:dev/app:pull", "", []Access{}},
		{"login without scope", "alice", "alice-pw", "service=registry.test&offline_token=false", "alice", []Access{}},
		{"team push", "alice", "alice-pw", "service=registry.test&scope=repository:dev/app:pull,push",
			"alice", []Access{{Type: "repository", Name: "dev/app", Actions: []string{"pull", "push"}}}},
		{"intersection", "ci", "ci-pw", "scope=repository:dev/app:pull,push,delete&scope=repository:library/x:push,pull&scope=registry:catalog:*",
			"ci", []Access{{Type: "repository", Name: "dev/app", Actions: []string{"pull", "push"}}, pull("library/x")[0],
				{Type: "registry", Name: "catalog", Actions: []string{"*"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, acc := f.access(t, f.get(t, tt.user, tt.pw, tt.query))
			if sub != tt.sub || !reflect.DeepEqual(acc, tt.want) {
				t.Fatalf("sub %q access %+v, want %q %+v", sub, acc, tt.sub, tt.want)
			}
		})
	}
}

func TestTokenGETRefusals(t *testing.T) {
	f := newTokenFixture(t)
	tests := []struct {
		name, user, pw, query string
		method                string
		status                int
		code                  string
	}{
		{"wrong password", "alice", "nope", "scope=repository:dev/app:pull", "GET", 401, "UNAUTHORIZED"},
		{"unknown user", "mallory", "alice-pw", "", "GET", 401, "UNAUTHORIZED"},
		{"bad scope", "alice", "alice-pw", "scope=repository:dev/app", "GET", 400, "UNSUPPORTED"},
		{"other service", "alice", "alice-pw", "service=docker.io", "GET", 400, "UNSUPPORTED"},
		{"method", "", "", "", "PUT", 405, "UNSUPPORTED"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, "/token?"+tt.query, nil)
		if tt.user != "" {
			r.SetBasicAuth(tt.user, tt.pw)
		}
		rep := f.do(t, r)
		if rep.status != tt.status || rep.errs.Errors[0].Code != tt.code {
			t.Errorf("%s: %d %+v, want %d %s", tt.name, rep.status, rep.errs, tt.status, tt.code)
		}
		if tt.status == 401 && rep.header.Get("WWW-Authenticate") != `Basic realm="registry.test",charset="UTF-8"` {
			t.Errorf("%s: WWW-Authenticate %q", tt.name, rep.header.Get("WWW-Authenticate"))
		}
	}
}

func TestTokenOfflineAndRefresh(t *testing.T) {
	f := newTokenFixture(t)
	// GET with offline_token=true, as docker login asks.
	rep := f.get(t, "alice", "alice-pw", "service=registry.test&client_id=docker&offline_token=true")
	if rep.body.RefreshToken == "" {
		t.Fatal("no refresh_token for offline_token=true")
	}
	if rep := f.get(t, "", "", "offline_token=true"); rep.body.RefreshToken != "" {
		t.Fatal("anonymous caller got a refresh token")
	}
	// OAuth2 password grant with access_type=offline.
	rep = f.post(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"},
		"client_id": {"containerd"}, "access_type": {"offline"}, "service": {"registry.test"}, "scope": {"repository:dev/app:pull repository:dev/lib:push"}})
	sub, acc := f.access(t, rep)
	want := []Access{{Type: "repository", Name: "dev/app", Actions: []string{"pull"}}, {Type: "repository", Name: "dev/lib", Actions: []string{"push"}}}
	if sub != "alice" || !reflect.DeepEqual(acc, want) || rep.body.RefreshToken == "" {
		t.Fatalf("password grant: %q %+v refresh %q", sub, acc, rep.body.RefreshToken)
	}
	refresh := rep.body.RefreshToken
	if _, err := f.verify.Verify(context.Background(), refresh); err == nil {
		t.Fatal("a refresh token verifies as an access token")
	}
	// Without access_type=offline, no refresh token.
	if rep := f.post(t, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}); rep.body.RefreshToken != "" {
		t.Fatal("refresh token without access_type=offline")
	}
	rep = f.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "scope": {"repository:dev/app:push"}})
	if sub, acc := f.access(t, rep); sub != "alice" || len(acc) != 1 || acc[0].Actions[0] != "push" {
		t.Fatalf("refresh grant: %q %+v", sub, acc)
	}

	// A changed password or a removed user kills the refresh token; so does forgery.
	changed, err := NewUsers(map[string][]byte{"alice": []byte(hashOf(t, "new-pw"))}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	policy, _ := NewPolicy(changed, nil)
	other := NewService(NewAuthenticator(changed, Limit{}, nil), policy, f.issuer, nil)
	removed, _ := NewUsers(map[string][]byte{"bob": []byte(hashOf(t, "x"))}, nil, nil)
	policy2, _ := NewPolicy(removed, nil)
	gone := NewService(NewAuthenticator(removed, Limit{}, nil), policy2, f.issuer, nil)
	access, _ := f.issuer.Issue("alice", nil)
	for name, c := range map[string]struct {
		svc *Service
		tok string
	}{
		"password changed": {other, refresh},
		"user removed":     {gone, refresh},
		"access token":     {f.svc, access},
		"garbage":          {f.svc, "x.y.z"},
		"other issuer":     {NewService(f.auth, policy, testIssuer(t), nil), refresh},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {c.tok}}.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		c.svc.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized || !strings.Contains(w.Body.String(), `"code":"UNAUTHORIZED"`) {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
	}
}

func TestTokenPOSTRefusals(t *testing.T) {
	f := newTokenFixture(t)
	tests := []struct {
		name   string
		form   url.Values
		status int
	}{
		{"no grant_type", url.Values{"username": {"alice"}, "password": {"alice-pw"}}, 400},
		{"unknown grant_type", url.Values{"grant_type": {"client_credentials"}}, 400},
		{"no username", url.Values{"grant_type": {"password"}, "password": {"x"}}, 400},
		{"no refresh_token", url.Values{"grant_type": {"refresh_token"}}, 400},
		{"wrong password", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"x"}}, 401},
		{"bad scope", url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}, "scope": {"x"}}, 400},
		{"huge form", url.Values{"grant_type": {"password"}, "pad": {strings.Repeat("a", maxTokenForm)}}, 400},
	}
	for _, tt := range tests {
		if rep := f.post(t, tt.form); rep.status != tt.status {
			t.Errorf("%s: status %d %+v, want %d", tt.name, rep.status, rep.errs, tt.status)
		}
	}
}

// Against a real listener on 127.0.0.1, the way docker and containerd call it.
func TestTokenOverHTTP(t *testing.T) {
	f := newTokenFixture(t)
	srv := httptest.NewServer(f.svc)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/token?service=registry.test&scope=repository:bob/app:pull,push", nil)
	req.SetBasicAuth("bob", "bob-pw")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	c, err := f.verify.Verify(context.Background(), body.Token)
	if err != nil || !c.Allows("repository", "bob/app", "push") || c.Allows("repository", "bob/app", "delete") {
		t.Fatalf("claims %+v, %v", c, err)
	}
}
