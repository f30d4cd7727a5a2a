package server

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-registry/berth/client"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/lifecycle"
)

// TestTagHistoryAnswersLikeAPullDoes: a private repository's history answers anonymous
// callers exactly as a missing repository's does, and its members see it.
func TestTagHistoryAnswersLikeAPullDoes(t *testing.T) {
	hs, srv := startWithAuthConfig(t, func(c *config.Config) {
		c.Metrics.Addr = "127.0.0.1:0" // with access control, metrics are served there only
	})
	repo := client.Repository{Host: host(hs), Name: "team/app"}
	_, err := pushImageAs(userClient("alice"), repo)
	must(t, err)
	for _, tag := range []string{"v1", "nope"} {
		a, abody := do(t, http.MethodGet, hs.URL+"/berth/v1/repositories/team/app/tags/"+tag+"/history")
		b, bbody := do(t, http.MethodGet, hs.URL+"/berth/v1/repositories/team/missing/tags/"+tag+"/history")
		bbody = strings.ReplaceAll(bbody, "team/missing", "team/app")
		if a.StatusCode != http.StatusUnauthorized || a.StatusCode != b.StatusCode || abody != bbody ||
			strings.Replace(b.Header.Get("WWW-Authenticate"), "team/missing", "team/app", 1) != a.Header.Get("WWW-Authenticate") ||
			!strings.Contains(a.Header.Get("WWW-Authenticate"), `scope="repository:team/app:pull"`) {
			t.Errorf("%s: existing %d %q %q / missing %d %q", tag, a.StatusCode, abody, a.Header.Get("WWW-Authenticate"), b.StatusCode, bbody)
		}
	}
	// bob may not pull team/app: refused, with a token too.
	tok := token(t, hs.URL, "bob", "repository:team/app:pull")
	if resp, _ := do(t, http.MethodGet, hs.URL+"/berth/v1/repositories/team/app/tags/v1/history", "Authorization", "Bearer "+tok); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("bob's history of team/app: %d", resp.StatusCode)
	}
	tok = token(t, hs.URL, "alice", "repository:team/app:pull")
	resp, body := do(t, http.MethodGet, hs.URL+"/berth/v1/repositories/team/app/tags/v1/history", "Authorization", "Bearer "+tok)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"actor":"alice"`) {
		t.Errorf("alice's history of team/app: %d %s", resp.StatusCode, body)
	}
	ops := httptest.NewServer(srv.ops)
	defer ops.Close()
	if got := metric(t, ops.URL, `berth_http_requests_total{code="200",method="GET",route="tag_history"}`); got != 1 {
		t.Errorf("history requests counted %v under route tag_history, want 1", got)
	}
}

// TestImmutableOverrideNeedsTheAdminRight: bob may delete in team/ but is no admin;
// alice is.
func TestImmutableOverrideNeedsTheAdminRight(t *testing.T) {
	hs, _ := startWithAuthConfig(t, func(c *config.Config) {
		c.Auth.Groups = map[string][]string{"team": {"alice", "bob"}}
		c.Auth.Admins = []string{"alice"}
		c.Lifecycle.Immutable = []lifecycle.ImmutableRule{{Name: "releases", Repositories: []string{"team/**"}, Tags: []string{"v*"}}}
	})
	repo := client.Repository{Host: host(hs), Name: "team/app"}
	_, err := pushImageAs(userClient("alice"), repo)
	must(t, err)
	del := func(user, query string) (int, string) {
		tok := token(t, hs.URL, user, "repository:team/app:delete")
		resp, body := do(t, http.MethodDelete, hs.URL+"/v2/team/app/manifests/v1"+query, "Authorization", "Bearer "+tok)
		return resp.StatusCode, body
	}
	if code, body := del("alice", ""); code != http.StatusConflict || !strings.Contains(body, "DENIED") {
		t.Errorf("delete without the override: %d %s", code, body)
	}
	if code, body := del("bob", "?override=immutable"); code != http.StatusForbidden || !strings.Contains(body, "admin right") {
		t.Errorf("bob (no admin) overrides: %d %s", code, body)
	}
	if code, body := del("alice", "?override=immutable"); code != http.StatusAccepted {
		t.Fatalf("alice (admin) overrides: %d %s", code, body)
	}
	if _, err := userClient("alice").ManifestHead(context.Background(), repo, "v1"); client.StatusCode(err) != http.StatusNotFound {
		t.Fatalf("v1 after the admin's delete: %v", err)
	}
}

// TestRetentionIsWiredWithItsMetricsAndAudit: an enabled policy gets a retainer, its
// deletions count in the metrics and arrive as audit events, and the pulls of requests
// reach the store when flushed.
func TestRetentionIsWiredWithItsMetricsAndAudit(t *testing.T) {
	var mu sync.Mutex
	var events []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ce struct {
			Type, Actor, Subject string
			Data                 struct{ Kind, Reason string }
		}
		_ = json.NewDecoder(r.Body).Decode(&ce)
		mu.Lock()
		events = append(events, strings.Join([]string{ce.Type, ce.Actor, ce.Subject, ce.Data.Kind, ce.Data.Reason}, " | "))
		mu.Unlock()
	}))
	defer hook.Close()
	hs, srv := start(t, func(c *config.Config) {
		c.Audit.Webhooks = []config.Webhook{{URL: hook.URL}}
		c.Audit.Log = false
		c.Lifecycle.Retention.Enabled = true
		c.Lifecycle.Retention.Interval = 10 * time.Millisecond
		c.Lifecycle.Retention.Policies = []lifecycle.Policy{{Name: "short", Repositories: []string{"m/**"}, Tags: []string{"v1"}, KeepUsedWithin: time.Nanosecond}}
	})
	pushImage(t, host(hs))
	c := client.New(client.WithPlainHTTP(true))
	repo := client.Repository{Host: host(hs), Name: "m/app"}
	if _, _, err := c.ManifestGet(context.Background(), repo, "v1"); err != nil {
		t.Fatal(err)
	}
	srv.pulls.Flush(context.Background())
	if at, err := srv.meta.LastPulled(context.Background(), "m/app", "v1"); err != nil || at.IsZero() {
		t.Fatalf("pull of v1 not recorded: %v, %v", at, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.retain.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := srv.meta.ResolveTag(context.Background(), "m/app", "v1"); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("retention never expired v1")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	if got := metric(t, hs.URL, "berth_retention_tags_deleted_total"); got != 1 {
		t.Errorf("berth_retention_tags_deleted_total = %v, want 1", got)
	}
	srv.audit.Close(context.Background())
	mu.Lock()
	defer mu.Unlock()
	var retention []string
	for _, e := range events {
		if strings.HasPrefix(e, "io.berth.retention.deleted") {
			retention = append(retention, e)
		}
	}
	if len(retention) != 1 || !strings.HasPrefix(retention[0], "io.berth.retention.deleted | retention | m/app:v1 | tag | policy short: not pushed or pulled within 1ns") {
		t.Fatalf("retention's audit events: %q (all: %q)", retention, events)
	}
}
