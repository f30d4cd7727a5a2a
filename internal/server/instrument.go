package server

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/berth-registry/berth/internal/blobstore"
	"github.com/berth-registry/berth/internal/metadata"
)

// storeMetrics times every store operation, so an operator sees whether latency comes
// from the database, the object store, or Berth itself.
type storeMetrics struct {
	dur  *prometheus.HistogramVec
	errs *prometheus.CounterVec
}

func newStoreMetrics(reg prometheus.Registerer) *storeMetrics {
	m := &storeMetrics{
		dur: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "berth_store_operation_duration_seconds",
			Help:    "Duration of metadata and blob store operations (for streams: until the stream starts).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"store", "op"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "berth_store_operation_errors_total",
			Help: "Store operations that failed, other than not-found answers.",
		}, []string{"store", "op"}),
	}
	reg.MustRegister(m.dur, m.errs)
	return m
}

func (m *storeMetrics) observe(store, op string, start time.Time, err error) {
	m.dur.WithLabelValues(store, op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, metadata.ErrNotFound) && !errors.Is(err, blobstore.ErrNotFound) {
		m.errs.WithLabelValues(store, op).Inc()
	}
}

// meteredMeta wraps a metadata store with timing. It defines every method of every role
// itself and embeds none, so a role added to metadata.Store does not compile until its
// methods are measured here too; TestStoreWrappersMeasureEveryMethod checks that each one
// records its own observation.
type meteredMeta struct {
	next metadata.Store
	m    *storeMetrics
}

var _ metadata.Store = meteredMeta{}

func (s meteredMeta) obs(op string, start time.Time, err error) {
	s.m.observe("metadata", op, start, err)
}

func (s meteredMeta) RepositoryExists(ctx context.Context, repo string) (ok bool, err error) {
	defer func(t time.Time) { s.obs("repository_exists", t, err) }(time.Now())
	return s.next.RepositoryExists(ctx, repo)
}

func (s meteredMeta) ListRepositories(ctx context.Context, after string, limit int) (r []string, err error) {
	defer func(t time.Time) { s.obs("list_repositories", t, err) }(time.Now())
	return s.next.ListRepositories(ctx, after, limit)
}

func (s meteredMeta) LinkBlob(ctx context.Context, repo string, b metadata.Blob) (err error) {
	defer func(t time.Time) { s.obs("link_blob", t, err) }(time.Now())
	return s.next.LinkBlob(ctx, repo, b)
}

func (s meteredMeta) RepositoryBlob(ctx context.Context, repo string, d digest.Digest) (b metadata.Blob, err error) {
	defer func(t time.Time) { s.obs("repository_blob", t, err) }(time.Now())
	return s.next.RepositoryBlob(ctx, repo, d)
}

func (s meteredMeta) Blob(ctx context.Context, d digest.Digest) (b metadata.Blob, err error) {
	defer func(t time.Time) { s.obs("blob", t, err) }(time.Now())
	return s.next.Blob(ctx, d)
}

func (s meteredMeta) BlobRepositories(ctx context.Context, d digest.Digest, after string, limit int) (r []string, err error) {
	defer func(t time.Time) { s.obs("blob_repositories", t, err) }(time.Now())
	return s.next.BlobRepositories(ctx, d, after, limit)
}

func (s meteredMeta) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) (err error) {
	defer func(t time.Time) { s.obs("unlink_blob", t, err) }(time.Now())
	return s.next.UnlinkBlob(ctx, repo, d)
}

func (s meteredMeta) PutManifest(ctx context.Context, repo string, m *metadata.Manifest, tags []string) (err error) {
	defer func(t time.Time) { s.obs("put_manifest", t, err) }(time.Now())
	return s.next.PutManifest(ctx, repo, m, tags)
}

func (s meteredMeta) Manifest(ctx context.Context, repo string, d digest.Digest) (m *metadata.Manifest, err error) {
	defer func(t time.Time) { s.obs("manifest", t, err) }(time.Now())
	return s.next.Manifest(ctx, repo, d)
}

func (s meteredMeta) ResolveTag(ctx context.Context, repo, tag string) (d digest.Digest, err error) {
	defer func(t time.Time) { s.obs("resolve_tag", t, err) }(time.Now())
	return s.next.ResolveTag(ctx, repo, tag)
}

