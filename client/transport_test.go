package client_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/client"
)

func host(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

func creds(user, pass string) client.Option {
	return client.WithCredentials(func(string) (string, string, bool) { return user, pass, true })
}

func TestBlobRedirectToAnotherHostCarriesNoCredentials(t *testing.T) {
	data := []byte("layer bytes")
	d := digest.FromBytes(data)
	var sawAuth atomic.Value
	storage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sawAuth.Store(r.Header.Get("Authorization"))
		w.Write(data)
	}))
	defer storage.Close()
	registry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="r"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.Redirect(w, r, storage.URL+"/object", http.StatusTemporaryRedirect)
	}))
	defer registry.Close()
	c := client.New(client.WithPlainHTTP(true), creds("u", "secret"))
	rc, _, err := c.BlobGet(context.Background(), client.Repository{Host: host(registry), Name: "r"}, d.String())
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || string(got) != string(data) {
		t.Fatalf("blob %q, %v", got, err)
	}
	if a := sawAuth.Load(); a != "" {
		t.Fatalf("object storage received Authorization %q", a)
	}
}

func TestBlobGetDetectsCorruption(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("tampered")) }))
	defer srv.Close()
	rc, _, err := client.New(client.WithPlainHTTP(true)).BlobGet(context.Background(), client.Repository{Host: host(srv), Name: "r"}, digest.FromString("original").String())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("err = %v, want a digest mismatch", err)
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	var calls atomic.Int32
	var first time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			first = time.Now()
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		if time.Since(first) < 900*time.Millisecond {
			t.Errorf("retried after %s, before Retry-After", time.Since(first))
		}
		fmt.Fprint(w, `{"tags":["a"]}`)
	}))
	defer srv.Close()
	tags, err := client.New(client.WithPlainHTTP(true)).Tags(context.Background(), client.Repository{Host: host(srv), Name: "r"})
	if err != nil || len(tags) != 1 || calls.Load() != 2 {
		t.Fatalf("tags %v, err %v, calls %d", tags, err, calls.Load())
	}
	// A wait longer than allowed is an error, not a hang.
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv2.Close()
	_, err = client.New(client.WithPlainHTTP(true)).Tags(context.Background(), client.Repository{Host: host(srv2), Name: "r"})
	if client.StatusCode(err) != http.StatusTooManyRequests {
		t.Fatalf("err = %v, want 429", err)
	}
}

// tokenRegistry issues tokens from /token and accepts only the newest one; it can
// invalidate tokens to exercise the refresh.
type tokenRegistry struct {
	srv     *httptest.Server
	current atomic.Value
	issued  atomic.Int32
	user    string
}

