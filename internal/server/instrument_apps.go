package server

import (
	"context"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/metadata"
)

// The measured methods of the Flatpak index's scan and of the App facts and icons
// extracted at push (Index, AppStore); see meteredMeta.

// ScanIndex's time includes fn's, the rendering of the answer it streams into.
func (s meteredMeta) ScanIndex(ctx context.Context, f metadata.ImageFilter, opts metadata.ScanOptions, fn func(metadata.IndexEntry) error) (err error) {
	defer func(t time.Time) { s.obs("scan_index", t, err) }(time.Now())
	return s.next.ScanIndex(ctx, f, opts, fn)
}

func (s meteredMeta) IndexDuplicates(ctx context.Context, f metadata.ImageFilter, key string) (r []metadata.IndexKey, err error) {
	defer func(t time.Time) { s.obs("index_duplicates", t, err) }(time.Now())
	return s.next.IndexDuplicates(ctx, f, key)
}

func (s meteredMeta) Icon(ctx context.Context, d digest.Digest) (b []byte, err error) {
	defer func(t time.Time) { s.obs("icon", t, err) }(time.Now())
	return s.next.Icon(ctx, d)
}

func (s meteredMeta) IconRepositories(ctx context.Context, d digest.Digest, after string, limit int) (r []string, err error) {
	defer func(t time.Time) { s.obs("icon_repositories", t, err) }(time.Now())
	return s.next.IconRepositories(ctx, d, after, limit)
}

func (s meteredMeta) Apps(ctx context.Context, after string, limit int) (ids []string, images []metadata.AppImage, err error) {
	defer func(t time.Time) { s.obs("apps", t, err) }(time.Now())
	return s.next.Apps(ctx, after, limit)
}

func (s meteredMeta) AppImages(ctx context.Context, id string) (r []metadata.AppImage, err error) {
	defer func(t time.Time) { s.obs("app_images", t, err) }(time.Now())
	return s.next.AppImages(ctx, id)
}

func (s meteredMeta) BackfillPending(ctx context.Context, name string) (ok bool, err error) {
	defer func(t time.Time) { s.obs("backfill_pending", t, err) }(time.Now())
	return s.next.BackfillPending(ctx, name)
}

func (s meteredMeta) AppSources(ctx context.Context, after metadata.ManifestRef, limit int) (r []metadata.AppSource, err error) {
	defer func(t time.Time) { s.obs("app_sources", t, err) }(time.Now())
	return s.next.AppSources(ctx, after, limit)
}

func (s meteredMeta) PutApp(ctx context.Context, m metadata.ManifestRef, app *metadata.App) (err error) {
	defer func(t time.Time) { s.obs("put_app", t, err) }(time.Now())
	return s.next.PutApp(ctx, m, app)
}

func (s meteredMeta) FinishBackfill(ctx context.Context, name string) (err error) {
	defer func(t time.Time) { s.obs("finish_backfill", t, err) }(time.Now())
	return s.next.FinishBackfill(ctx, name)
}