func (s meteredMeta) DeleteManifest(ctx context.Context, repo string, d digest.Digest) (err error) {
	defer func(t time.Time) { s.obs("delete_manifest", t, err) }(time.Now())
	return s.next.DeleteManifest(ctx, repo, d)
}

func (s meteredMeta) DeleteTag(ctx context.Context, repo, tag string) (err error) {
	defer func(t time.Time) { s.obs("delete_tag", t, err) }(time.Now())
	return s.next.DeleteTag(ctx, repo, tag)
}

func (s meteredMeta) ListTags(ctx context.Context, repo, after string, limit int) (r []string, err error) {
	defer func(t time.Time) { s.obs("list_tags", t, err) }(time.Now())
	return s.next.ListTags(ctx, repo, after, limit)
}

func (s meteredMeta) Referrers(ctx context.Context, repo string, subject digest.Digest, artifactType string, after digest.Digest, limit int) (r []metadata.Referrer, err error) {
	defer func(t time.Time) { s.obs("referrers", t, err) }(time.Now())
	return s.next.Referrers(ctx, repo, subject, artifactType, after, limit)
}

func (s meteredMeta) CreateUpload(ctx context.Context, u metadata.Upload) (err error) {
	defer func(t time.Time) { s.obs("create_upload", t, err) }(time.Now())
	return s.next.CreateUpload(ctx, u)
}

func (s meteredMeta) Upload(ctx context.Context, id string) (u metadata.Upload, err error) {
	defer func(t time.Time) { s.obs("upload", t, err) }(time.Now())
	return s.next.Upload(ctx, id)
}

func (s meteredMeta) AdvanceUpload(ctx context.Context, u metadata.Upload, from int64) (err error) {
	defer func(t time.Time) { s.obs("advance_upload", t, err) }(time.Now())
	return s.next.AdvanceUpload(ctx, u, from)
}

func (s meteredMeta) DeleteUpload(ctx context.Context, id string) (err error) {
	defer func(t time.Time) { s.obs("delete_upload", t, err) }(time.Now())
	return s.next.DeleteUpload(ctx, id)
}

func (s meteredMeta) Generation(ctx context.Context) (g int64, err error) {
	defer func(t time.Time) { s.obs("generation", t, err) }(time.Now())
	return s.next.Generation(ctx)
}

func (s meteredMeta) LinkExistingBlob(ctx context.Context, repo string, d digest.Digest) (b metadata.Blob, err error) {
	defer func(t time.Time) { s.obs("link_existing_blob", t, err) }(time.Now())
	return s.next.LinkExistingBlob(ctx, repo, d)
}

func (s meteredMeta) UntaggedManifests(ctx context.Context, before time.Time, limit int) (r []metadata.ManifestRef, err error) {
	defer func(t time.Time) { s.obs("untagged_manifests", t, err) }(time.Now())
	return s.next.UntaggedManifests(ctx, before, limit)
}

func (s meteredMeta) DeleteUntaggedManifest(ctx context.Context, m metadata.ManifestRef, before time.Time) (ok bool, err error) {
	defer func(t time.Time) { s.obs("delete_untagged_manifest", t, err) }(time.Now())
	return s.next.DeleteUntaggedManifest(ctx, m, before)
}

func (s meteredMeta) UnreferencedLinks(ctx context.Context, before time.Time, limit int) (r []metadata.BlobLink, err error) {
	defer func(t time.Time) { s.obs("unreferenced_links", t, err) }(time.Now())
	return s.next.UnreferencedLinks(ctx, before, limit)
}

func (s meteredMeta) DeleteUnreferencedLink(ctx context.Context, l metadata.BlobLink, before time.Time) (ok bool, err error) {
	defer func(t time.Time) { s.obs("delete_unreferenced_link", t, err) }(time.Now())
	return s.next.DeleteUnreferencedLink(ctx, l, before)
}

func (s meteredMeta) UnreferencedBlobs(ctx context.Context, before time.Time, limit int) (r []metadata.Blob, err error) {
	defer func(t time.Time) { s.obs("unreferenced_blobs", t, err) }(time.Now())
	return s.next.UnreferencedBlobs(ctx, before, limit)
}

