// Package metadata defines Berth's metadata store: every fact about repositories, blobs,
// manifests, tags and upload sessions lives behind it, in an indexed SQL database. The
// contract is split into roles, one small interface per area in a file of its own
// (repositories.go, blobs.go, manifests.go, ...), so that each consumer asks for the roles
// it uses; Store is all of them together, for the wiring that opens a store.
// Implementations live in sub-packages (sqlite, postgres, both through sqlstore) and must
// all pass the contract suite in storetest. This package holds only types; it does no I/O.
package metadata

import (
	"errors"
	"io"
)

// ErrNotFound reports that the repository, blob, manifest, tag or upload asked for does
// not exist (in that repository).
var ErrNotFound = errors.New("not found")

// ErrUploadConflict reports that an upload session was not at the offset the caller
// expected, because another request moved it first.
var ErrUploadConflict = errors.New("upload offset conflict")

// Store is the whole metadata store: every role, and Close. Every method is one
// transaction. Listing methods return at most limit items strictly after `after` in byte
// order (keyset pagination: the cost of a page is O(limit), never a scan of the whole set).
//
// A new area of the store is a new role: an interface in a file of its own here, embedded
// below, implemented by sqlstore, with contract tests in storetest and a measured wrapper
// method for each of its methods in internal/server/instrument.go (a test there fails
// when one is missing).
type Store interface {
	Repositories
	Blobs
	Manifests
	Tags
	Referrers
	Uploads
	Index
	Collector
	TagHistory
	Quotas
	QuotaAdmin
	Mirror
	Immutability
	Pulls
	Retention
	Leases
	Browser
	AppStore
	Deltas

	// Close releases the store.
	io.Closer
}
