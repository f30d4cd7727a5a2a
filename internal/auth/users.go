package auth

import (
	"bufio"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// ErrBadCredentials is returned for an unknown user or a wrong password; which of the
// two it was is not revealed, not even by timing.
var ErrBadCredentials = errors.New("incorrect username or password")

// maxPasswordLen is bcrypt's limit: it ignores every byte after the 72nd, so a longer
// password would log in with any suffix. Such passwords are refused outright.
const maxPasswordLen = 72

// maxHtpasswdLine bounds one htpasswd line; a bcrypt entry is about 60 bytes plus the name.
const maxHtpasswdLine = 4096

// Subject is who makes a request: a user name, or the zero Subject for an anonymous caller.
type Subject struct {
	Name string
}

// Anonymous reports whether s is the anonymous caller.
func (s Subject) Anonymous() bool { return s.Name == "" }

// LoadHtpasswd reads an htpasswd file: `name:hash` lines, blank lines and # comments.
// Only bcrypt hashes are accepted: the others htpasswd can write (MD5-crypt, SHA-1,
// crypt, plain text) are too weak to keep, so they are refused with the line and user.
func LoadHtpasswd(r io.Reader) (map[string][]byte, error) {
	out := make(map[string][]byte)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxHtpasswdLine)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, hash, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			return nil, fmt.Errorf("htpasswd line %d: want name:hash", n)
		}
		if err := checkUserName(name); err != nil {
			return nil, fmt.Errorf("htpasswd line %d: %w", n, err)
		}
		if err := checkBcrypt(hash); err != nil {
			return nil, fmt.Errorf("htpasswd line %d: user %s: %w", n, name, err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("htpasswd line %d: user %s appears twice", n, name)
		}
		out[name] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("htpasswd: %w", err)
	}
	return out, nil
}

func checkBcrypt(hash string) error {
	if !strings.HasPrefix(hash, "$2y$") && !strings.HasPrefix(hash, "$2a$") && !strings.HasPrefix(hash, "$2b$") {
		return errors.New("only bcrypt entries are supported; recreate with htpasswd -B")
	}
	// $2y$NN$ then 53 characters of bcrypt's base64; bcrypt.Cost alone would accept
	// trailing garbage, and such an entry could never match any password.
	if len(hash) != 60 || strings.Trim(hash[7:], bcryptAlphabet) != "" {
		return errors.New("malformed bcrypt hash")
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil {
		return fmt.Errorf("malformed bcrypt hash: %w", err)
	}
	return nil
}

const bcryptAlphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// checkUserName refuses names a rule could not tell from a keyword, and names Basic
// auth cannot carry (the first colon ends the user name).
func checkUserName(name string) error {
	switch {
	case name == "anonymous" || name == "authenticated":
		return fmt.Errorf("user name %q is reserved for rules", name)
	case strings.HasPrefix(name, "group:") || strings.ContainsAny(name, ": \t\r\n"):
		return fmt.Errorf("user name %q may not contain ':' or white space", name)
	}
	return nil
}

type user struct {
	hash   []byte
	groups []string
}

// Users is the set of users who may log in, with their groups. It is read-only after
// NewUsers, so safe for concurrent use.
type Users struct {
	users  map[string]user
	groups map[string]bool // every declared group, with or without members
	// dummy is compared against when the user is unknown, at the cost of the real
	// hashes, so an unknown name takes as long as a wrong password.
	dummy []byte
	// compare is bcrypt.CompareHashAndPassword; tests observe which hash it is given.
	compare func(hash, password []byte) error
}

// LoadUsers builds the users of cfg: the htpasswd file (if any), cfg.Users and cfg.Groups.
func LoadUsers(cfg Config) (*Users, error) {
	var ht map[string][]byte
	if cfg.Htpasswd != "" {
		f, err := os.Open(cfg.Htpasswd)
		if err != nil {
			return nil, fmt.Errorf("auth.htpasswd: %w", err)
		}
		defer f.Close()
		if ht, err = LoadHtpasswd(f); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.Htpasswd, err)
		}
	}
	return NewUsers(ht, cfg.Users, cfg.Groups)
}

// NewUsers joins htpasswd users, configured users and groups (group → members). A name
// in both sources, a member that is no user, or a non-bcrypt hash is an error.
func NewUsers(htpasswd map[string][]byte, configured []UserConfig, groups map[string][]string) (*Users, error) {
	u := &Users{users: map[string]user{}, groups: map[string]bool{}, compare: bcrypt.CompareHashAndPassword}
	for name, hash := range htpasswd {
		if err := checkUserName(name); err != nil {
			return nil, err
		}
		if err := checkBcrypt(string(hash)); err != nil {
			return nil, fmt.Errorf("user %s: %w", name, err)
		}
		u.users[name] = user{hash: slices.Clone(hash)}
	}
	for i, c := range configured {
		if c.Name == "" {
			return nil, fmt.Errorf("auth.users[%d]: name is required", i)
		}
		if err := checkUserName(c.Name); err != nil {
			return nil, fmt.Errorf("auth.users[%d]: %w", i, err)
		}
		if _, dup := u.users[c.Name]; dup {
			return nil, fmt.Errorf("auth.users[%d]: user %s is declared twice", i, c.Name)
		}
		if err := checkBcrypt(c.PasswordHash); err != nil {
			return nil, fmt.Errorf("auth.users[%d]: user %s: %w", i, c.Name, err)
		}
		for _, g := range c.Groups {
			if !validGroupName(g) {
				return nil, fmt.Errorf("auth.users[%d]: bad group name %q", i, g)
			}
			u.groups[g] = true
		}
		u.users[c.Name] = user{hash: []byte(c.PasswordHash), groups: slices.Clone(c.Groups)}
	}
	for g, members := range groups {
		if !validGroupName(g) {
			return nil, fmt.Errorf("auth.groups: bad group name %q", g)
		}
		u.groups[g] = true
		for _, m := range members {
			usr, ok := u.users[m]
			if !ok {
				return nil, fmt.Errorf("auth.groups.%s: %s is not a user", g, m)
			}
			usr.groups = append(usr.groups, g)
			u.users[m] = usr
		}
	}
	cost := bcrypt.DefaultCost
	if len(u.users) > 0 {
		cost = bcrypt.MinCost
		for _, usr := range u.users {
			c, _ := bcrypt.Cost(usr.hash) // checked above
			cost = max(cost, c)
		}
	}
	var err error
	if u.dummy, err = bcrypt.GenerateFromPassword([]byte(rand.Text()), cost); err != nil {
		return nil, fmt.Errorf("dummy hash: %w", err)
	}
	return u, nil
}

func validGroupName(g string) bool {
	return g != "" && !strings.ContainsAny(g, ": \t\r\n")
}

// Authenticate checks a password and returns the user's Subject, or ErrBadCredentials.
// Exactly one bcrypt comparison runs whatever the outcome, so the time taken does not
// tell an unknown user from a wrong password.
func (u *Users) Authenticate(name, password string) (Subject, error) {
	usr, known := u.users[name]
	hash := usr.hash
	if !known {
		hash = u.dummy
	}
	err := u.compare(hash, []byte(password))
	if !known || err != nil || len(password) > maxPasswordLen {
		return Subject{}, ErrBadCredentials
	}
	return Subject{Name: name}, nil
}

// Exists reports whether name is a user.
func (u *Users) Exists(name string) bool {
	_, ok := u.users[name]
	return ok
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.users) }

func (u *Users) inGroup(name, group string) bool {
	return slices.Contains(u.users[name].groups, group)
}

func (u *Users) hash(name string) []byte { return u.users[name].hash }
