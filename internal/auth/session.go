package auth

import (
	"fmt"
	"time"
)

// sessionAudiencePrefix gives web UI sessions an aud of their own: a session is neither
// an access token nor a refresh token, and neither of those is a session.
const sessionAudiencePrefix = "berth-ui-session:"

// IssueSession signs a web UI session for an authenticated user, valid for expiry. Like
// a refresh token it is bound to the user's password: any replica sharing the signing
// key accepts it, and it ends when the password changes or the user goes.
func (i *Issuer) IssueSession(s Subject, users *Users, expiry time.Duration) (string, error) {
	if s.Anonymous() || !users.Exists(s.Name) {
		return "", fmt.Errorf("session for %q: %w", s.Name, ErrBadCredentials)
	}
	return i.issueBound(s.Name, sessionAudiencePrefix, users.hash(s.Name), expiry)
}

// VerifySession returns the user of a session token, or ErrInvalidToken.
func (i *Issuer) VerifySession(token string, users *Users) (Subject, error) {
	return i.verifyBound(token, sessionAudiencePrefix, users)
}
