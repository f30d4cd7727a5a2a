package metadata

import (
	"context"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
)

// QuotaPolicy is the operator's quota rules as a store applies them. A store counts the
// storage of every namespace — each distinct blob once, however many of the namespace's
// repositories link it, and each manifest a repository stores — in the transactions
// that link, store, unlink and delete, and refuses there what would exceed a limit. A store with no policy counts
// by the first path segment and limits nothing.
type QuotaPolicy interface {
	// Namespace names the namespace repo's storage counts in.
	Namespace(repo string) string
	// StorageLimit is the limit of namespace ns in bytes; 0: none.
	StorageLimit(ns string) int64
	// TagLimit is the most tags repo may have; 0: no limit.
	TagLimit(repo string) int
	// Fingerprint identifies how Namespace assigns namespaces: two policies with the
	// same fingerprint assign every repository alike. "" is the default (first segment).
	Fingerprint() string
}

// Usage is what a namespace stores: Bytes in Objects (its distinct blobs and the
// manifests of its repositories), and its limit (0: none).
type Usage struct {
	Namespace string
	Bytes     int64
	Objects   int64
	Limit     int64
}

// RepositoryUsage is the usage of a repository's namespace, with the repository's own
// tag count and tag limit (0: none).
type RepositoryUsage struct {
	Repository string
	Usage      Usage
	Tags       int
	TagLimit   int
}

// Room is how much a namespace may still take, as seen for one blob: Counted when that
// blob is counted in the namespace already (it costs nothing); Limit 0 means no limit.
type Room struct {
	Namespace string
	Used      int64
	Limit     int64
	Counted   bool
}

// Admits reports whether adding n bytes for the blob stays within the limit.
func (r Room) Admits(n int64) bool { return r.Limit <= 0 || r.Counted || r.Used+n <= r.Limit }

// Left is how many bytes may still be added (meaningful only when limited and not
// Counted).
func (r Room) Left() int64 { return max(r.Limit-r.Used, 0) }

// Refusal is the QuotaError for adding n bytes.
func (r Room) Refusal(n int64) *QuotaError {
	return &QuotaError{Namespace: r.Namespace, Used: r.Used, Adding: n, Limit: r.Limit}
}

// QuotaError refuses a change that would take a namespace over its storage limit
// (Namespace set) or a repository over its tag limit (Repository set).
type QuotaError struct {
	Namespace  string
	Repository string
	Used       int64 // bytes stored, or tags held
	Adding     int64 // bytes, or new tags
	Limit      int64
}

func (e *QuotaError) Error() string {
	if e.Repository != "" {
		return fmt.Sprintf("tag quota of repository %s exceeded: it has %d tags, %d more would pass its limit of %d",
			e.Repository, e.Used, e.Adding, e.Limit)
	}
	return fmt.Sprintf("storage quota of namespace %s exceeded: it uses %s of %s, %s more would pass the limit",
		e.Namespace, Bytes(e.Used), Bytes(e.Limit), Bytes(e.Adding))
}

// Bytes formats n bytes for people: exact below 1 KiB, else in binary units with the
// exact count beside (quota messages must let a user redo the sums).
func Bytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, u := float64(n)/1024, 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	s := strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	return fmt.Sprintf("%s %ciB (%d bytes)", s, units[u], n)
}

// Quotas answers how much namespaces store. LinkBlob, LinkExistingBlob and PutManifest
// count what they add and fail with a *QuotaError (changing nothing, except that a
// refused LinkBlob still records the blob, unlinked, for garbage collection to reclaim
// its bytes); UnlinkBlob, DeleteManifest and the collector's deletes uncount what they
// remove, in the same transactions.
type Quotas interface {
	// StorageRoom is the room left in repo's namespace for blob d ("" when not known
	// yet): a check before bytes are stored. The link re-checks in its transaction.
	StorageRoom(ctx context.Context, repo string, d digest.Digest) (Room, error)
	// RepositoryUsage is the usage of repo's namespace and repo's tags; for a repository
	// that does not exist, of the namespace it would count in.
	RepositoryUsage(ctx context.Context, repo string) (RepositoryUsage, error)
	// ListUsage lists namespaces that store anything, after `after`.
	ListUsage(ctx context.Context, after string, limit int) ([]Usage, error)
	// NamespaceRepositories lists the repositories counted in namespace ns, after `after`.
	NamespaceRepositories(ctx context.Context, ns, after string, limit int) ([]string, error)
}

// QuotaAdmin sets the rules a store counts by and counts again; for the wiring and the
// operator's commands.
type QuotaAdmin interface {
	// UseQuotaPolicy makes p the policy of the store, for this process. When the
	// namespaces of the store were assigned under another fingerprint, it reassigns
	// them by p and recounts (as RecountUsage), and reports true.
	UseQuotaPolicy(ctx context.Context, p QuotaPolicy) (bool, error)
	// RecountUsage reassigns every repository's namespace by the policy and counts the
	// usage of every namespace again from the links and manifests, in one transaction.
	RecountUsage(ctx context.Context) error
}
