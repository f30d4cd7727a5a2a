package auth

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestLoadHtpasswd(t *testing.T) {
	h := hashOf(t, "pw") // $2a$
	h2y, h2b := "$2y$"+h[4:], "$2b$"+h[4:]
	tests := []struct {
		name    string
		in      string
		users   []string
		wantErr string
	}{
		{"bcrypt variants", "a:" + h + "\nb:" + h2y + "\nc:" + h2b + "\n", []string{"a", "b", "c"}, ""},
		{"comments blank CRLF", "# users\r\n\r\nalice:" + h2y + "\r\n   \n", []string{"alice"}, ""},
		{"empty", "", nil, ""},
		{"md5 refused", "ok:" + h + "\nalice:$apr1$abc$defghijklmnopqrstuvw\n", nil,
			"htpasswd line 2: user alice: only bcrypt entries are supported; recreate with htpasswd -B"},
		{"sha1 refused", "bob:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", nil, "user bob: only bcrypt entries are supported"},
		{"crypt refused", "carl:rl0uE2z8J8VqE", nil, "user carl: only bcrypt"},
		{"plain refused", "dave:secret", nil, "user dave: only bcrypt"},
		{"sha512-crypt refused", "erin:$6$salt$hash", nil, "user erin: only bcrypt"},
		{"bcrypt prefix but malformed", "f:$2y$10$short", nil, "user f: malformed bcrypt hash"},
		{"no colon", "alice", nil, "line 1: want name:hash"},
		{"empty name", ":" + h, nil, "line 1: want name:hash"},
		{"duplicate", "a:" + h + "\na:" + h, nil, "line 2: user a appears twice"},
		{"reserved name", "anonymous:" + h, nil, "reserved"},
		{"too long line", "a:" + strings.Repeat("x", maxHtpasswdLine+1), nil, "htpasswd: bufio.Scanner: token too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadHtpasswd(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for n := range got {
				names = append(names, n)
			}
			sort.Strings(names)
			if !slices.Equal(names, tt.users) {
				t.Fatalf("users = %v, want %v", names, tt.users)
			}
		})
	}
}

func TestNewUsersRefusesBadInput(t *testing.T) {
	h := hashOf(t, "pw")
	tests := []struct {
		name    string
		ht      map[string][]byte
		cfg     []UserConfig
		groups  map[string][]string
		wantErr string
	}{
		{"config md5", nil, []UserConfig{{Name: "x", PasswordHash: "$apr1$a$b"}}, nil, "user x: only bcrypt"},
		{"declared twice", map[string][]byte{"x": []byte(h)}, []UserConfig{{Name: "x", PasswordHash: h}}, nil, "declared twice"},
		{"no name", nil, []UserConfig{{PasswordHash: h}}, nil, "name is required"},
		{"colon in name", nil, []UserConfig{{Name: "a:b", PasswordHash: h}}, nil, "may not contain"},
		{"reserved", nil, []UserConfig{{Name: "authenticated", PasswordHash: h}}, nil, "reserved"},
		{"member not a user", nil, []UserConfig{{Name: "x", PasswordHash: h}}, map[string][]string{"g": {"y"}}, "y is not a user"},
		{"bad group", nil, []UserConfig{{Name: "x", PasswordHash: h, Groups: []string{"a b"}}}, nil, "bad group name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewUsers(tt.ht, tt.cfg, tt.groups)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	u := testUsers(t)
	tests := []struct {
		user, pw string
		ok       bool
	}{
		{"alice", "alice-pw", true},
		{"carol", "carol-pw", true},
		{"alice", "bob-pw", false},
		{"alice", "", false},
		{"nobody", "alice-pw", false},
		{"", "", false},
		{"Alice", "alice-pw", false},
	}
	for _, tt := range tests {
		s, err := u.Authenticate(tt.user, tt.pw)
		if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrBadCredentials)) {
			t.Errorf("Authenticate(%q, %q) err = %v, want ok=%v", tt.user, tt.pw, err, tt.ok)
		}
		if tt.ok && s.Name != tt.user {
			t.Errorf("subject = %q, want %q", s.Name, tt.user)
		}
		if !tt.ok && !s.Anonymous() {
			t.Errorf("failed login returned subject %q", s.Name)
		}
	}
}