// DeleteUnreferencedBlob's time includes removeBytes, the blob store's delete, which runs
// inside the transaction and is measured on its own as well.
func (s meteredMeta) DeleteUnreferencedBlob(ctx context.Context, d digest.Digest, before time.Time, removeBytes func() error) (ok bool, err error) {
	defer func(t time.Time) { s.obs("delete_unreferenced_blob", t, err) }(time.Now())
	return s.next.DeleteUnreferencedBlob(ctx, d, before, removeBytes)
}

func (s meteredMeta) ExpiredUploads(ctx context.Context, before time.Time, limit int) (r []metadata.Upload, err error) {
	defer func(t time.Time) { s.obs("expired_uploads", t, err) }(time.Now())
	return s.next.ExpiredUploads(ctx, before, limit)
}

func (s meteredMeta) Close() (err error) {
	defer func(t time.Time) { s.obs("close", t, err) }(time.Now())
	return s.next.Close()
}

func (s meteredMeta) TagHistory(ctx context.Context, repo, tag string, before int64, limit int) (c []metadata.TagChange, err error) {
	defer func(t time.Time) { s.obs("tag_history", t, err) }(time.Now())
	return s.next.TagHistory(ctx, repo, tag, before, limit)
}

func (s meteredMeta) TagChanges(ctx context.Context, after metadata.HistoryPosition, limit int) (c []metadata.TagChange, err error) {
	defer func(t time.Time) { s.obs("tag_changes", t, err) }(time.Now())
	return s.next.TagChanges(ctx, after, limit)
}

func (s meteredMeta) StorageRoom(ctx context.Context, repo string, d digest.Digest) (r metadata.Room, err error) {
	defer func(t time.Time) { s.obs("storage_room", t, err) }(time.Now())
	return s.next.StorageRoom(ctx, repo, d)
}

func (s meteredMeta) RepositoryUsage(ctx context.Context, repo string) (u metadata.RepositoryUsage, err error) {
	defer func(t time.Time) { s.obs("repository_usage", t, err) }(time.Now())
	return s.next.RepositoryUsage(ctx, repo)
}

func (s meteredMeta) ListUsage(ctx context.Context, after string, limit int) (u []metadata.Usage, err error) {
	defer func(t time.Time) { s.obs("list_usage", t, err) }(time.Now())
	return s.next.ListUsage(ctx, after, limit)
}

func (s meteredMeta) NamespaceRepositories(ctx context.Context, ns, after string, limit int) (r []string, err error) {
	defer func(t time.Time) { s.obs("namespace_repositories", t, err) }(time.Now())
	return s.next.NamespaceRepositories(ctx, ns, after, limit)
}

func (s meteredMeta) UseQuotaPolicy(ctx context.Context, p metadata.QuotaPolicy) (ok bool, err error) {
	defer func(t time.Time) { s.obs("use_quota_policy", t, err) }(time.Now())
	return s.next.UseQuotaPolicy(ctx, p)
}

func (s meteredMeta) RecountUsage(ctx context.Context) (err error) {
	defer func(t time.Time) { s.obs("recount_usage", t, err) }(time.Now())
	return s.next.RecountUsage(ctx)
}

func (s meteredMeta) PutCachedManifest(ctx context.Context, repo, upstream string, m *metadata.Manifest, tag string, checked time.Time) (err error) {
	defer func(t time.Time) { s.obs("put_cached_manifest", t, err) }(time.Now())
	return s.next.PutCachedManifest(ctx, repo, upstream, m, tag, checked)
}

func (s meteredMeta) CachedTag(ctx context.Context, repo, tag string) (c metadata.CachedTag, err error) {
	defer func(t time.Time) { s.obs("cached_tag", t, err) }(time.Now())
	return s.next.CachedTag(ctx, repo, tag)
}

func (s meteredMeta) TagChecked(ctx context.Context, repo, tag string, checked time.Time) (err error) {
	defer func(t time.Time) { s.obs("tag_checked", t, err) }(time.Now())
	return s.next.TagChecked(ctx, repo, tag, checked)
}

