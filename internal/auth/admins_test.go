package auth

import (
	"strings"
	"testing"
)

func TestAdminsIncludeNamedUsersAndGroupMembersOnly(t *testing.T) {
	admins, err := NewAdmins(testUsers(t), []string{"bob", "group:ops"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"bob": true, "carol": true, "alice": false, "ci": false, "": false, "mallory": false} {
		if got := admins.Include(Subject{Name: name}); got != want {
			t.Errorf("Include(%q) = %v, want %v", name, got, want)
		}
	}
	var none *Admins
	if none.Include(Subject{Name: "bob"}) {
		t.Error("no admins configured: bob is an admin")
	}
	everyone, err := NewAdmins(testUsers(t), []string{"authenticated"})
	if err != nil {
		t.Fatal(err)
	}
	if !everyone.Include(Subject{Name: "ci"}) || everyone.Include(Subject{}) {
		t.Error("authenticated: wrong answer for a user or for anonymous")
	}
}

func TestNewAdminsRefusesTyposAndAnonymous(t *testing.T) {
	for list, want := range map[string]string{"alcie": "no such user", "group:opps": "no such group", "anonymous": "anonymous cannot"} {
		_, err := NewAdmins(testUsers(t), []string{list})
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "auth.admins") {
			t.Errorf("NewAdmins(%q): %v, want an error about %q", list, err, want)
		}
	}
}