// bcrypt ignores bytes after the 72nd; a longer password must not log in on its prefix.
func TestAuthenticateRefusesOverlongPassword(t *testing.T) {
	pw := strings.Repeat("p", 72)
	u, err := NewUsers(map[string][]byte{"x": []byte(hashOf(t, pw))}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Authenticate("x", pw); err != nil {
		t.Fatalf("72-byte password refused: %v", err)
	}
	if _, err := u.Authenticate("x", pw+"anything"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("73+ byte password with the right prefix: err = %v", err)
	}
}

// An unknown user must cost one bcrypt comparison against the dummy hash, at the cost
// of the real hashes, exactly as a wrong password does.
func TestUnknownUserComparesAgainstDummyHash(t *testing.T) {
	u := testUsers(t)
	var compared [][]byte
	real := u.compare
	u.compare = func(hash, pw []byte) error {
		compared = append(compared, hash)
		return real(hash, pw)
	}
	if _, err := u.Authenticate("mallory", "guess"); !errors.Is(err, ErrBadCredentials) {
		t.Fatal(err)
	}
	if len(compared) != 1 || !bytes.Equal(compared[0], u.dummy) {
		t.Fatalf("unknown user: compared %q, want one compare against the dummy hash", compared)
	}
	compared = nil
	if _, err := u.Authenticate("alice", "guess"); !errors.Is(err, ErrBadCredentials) {
		t.Fatal(err)
	}
	if len(compared) != 1 || !bytes.Equal(compared[0], u.hash("alice")) {
		t.Fatalf("wrong password: compared %q, want one compare against alice's hash", compared)
	}
	dummyCost, _ := bcrypt.Cost(u.dummy)
	aliceCost, _ := bcrypt.Cost(u.hash("alice"))
	if dummyCost != aliceCost {
		t.Fatalf("dummy cost %d, users' cost %d: timing would differ", dummyCost, aliceCost)
	}
}

func TestDummyCostFollowsHighestUserCost(t *testing.T) {
	h6, _ := bcrypt.GenerateFromPassword([]byte("x"), 6)
	u, err := NewUsers(map[string][]byte{"a": []byte(hashOf(t, "x")), "b": h6}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := bcrypt.Cost(u.dummy); c != 6 {
		t.Fatalf("dummy cost %d, want 6", c)
	}
}

func FuzzHtpasswd(f *testing.F) {
	h := hashOf(f, "pw")
	f.Add("alice:" + h + "\n")
	f.Add("# c\r\nbob:$2y$" + h[4:] + "\r\n")
	f.Add("x:$apr1$x$y\n")
	f.Add("a:b:c\n\n:")
	f.Fuzz(func(t *testing.T, in string) {
		users, err := LoadHtpasswd(strings.NewReader(in))
		if err != nil {
			return
		}
		// Whatever is accepted is a valid bcrypt entry under a usable name, and reads
		// back the same when written out again.
		var b strings.Builder
		for name, hash := range users {
			if checkUserName(name) != nil || checkBcrypt(string(hash)) != nil {
				t.Fatalf("accepted %q:%q", name, hash)
			}
			fmt.Fprintf(&b, "%s:%s\n", name, hash)
		}
		again, err := LoadHtpasswd(strings.NewReader(b.String()))
		if err != nil || len(again) != len(users) {
			t.Fatalf("re-read of %q: %v (%d users, want %d)", b.String(), err, len(again), len(users))
		}
	})
}

// testdata/htpasswd and htpasswd-mixed were written by Apache's htpasswd 2.4
// (-B for bcrypt, -m MD5, -s SHA-1), the tool docs/auth.md tells people to use.
func TestRealHtpasswdFiles(t *testing.T) {
	u, err := LoadUsers(Config{Htpasswd: "testdata/htpasswd"})
	if err != nil {
		t.Fatal(err)
	}
	for user, pw := range map[string]string{"alice": "alice-pw", "bob": "bob pw with spaces:and colon"} {
		if s, err := u.Authenticate(user, pw); err != nil || s.Name != user {
			t.Errorf("%s: %v", user, err)
		}
	}
	_, err = LoadUsers(Config{Htpasswd: "testdata/htpasswd-mixed"})
	want := "testdata/htpasswd-mixed: htpasswd line 1: user carol: only bcrypt entries are supported; recreate with htpasswd -B"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if _, err := LoadUsers(Config{Htpasswd: "testdata/missing"}); err == nil || !strings.Contains(err.Error(), "auth.htpasswd") {
		t.Fatalf("missing file: %v", err)
	}
}