func (s meteredMeta) CachedRepositories(ctx context.Context, after string, limit int) (r []metadata.CachedRepository, err error) {
	defer func(t time.Time) { s.obs("cached_repositories", t, err) }(time.Now())
	return s.next.CachedRepositories(ctx, after, limit)
}

func (s meteredMeta) AcquireFetch(ctx context.Context, d digest.Digest, owner string, ttl time.Duration) (ok bool, err error) {
	defer func(t time.Time) { s.obs("acquire_fetch", t, err) }(time.Now())
	return s.next.AcquireFetch(ctx, d, owner, ttl)
}

func (s meteredMeta) ReleaseFetch(ctx context.Context, d digest.Digest, owner string) (err error) {
	defer func(t time.Time) { s.obs("release_fetch", t, err) }(time.Now())
	return s.next.ReleaseFetch(ctx, d, owner)
}

func (s meteredMeta) UseImmutableRules(rules metadata.ImmutableRules) {
	defer func(t time.Time) { s.obs("use_immutable_rules", t, nil) }(time.Now())
	s.next.UseImmutableRules(rules)
}

func (s meteredMeta) RecordPulls(ctx context.Context, pulls []metadata.Pull) (err error) {
	defer func(t time.Time) { s.obs("record_pulls", t, err) }(time.Now())
	return s.next.RecordPulls(ctx, pulls)
}

func (s meteredMeta) LastPulled(ctx context.Context, repo, reference string) (at time.Time, err error) {
	defer func(t time.Time) { s.obs("last_pulled", t, err) }(time.Now())
	return s.next.LastPulled(ctx, repo, reference)
}

func (s meteredMeta) RetentionTags(ctx context.Context, repo, after string, limit int) (u []metadata.TagUse, err error) {
	defer func(t time.Time) { s.obs("retention_tags", t, err) }(time.Now())
	return s.next.RetentionTags(ctx, repo, after, limit)
}

func (s meteredMeta) ExpireTag(ctx context.Context, repo string, u metadata.TagUse) (ok bool, err error) {
	defer func(t time.Time) { s.obs("expire_tag", t, err) }(time.Now())
	return s.next.ExpireTag(ctx, repo, u)
}

func (s meteredMeta) ExpiredManifests(ctx context.Context, repo string, before time.Time, after digest.Digest, limit int) (m []metadata.UntaggedManifest, err error) {
	defer func(t time.Time) { s.obs("expired_manifests", t, err) }(time.Now())
	return s.next.ExpiredManifests(ctx, repo, before, after, limit)
}

func (s meteredMeta) DeleteExpiredManifest(ctx context.Context, m metadata.ManifestRef, before time.Time) (ok bool, err error) {
	defer func(t time.Time) { s.obs("delete_expired_manifest", t, err) }(time.Now())
	return s.next.DeleteExpiredManifest(ctx, m, before)
}

func (s meteredMeta) AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (ok bool, err error) {
	defer func(t time.Time) { s.obs("acquire_lease", t, err) }(time.Now())
	return s.next.AcquireLease(ctx, name, holder, now, ttl)
}

func (s meteredMeta) ReleaseLease(ctx context.Context, name, holder string) (err error) {
	defer func(t time.Time) { s.obs("release_lease", t, err) }(time.Now())
	return s.next.ReleaseLease(ctx, name, holder)
}

func (s meteredMeta) ClaimDeltaJob(ctx context.Context, owner string, lease time.Duration) (j metadata.DeltaJob, err error) {
	defer func(t time.Time) { s.obs("claim_delta_job", t, err) }(time.Now())
	return s.next.ClaimDeltaJob(ctx, owner, lease)
}

func (s meteredMeta) RenewDeltaJob(ctx context.Context, j metadata.DeltaJob, lease time.Duration) (err error) {
	defer func(t time.Time) { s.obs("renew_delta_job", t, err) }(time.Now())
	return s.next.RenewDeltaJob(ctx, j, lease)
}

func (s meteredMeta) FinishDeltaJob(ctx context.Context, j metadata.DeltaJob, o metadata.DeltaOutcome) (err error) {
	defer func(t time.Time) { s.obs("finish_delta_job", t, err) }(time.Now())
	return s.next.FinishDeltaJob(ctx, j, o)
}

