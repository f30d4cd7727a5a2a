package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/quota"
)

// send makes a request with body and the header pairs given, and returns the response
// with its body read.
func send(t *testing.T, method, url string, body []byte, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	must(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// TestQuotaOverHTTP: a push over the namespace's limit is 403 DENIED with the usage and
// the limit, before its bytes are taken; usage shows in /metrics and the usage API.
func TestQuotaOverHTTP(t *testing.T) {
	hs, _ := start(t, func(c *config.Config) {
		c.Quotas = quota.Config{Namespaces: []quota.Rule{{Pattern: "q", Storage: 100, Tags: 5}}}
	})
	sixty, fifty := bytes.Repeat([]byte("6"), 60), bytes.Repeat([]byte("5"), 50)
	if resp, body := send(t, "POST", hs.URL+"/v2/q/a/blobs/uploads/?digest="+digest.FromBytes(sixty).String(), sixty); resp.StatusCode != 201 {
		t.Fatalf("first push: %d %s", resp.StatusCode, body)
	}
	resp, body := send(t, "POST", hs.URL+"/v2/q/a/blobs/uploads/?digest="+digest.FromBytes(fifty).String(), fifty)
	var e struct {
		Errors []struct{ Code, Message string }
	}
	_ = json.Unmarshal([]byte(body), &e)
	if resp.StatusCode != 403 || len(e.Errors) != 1 || e.Errors[0].Code != "DENIED" ||
		!strings.Contains(e.Errors[0].Message, "uses 60 B of 100 B, 50 B more") {
		t.Fatalf("push over the quota: %d %s", resp.StatusCode, body)
	}
	// A PATCH says its size in Content-Length: refused before the body is read.
	resp, _ = send(t, "POST", hs.URL+"/v2/q/a/blobs/uploads/", nil)
	loc := resp.Header.Get("Location")
	if resp, body := send(t, "PATCH", hs.URL+loc, fifty, "Content-Type", "application/octet-stream"); resp.StatusCode != 403 {
		t.Fatalf("PATCH over the quota: %d %s", resp.StatusCode, body)
	}
	if resp, _ := send(t, "GET", hs.URL+loc, nil); resp.StatusCode != 404 {
		t.Fatalf("the refused session answers %d, want 404: it is ended", resp.StatusCode)
	}

	if v := metric(t, hs.URL, `berth_namespace_usage_bytes{namespace="q"}`); v != 60 {
		t.Errorf("usage metric %v, want 60", v)
	}
	if v := metric(t, hs.URL, `berth_namespace_limit_bytes{namespace="q"}`); v != 100 {
		t.Errorf("limit metric %v, want 100", v)
	}
	c := client.New(client.WithPlainHTTP(true))
	u, err := c.Usage(context.Background(), client.Repository{Host: host(hs), Name: "q/a"})
	must(t, err)
	if u != (client.Usage{Namespace: "q", Bytes: 60, Objects: 1, Limit: 100, Repository: "q/a", TagLimit: 5}) {
		t.Fatalf("usage of q/a: %+v", u)
	}
	list, err := c.Usages(context.Background(), host(hs))
	if err != nil || len(list) != 1 || list[0] != (client.Usage{Namespace: "q", Bytes: 60, Objects: 1, Limit: 100}) {
		t.Fatalf("usage list: %+v, %v", list, err)
	}
	for path, want := range map[string]int{"/berth/v1/usage/Bad": 400, "/berth/v1/usage/q/a?x": 200} {
		if resp, _ := send(t, "GET", hs.URL+path, nil); resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	if resp, _ := send(t, "DELETE", hs.URL+"/berth/v1/usage/q/a", nil); resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("DELETE on the usage API: %d, Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// TestUsageFollowsAccessControl: a repository's usage needs the right to pull it; the
// list shows each caller the namespaces it can see into, as the catalog does.
func TestUsageFollowsAccessControl(t *testing.T) {
	hs := startWithAuth(t)
	h := host(hs)
	alice, bob, anon := userClient("alice"), userClient("bob"), userClient("")
	for who, push := range map[*client.Client]string{alice: "team/app", bob: "bob/tool"} {
		if _, err := pushImageAs(who, client.Repository{Host: h, Name: push}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if u, err := alice.Usage(ctx, client.Repository{Host: h, Name: "team/app"}); err != nil || u.Namespace != "team" || u.Bytes == 0 || u.Tags != 1 {
		t.Fatalf("alice's usage of team/app: %+v, %v", u, err)
	}
	for who, c := range map[string]*client.Client{"bob": bob, "anonymous": anon} {
		if _, err := c.Usage(ctx, client.Repository{Host: h, Name: "team/app"}); client.StatusCode(err) != http.StatusUnauthorized {
			t.Errorf("%s asks for team/app's usage: %v, want 401", who, err)
		}
	}
	resp, _ := send(t, "GET", hs.URL+"/berth/v1/usage/team/app", nil)
	if ch := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != 401 || !strings.Contains(ch, `scope="repository:team/app:pull"`) {
		t.Errorf("anonymous: %d, challenge %q", resp.StatusCode, ch)
	}
	for who, want := range map[string]string{"alice": "team", "bob": "bob"} {
		list, err := userClient(who).Usages(ctx, h)
		var got []string
		for _, u := range list {
			got = append(got, u.Namespace)
		}
		if err != nil || strings.Join(got, ",") != want {
			t.Errorf("usage list as %s: %v, %v; want %s", who, got, err, want)
		}
	}
	// As for the catalog, an anonymous token lists what is public: no namespace here.
	if list, err := anon.Usages(ctx, h); err != nil || len(list) != 0 {
		t.Errorf("anonymous usage list: %v, %v; want none", list, err)
	}
}

// TestAuditEventsReachTheWebhook: through the whole server, logins, tokens and pushes
// arrive at a webhook as CloudEvents with the user as actor.
func TestAuditEventsReachTheWebhook(t *testing.T) {
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ce struct{ Type, Actor, Subject, Source string }
		_ = json.NewDecoder(r.Body).Decode(&ce)
		mu.Lock()
		got = append(got, ce.Type+" "+ce.Actor+" "+ce.Source)
		mu.Unlock()
	}))
	defer hook.Close()
	hs, srv := startWithAuthConfig(t, func(c *config.Config) {
		c.Audit.Webhooks = []config.Webhook{{URL: hook.URL}}
		c.Audit.Log = false
		c.Audit.Source = "https://registry.example"
		c.Metrics.Addr = "127.0.0.1:0" // with access control, metrics are served there only
	})
	if _, err := pushImageAs(userClient("alice"), client.Repository{Host: host(hs), Name: "team/app"}); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, "GET", hs.URL+"/token?scope=repository:team/app:pull", "Authorization", "Basic Ym9iOndyb25n"); resp.StatusCode != 401 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	srv.audit.Close(context.Background())
	want := map[string]bool{
		"io.berth.login.succeeded alice https://registry.example": true,
		"io.berth.token.issued alice https://registry.example":    true,
		"io.berth.manifest.pushed alice https://registry.example": true,
		"io.berth.tag.moved alice https://registry.example":       true,
		"io.berth.login.failed  https://registry.example":         true,
	}
	mu.Lock()
	defer mu.Unlock()
	for _, g := range got {
		delete(want, g)
	}
	if len(want) > 0 {
		t.Fatalf("webhook missed %v; got %v", want, got)
	}
	ops := httptest.NewServer(srv.ops)
	defer ops.Close()
	if v := metric(t, ops.URL, `berth_audit_webhook_delivered_total{webhook="`+hook.URL+`"}`); v != float64(len(got)) {
		t.Errorf("delivered metric %v, want %d", v, len(got))
	}
}
