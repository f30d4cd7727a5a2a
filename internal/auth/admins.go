package auth

import "fmt"

// Admins are the subjects given the admin right (auth.admins): they may override what
// binds everyone else, such as deleting an immutable tag with an explicit override. The
// right is never granted by a token: a token proves who the caller is, and the
// configuration decides whether that caller is an admin.
type Admins struct {
	users *Users
	subjects
}

// NewAdmins checks list (user names, group:NAME, authenticated) against users. anonymous
// is refused: an admin must be someone.
func NewAdmins(users *Users, list []string) (*Admins, error) {
	if users == nil {
		users = &Users{}
	}
	s, err := compileSubjects(users, list)
	if err != nil {
		return nil, fmt.Errorf("auth.admins: %w", err)
	}
	if s.anonymous {
		return nil, fmt.Errorf("auth.admins: anonymous cannot hold the admin right")
	}
	return &Admins{users: users, subjects: s}, nil
}

// Include reports whether s holds the admin right; never for an anonymous caller.
func (a *Admins) Include(s Subject) bool {
	return a != nil && !s.Anonymous() && a.appliesTo(a.users, s)
}