func newTokenRegistry(t *testing.T, user string) *tokenRegistry {
	tr := &tokenRegistry{user: user}
	tr.current.Store("")
	tr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			if user != "" && r.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":pw")) {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			if r.URL.Query().Get("scope") != "repository:team/app:pull" || r.URL.Query().Get("service") != "sim" {
				t.Errorf("token request %s", r.URL.RawQuery)
			}
			tok := fmt.Sprintf("tok%d", tr.issued.Add(1))
			tr.current.Store(tok)
			fmt.Fprintf(w, `{"token":%q,"expires_in":300}`, tok)
			return
		}
		challenge := fmt.Sprintf(`Bearer realm="%s/token",service="sim",scope="repository:team/app:pull"`, tr.srv.URL)
		switch r.Header.Get("Authorization") {
		case "Bearer " + tr.current.Load().(string):
			fmt.Fprint(w, `{"tags":["a","b"]}`)
		case "":
			w.Header().Set("WWW-Authenticate", challenge)
			w.WriteHeader(http.StatusUnauthorized)
		default:
			w.Header().Set("WWW-Authenticate", challenge+`,error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(tr.srv.Close)
	return tr
}

func TestBearerTokensAreCachedAndRefreshed(t *testing.T) {
	tr := newTokenRegistry(t, "")
	c := client.New(client.WithPlainHTTP(true))
	repo := client.Repository{Host: host(tr.srv), Name: "team/app"}
	for range 3 {
		if _, err := c.Tags(context.Background(), repo); err != nil {
			t.Fatal(err)
		}
	}
	if n := tr.issued.Load(); n != 1 {
		t.Fatalf("%d tokens for 3 listings, want 1 (cached)", n)
	}
	tr.current.Store("rotated") // the registry no longer accepts tok1
	if _, err := c.Tags(context.Background(), repo); err != nil {
		t.Fatalf("after invalid_token: %v", err)
	}
	if n := tr.issued.Load(); n != 2 {
		t.Fatalf("%d tokens, want a refresh", n)
	}
}

func TestBearerWithCredentials(t *testing.T) {
	tr := newTokenRegistry(t, "alice")
	repo := client.Repository{Host: host(tr.srv), Name: "team/app"}
	if _, err := client.New(client.WithPlainHTTP(true), creds("alice", "pw")).Tags(context.Background(), repo); err != nil {
		t.Fatal(err)
	}
	_, err := client.New(client.WithPlainHTTP(true), creds("mallory", "pw")).Tags(context.Background(), repo)
	var ae *client.AuthError
	if !errors.As(err, &ae) || !ae.Refused || ae.User != "mallory" || ae.Host != repo.Host {
		t.Fatalf("wrong credentials: %v, want an AuthError refusing mallory", err)
	}
	if want := repo.Host + ` refused the password of user "mallory"`; err.Error() != want {
		t.Errorf("message %q, want %q", err, want)
	}
}

func TestDockerConfigCredentials(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte(`{"auths":{"https://index.docker.io/v1/":{"auth":"`+base64.StdEncoding.EncodeToString([]byte("hub:pw1"))+`"},
		"ghcr.io":{"username":"gh","password":"pw2"}},"credsStore":"ignored"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := client.DockerCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{"registry-1.docker.io": "hub:pw1", "ghcr.io": "gh:pw2", "quay.io": ":"} {
		u, p, _ := f(host)
		if u+":"+p != want {
			t.Errorf("%s: %s:%s, want %s", host, u, p, want)
		}
	}
	if err := client.SaveDockerCredentials(path, "127.0.0.1:5000", "me", "pw3"); err != nil {
		t.Fatal(err)
	}
	if removed, err := client.RemoveDockerCredentials(path, "ghcr.io"); err != nil || !removed {
		t.Fatalf("remove ghcr.io: %v, %v", removed, err)
	}
	if removed, err := client.RemoveDockerCredentials(path, "ghcr.io"); err != nil || removed {
		t.Fatalf("remove ghcr.io again: %v, %v; want nothing removed", removed, err)
	}
	f, _ = client.DockerCredentials(path)
	if u, p, ok := f("127.0.0.1:5000"); !ok || u != "me" || p != "pw3" {
		t.Fatalf("saved credentials: %s %s %v", u, p, ok)
	}
	if _, _, ok := f("ghcr.io"); ok {
		t.Fatal("removed credentials still there")
	}
	raw, _ := os.ReadFile(path)
	if !strings.Contains(string(raw), "credsStore") {
		t.Fatal("other settings of the config file were lost")
	}
}

func TestTransientFailuresAreRetriedWithBackoff(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := calls.Add(1); {
		case n == 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case n == 2:
			// A connection cut before any answer, as a restarting registry does.
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		default:
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"name":"a","tags":["v1"]}`))
		}
	}))
	defer srv.Close()
	c := client.New(client.WithPlainHTTP(true), client.WithBackoff(time.Millisecond))
	tags, err := c.Tags(context.Background(), client.Repository{Host: host(srv), Name: "a"})
	if err != nil || len(tags) != 1 || calls.Load() != 3 {
		t.Fatalf("tags %v, err %v after %d requests; want v1 after a 503 and a cut connection", tags, err, calls.Load())
	}

	always := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer always.Close()
	calls.Store(0)
	_, err = c.Tags(context.Background(), client.Repository{Host: host(always), Name: "a"})
	if client.StatusCode(err) != http.StatusBadGateway || calls.Load() != 4 {
		t.Fatalf("err %v after %d requests; want 502 after the first and 3 retries", err, calls.Load())
	}
}
