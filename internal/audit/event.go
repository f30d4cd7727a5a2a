// Package audit records who changed what: one event per push, tag move, delete, login,
// token, collection or retention deletion and configuration reload, written as one JSON
// log line with a stable schema and POSTed as a CloudEvent to the webhooks configured.
// The places that decide each fact (the registry service, the token service, garbage
// collection, the TLS reload) emit it; this package only shapes and delivers events, and
// never blocks its caller: a slow webhook fills its bounded queue, and what does not fit
// is dropped, counted and logged. It imports nothing of Berth.
package audit

import "time"

// The event types, as CloudEvents `type` values. The list and the Data fields each
// carries are documented in docs/lifecycle.md ("Audit events"); they only ever grow.
const (
	// ManifestPushed: a manifest was pushed (repository, digest, media_type, size, tags).
	ManifestPushed = "io.berth.manifest.pushed"
	// ManifestDeleted: a manifest was deleted by a client (repository, digest).
	ManifestDeleted = "io.berth.manifest.deleted"
	// TagMoved: a tag was created or moved (repository, tag, digest; old when it moved).
	TagMoved = "io.berth.tag.moved"
	// TagDeleted: a tag was removed, by an untag or with its manifest (repository, tag, old).
	TagDeleted = "io.berth.tag.deleted"
	// BlobDeleted: a blob was deleted from a repository by a client (repository, digest).
	BlobDeleted = "io.berth.blob.deleted"
	// LoginSucceeded: credentials were accepted at the token endpoint (user, client, method).
	LoginSucceeded = "io.berth.login.succeeded"
	// LoginFailed: credentials were refused (user as given, client, method, reason).
	LoginFailed = "io.berth.login.failed"
	// TokenIssued: the token endpoint issued a token (user, client, access, expires).
	TokenIssued = "io.berth.token.issued"
	// GCDeleted: garbage collection deleted something (kind, repository, digest, size).
	GCDeleted = "io.berth.gc.deleted"
	// RetentionDeleted: a retention policy deleted something (kind, repository, tag,
	// digest, reason).
	RetentionDeleted = "io.berth.retention.deleted"
	// ConfigReloaded: configuration was reloaded without a restart (kind, file).
	ConfigReloaded = "io.berth.config.reloaded"
)

// Event is one audited fact.
type Event struct {
	// ID is unique per event (set by Emit when empty); webhook receivers deduplicate
	// retried deliveries by it.
	ID string
	// Type is one of the constants above.
	Type string
	// Time is when the fact was decided (set by Emit when zero).
	Time time.Time
	// Actor is the authenticated user, "" for an anonymous client, or the job that acted
	// ("gc", "retention").
	Actor string
	// Replica names the Berth process (set by Emit from the emitter when empty).
	Replica string
	// Subject is what the event is about: "repo:tag", "repo@digest", "repo" or a user.
	Subject string
	// Data holds the facts of the event; fields that do not apply are empty.
	Data Data
}

// Data are the facts of an event, one flat object whose empty fields are left out.
type Data struct {
	Repository string   `json:"repository,omitempty"`
	Tag        string   `json:"tag,omitempty"`
	Digest     string   `json:"digest,omitempty"`
	Old        string   `json:"old,omitempty"` // the digest a tag held before
	MediaType  string   `json:"media_type,omitempty"`
	Size       int64    `json:"size,omitempty"`
	Tags       []string `json:"tags,omitempty"`
	Kind       string   `json:"kind,omitempty"` // what was deleted or reloaded: manifest, link, blob, tls
	User       string   `json:"user,omitempty"`
	Client     string   `json:"client,omitempty"` // the client's address
	Method     string   `json:"method,omitempty"` // basic, password, refresh_token
	Reason     string   `json:"reason,omitempty"`
	Access     []string `json:"access,omitempty"` // a token's grants: "repository:a/b:pull,push"
	Expires    string   `json:"expires,omitempty"`
	File       string   `json:"file,omitempty"`
}
