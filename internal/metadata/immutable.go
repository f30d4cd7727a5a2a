package metadata

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
)

// ImmutableRules says which tags may not move once set: the operator's immutable-tag
// rules as a store applies them.
type ImmutableRules interface {
	// ImmutableRule names the rule that makes repo:tag immutable; "" when none does.
	ImmutableRule(repo, tag string) string
}

// ImmutableError refuses a change to a tag that an immutable rule protects.
type ImmutableError struct {
	Repository, Tag string
	// Rule names the rule that protects the tag.
	Rule string
	// Holds is the digest the tag points to, and keeps.
	Holds digest.Digest
}

func (e *ImmutableError) Error() string {
	return fmt.Sprintf("tag %s of %s is immutable (rule %s) and holds %s", e.Tag, e.Repository, e.Rule, e.Holds)
}

// Immutability is the store's enforcement of immutable tags. With rules in use,
// PutManifest refuses to move a tag a rule protects once it is set (pushing the digest it
// holds again is not a move), and DeleteTag and DeleteManifest refuse to remove one unless
// their context carries an override (WithImmutableOverride); each fails with an
// *ImmutableError and changes nothing. The check runs in the transaction that moves or
// removes the tag, after the tag's row is locked, so two replicas racing to move one tag
// cannot both succeed.
type Immutability interface {
	// UseImmutableRules makes rules (nil: none) the immutable-tag rules of the store, for
	// this process.
	UseImmutableRules(rules ImmutableRules)
}

type overrideKey struct{}

// WithImmutableOverride returns ctx carrying an admin's explicit override: deletes made
// with it may remove immutable tags. Only the HTTP edge sets it, for callers it has
// checked hold the admin right; moves are never overridden.
func WithImmutableOverride(ctx context.Context) context.Context {
	return context.WithValue(ctx, overrideKey{}, true)
}

// ImmutableOverride reports whether ctx carries the override.
func ImmutableOverride(ctx context.Context) bool {
	v, _ := ctx.Value(overrideKey{}).(bool)
	return v
}
