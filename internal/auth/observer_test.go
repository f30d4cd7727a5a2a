package auth

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync"
	"testing"
	"time"
)

// recorder is an Observer that writes down what it learns.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf(format, args...))
}

func (r *recorder) LoginSucceeded(_ context.Context, client, user, method string) {
	r.add("login %s %s %s", client, user, method)
}

func (r *recorder) LoginFailed(_ context.Context, client, user, method, reason string) {
	r.add("failed %s %q %s: %s", client, user, method, reason)
}

func (r *recorder) TokenIssued(_ context.Context, client, user string, access []Access, expires time.Time) {
	var acts []string
	for _, a := range access {
		acts = append(acts, fmt.Sprintf("%s:%s:%v", a.Type, a.Name, a.Actions))
	}
	r.add("token %s %q %v in %s", client, user, acts, time.Until(expires).Round(time.Minute))
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// TestObserverLearnsLoginsAndTokens: the token service reports each login with its
// method and each token with what it grants; refused credentials are reported from
// wherever they were checked, rate-limited ones not at all (they were not checked).
func TestObserverLearnsLoginsAndTokens(t *testing.T) {
	f := newTokenFixture(t)
	rec := &recorder{}
	policy, err := NewPolicy(f.users, exampleRules())
	if err != nil {
		t.Fatal(err)
	}
	f.auth = NewAuthenticator(f.users, Limit{MaxFailures: 3}, rec)
	f.svc = NewService(f.auth, policy, f.issuer, nil)
	const client = "192.0.2.1" // httptest.NewRequest's peer

	f.get(t, "alice", "alice-pw", "scope=repository:dev/app:pull,push&offline_token=true")
	want := []string{
		"login " + client + " alice basic",
		"token " + client + ` "alice" [repository:dev/app:[pull push]] in 5m0s`,
	}
	if got := rec.take(); !reflect.DeepEqual(got, want) {
		t.Fatalf("password login:\n%q\nwant\n%q", got, want)
	}
	f.get(t, "", "", "scope=repository:library/alpine:pull")
	if got := rec.take(); !reflect.DeepEqual(got, []string{"token " + client + ` "" [repository:library/alpine:[pull]] in 5m0s`}) {
		t.Fatalf("anonymous token: %q", got)
	}
	f.post(t, url.Values{"grant_type": {"password"}, "username": {"carol"}, "password": {"carol-pw"}})
	if got := rec.take(); len(got) != 2 || got[0] != "login "+client+" carol password" {
		t.Fatalf("OAuth2 password login: %q", got)
	}
	f.post(t, url.Values{"grant_type": {"password"}, "username": {"bob"}, "password": {"wrong"}})
	f.post(t, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"forged"}})
	r := httptest.NewRequest(http.MethodGet, "/v2/", nil)
	r.Header.Set("Authorization", "Basic !!!")
	if _, err := f.auth.Basic(r); err == nil {
		t.Fatal("malformed credentials accepted")
	}
	f.get(t, "bob", "bob-pw", "") // rate limited now: refused unchecked, unreported
	want = []string{
		`failed ` + client + ` "bob" password: incorrect username or password`,
		`failed ` + client + ` "" refresh_token: invalid or expired refresh token`,
		`failed ` + client + ` "" basic: malformed credentials`,
	}
	if got := rec.take(); !reflect.DeepEqual(got, want) {
		t.Fatalf("failures:\n%q\nwant\n%q", got, want)
	}
}