func (s meteredMeta) DeltaJobs(ctx context.Context, repo string, after int64, limit int) (j []metadata.DeltaJob, err error) {
	defer func(t time.Time) { s.obs("delta_jobs", t, err) }(time.Now())
	return s.next.DeltaJobs(ctx, repo, after, limit)
}

func (s meteredMeta) RecordDeltas(ctx context.Context, repo string, target digest.Digest, layers []metadata.LayerDelta, m *metadata.DeltaManifest) (err error) {
	defer func(t time.Time) { s.obs("record_deltas", t, err) }(time.Now())
	return s.next.RecordDeltas(ctx, repo, target, layers, m)
}

func (s meteredMeta) LayerDeltas(ctx context.Context, repo string, target digest.Digest) (l []metadata.LayerDelta, err error) {
	defer func(t time.Time) { s.obs("layer_deltas", t, err) }(time.Now())
	return s.next.LayerDeltas(ctx, repo, target)
}

func (s meteredMeta) ListDeltas(ctx context.Context, repo string, after metadata.DeltaCursor, limit int) (l []metadata.LayerDelta, err error) {
	defer func(t time.Time) { s.obs("list_deltas", t, err) }(time.Now())
	return s.next.ListDeltas(ctx, repo, after, limit)
}

func (s meteredMeta) DeltaIndex(ctx context.Context, repo string) (d []metadata.DeltaManifest, err error) {
	defer func(t time.Time) { s.obs("delta_index", t, err) }(time.Now())
	return s.next.DeltaIndex(ctx, repo)
}

func (s meteredMeta) DeltaManifests(ctx context.Context, images []metadata.ManifestRef) (m map[metadata.ManifestRef]digest.Digest, err error) {
	defer func(t time.Time) { s.obs("delta_manifests", t, err) }(time.Now())
	return s.next.DeltaManifests(ctx, images)
}

func (s meteredMeta) ExpireDeltas(ctx context.Context, before time.Time) (e metadata.ExpiredDeltas, err error) {
	defer func(t time.Time) { s.obs("expire_deltas", t, err) }(time.Now())
	return s.next.ExpireDeltas(ctx, before)
}

// meteredBlobs wraps a blob store with timing. Open and OpenUpload are timed until the
// stream starts; the transfer itself runs at the client's speed. Like meteredMeta it
// embeds nothing.
type meteredBlobs struct {
	next blobstore.Store
	m    *storeMetrics
}

var _ blobstore.Store = meteredBlobs{}

func (s meteredBlobs) obs(op string, start time.Time, err error) {
	s.m.observe("blobs", op, start, err)
}

func (s meteredBlobs) Stat(ctx context.Context, d digest.Digest) (n int64, err error) {
	defer func(t time.Time) { s.obs("stat", t, err) }(time.Now())
	return s.next.Stat(ctx, d)
}

func (s meteredBlobs) Open(ctx context.Context, d digest.Digest, offset, length int64) (rc io.ReadCloser, err error) {
	defer func(t time.Time) { s.obs("open", t, err) }(time.Now())
	return s.next.Open(ctx, d, offset, length)
}

func (s meteredBlobs) Delete(ctx context.Context, d digest.Digest) (err error) {
	defer func(t time.Time) { s.obs("delete", t, err) }(time.Now())
	return s.next.Delete(ctx, d)
}

func (s meteredBlobs) Append(ctx context.Context, upload string, offset int64, r io.Reader) (n int64, err error) {
	defer func(t time.Time) { s.obs("append", t, err) }(time.Now())
	return s.next.Append(ctx, upload, offset, r)
}

func (s meteredBlobs) Commit(ctx context.Context, upload string, size int64, d digest.Digest) (err error) {
	defer func(t time.Time) { s.obs("commit", t, err) }(time.Now())
	return s.next.Commit(ctx, upload, size, d)
}

func (s meteredBlobs) OpenUpload(ctx context.Context, upload string) (rc io.ReadCloser, err error) {
	defer func(t time.Time) { s.obs("open_upload", t, err) }(time.Now())
	return s.next.OpenUpload(ctx, upload)
}

func (s meteredBlobs) Abort(ctx context.Context, upload string) (err error) {
	defer func(t time.Time) { s.obs("abort", t, err) }(time.Now())
	return s.next.Abort(ctx, upload)
}
