package metadata

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"
)

// FlatpakRefLabel is the image config label that makes an image a Flatpak; a tag move to
// such an image (or to a list of them) queues a delta job.
const FlatpakRefLabel = "org.flatpak.ref"

// DeltaPolicy is how the store takes part in Flatpak image deltas. The zero policy is
// deltas off: no job is queued and garbage collection keeps nothing for them.
type DeltaPolicy struct {
	// Enabled queues a delta job in the transaction of every move of a tag to a Flatpak.
	Enabled bool
	// Window keeps, from garbage collection of untagged manifests, every Flatpak image a
	// tag left within it: the sources deltas are made from.
	Window time.Duration
}

// DeltaPolicySetter is a store that can take part in deltas. The policy is configuration,
// set once when the store is opened (server.OpenStores), before any other call.
type DeltaPolicySetter interface {
	SetDeltaPolicy(p DeltaPolicy)
}

// DeltaJob is the queued work of making the deltas of one tag: the images it held within
// the window to the one it holds. Moves of a tag while its job waits are coalesced into
// the job (Version counts them); a move while it runs queues it again.
type DeltaJob struct {
	ID         int64
	Repository string
	Tag        string
	Target     digest.Digest // what the tag held when the job was last queued
	State      string        // "queued", "done" or "failed"
	Version    int64
	Attempts   int
	QueuedAt   time.Time
	NotBefore  time.Time // a failed attempt waits until then
	LeaseUntil time.Time // while in the hands of Owner
	Owner      string
	FinishedAt time.Time
	LastError  string
}

// Delta job states.
const (
	DeltaQueued = "queued"
	DeltaDone   = "done"
	DeltaFailed = "failed"
)

// DeltaOutcome ends an attempt at a job: done (Error empty), to be tried again at
// RetryAt, or failed for good (Error set, RetryAt zero).
type DeltaOutcome struct {
	Error   string
	RetryAt time.Time
}

// LayerDelta is one made delta: from the last layer of Source to one layer of Target.
// Blob is empty when the delta is not published, and the record kept so that it is not
// made again: it saved too little (Size is at least what it would have been), or the
// layers could not be used (Size 0: beyond the bound, a decompression bomb, unreadable).
type LayerDelta struct {
	Repository string
	Target     digest.Digest // the target image manifest
	Source     digest.Digest // the source image manifest
	SourceLeft time.Time     // when the source left the tag
	Layer      int           // index of the target layer
	From, To   digest.Digest // DiffIDs: the source's last layer, the target's layer
	Blob       digest.Digest // the tar-diff blob, "" if not published
	Size       int64         // of the tar-diff blob
	LayerSize  int64         // of the compressed target layer it replaces
	MakeTime   time.Duration // unpacking the source layer, reading the target, writing the delta
	VerifyTime time.Duration // applying the delta to the source layer and hashing the result
	CreatedAt  time.Time
}

// DeltaManifest is the published delta manifest of a target image.
type DeltaManifest struct {
	Repository string
	Target     digest.Digest
	Manifest   digest.Digest
	Size       int64 // of the manifest
	CreatedAt  time.Time
}

// DeltaCursor is where a listing of deltas continues.
type DeltaCursor struct {
	Repository     string
	Target, Source digest.Digest
	To             digest.Digest
}

// ExpiredDeltas is what an expiry removed: the delta manifests no longer listed (to be
// deleted), and the repositories whose _deltaindex must be written again.
type ExpiredDeltas struct {
	Manifests    []ManifestRef
	Repositories []string
}

// Deltas is the queue and the record of Flatpak image deltas (internal/deltas).
type Deltas interface {
	// ClaimDeltaJob takes the oldest queued job that is due and not leased, leases it to
	// owner until now+lease and counts the attempt; ErrNotFound when there is none. On
	// PostgreSQL concurrent claims skip each other's rows (FOR UPDATE SKIP LOCKED), so
	// each job goes to one replica.
	ClaimDeltaJob(ctx context.Context, owner string, lease time.Duration) (DeltaJob, error)
	// RenewDeltaJob extends the lease of a job still held by its owner; ErrNotFound when
	// the lease was lost (expired and claimed by another).
	RenewDeltaJob(ctx context.Context, j DeltaJob, lease time.Duration) error
	// FinishDeltaJob ends the attempt of a job still held by its owner and releases it.
	// A job queued again while it ran (its Version moved) stays queued.
	FinishDeltaJob(ctx context.Context, j DeltaJob, o DeltaOutcome) error
	// DeltaJobs lists the jobs of repo ("" for all) by id, after the id `after`.
	DeltaJobs(ctx context.Context, repo string, after int64, limit int) ([]DeltaJob, error)

	// RecordDeltas replaces what is recorded for the target image in repo: its layer
	// deltas, and its delta manifest (none when manifest is nil).
	RecordDeltas(ctx context.Context, repo string, target digest.Digest, layers []LayerDelta, manifest *DeltaManifest) error
	// LayerDeltas lists the deltas recorded for a target image of repo.
	LayerDeltas(ctx context.Context, repo string, target digest.Digest) ([]LayerDelta, error)
	// ListDeltas lists every recorded delta of repo ("" for all) in (repository,
	// target, source, to) order after the cursor.
	ListDeltas(ctx context.Context, repo string, after DeltaCursor, limit int) ([]LayerDelta, error)
	// DeltaIndex lists, by target, the delta manifests of repo whose target a tag holds
	// (directly or in a tagged list): the entries of its _deltaindex.
	DeltaIndex(ctx context.Context, repo string) ([]DeltaManifest, error)
	// DeltaManifests returns the delta manifest of each of the images that has one.
	DeltaManifests(ctx context.Context, images []ManifestRef) (map[ManifestRef]digest.Digest, error)
	// ExpireDeltas forgets the deltas whose target or source is no longer in its
	// repository or whose source left its tag before `before`; target images that keep
	// other deltas get their jobs queued again, to write their delta manifests anew.
	ExpireDeltas(ctx context.Context, before time.Time) (ExpiredDeltas, error)
}
