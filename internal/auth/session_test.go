package auth

import (
	"errors"
	"testing"
	"time"
)

func TestSessionsAreBoundToTheUserAndTheirPassword(t *testing.T) {
	users, iss := testUsers(t), testIssuer(t)
	tok, err := iss.IssueSession(Subject{Name: "alice"}, users, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := iss.VerifySession(tok, users); err != nil || s.Name != "alice" {
		t.Fatalf("session: %v %v", s, err)
	}
	if _, err := iss.IssueSession(Subject{}, users, time.Hour); err == nil {
		t.Fatal("a session for the anonymous caller")
	}
	// A session is no refresh token, and no refresh token is a session.
	refresh, err := iss.issueRefresh("alice", users.hash("alice"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.VerifySession(refresh, users); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("refresh token accepted as a session: %v", err)
	}
	if _, err := iss.verifyRefresh(tok, users); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("session accepted as a refresh token: %v", err)
	}
	// Another password (or no such user any more) ends the session.
	changed, err := NewUsers(map[string][]byte{"alice": []byte(hashOf(t, "new-pw"))}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iss.VerifySession(tok, changed); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("session outlived a password change: %v", err)
	}
	other := testIssuer(t)
	if _, err := other.VerifySession(tok, users); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("another key's session accepted: %v", err)
	}
	expired, _ := iss.IssueSession(Subject{Name: "alice"}, users, -time.Hour)
	if _, err := iss.VerifySession(expired, users); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("expired session accepted: %v", err)
	}
}
