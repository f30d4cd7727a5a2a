package registry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/appstream"
	"github.com/berth-registry/berth/internal/metadata"
)

// appOf extracts the App facts of an image from its config labels (nil for an image
// that is no Flatpak). A label that cannot be used is left out and logged: the push
// itself never fails for it, and the manifest's digest and labels stay as pushed.
func (s *Service) appOf(ctx context.Context, repo string, d digest.Digest, labels map[string]string) *metadata.App {
	app, problems := appstream.Extract(labels)
	for _, p := range problems {
		s.log.WarnContext(ctx, "flatpak label dropped", "repo", repo, "digest", d, "err", p)
	}
	return app
}

// AppBackfiller is what the one-time extraction of App facts needs of the store.
type AppBackfiller interface {
	BackfillPending(ctx context.Context, name string) (bool, error)
	AppSources(ctx context.Context, after metadata.ManifestRef, limit int) ([]metadata.AppSource, error)
	PutApp(ctx context.Context, m metadata.ManifestRef, app *metadata.App) error
	FinishBackfill(ctx context.Context, name string) error
}

// BackfillApps gives the manifests pushed before Berth extracted App facts theirs, from
// the labels the store already holds (no blob is read), and records the backfill done,
// so that later starts skip it with one query. Replicas that run it at once do the same
// idempotent writes. Until it finishes, the index serves such images' icons inline.
func BackfillApps(ctx context.Context, store AppBackfiller, log *slog.Logger) error {
	pending, err := store.BackfillPending(ctx, metadata.BackfillAppsName)
	if err != nil || !pending {
		return err
	}
	var after metadata.ManifestRef
	done := 0
	for {
		srcs, err := store.AppSources(ctx, after, 200)
		if err != nil {
			return fmt.Errorf("backfill apps: %w", err)
		}
		for _, src := range srcs {
			app, problems := appstream.Extract(src.Labels)
			for _, p := range problems {
				log.WarnContext(ctx, "flatpak label dropped", "repo", src.Ref.Repository, "digest", src.Ref.Digest, "err", p)
			}
			if app == nil {
				// An org.flatpak.ref that does not parse: no App, and AppSources
				// would offer it again, so the walk moves past it.
				continue
			}
			if err := store.PutApp(ctx, src.Ref, app); err != nil && !errors.Is(err, metadata.ErrNotFound) {
				return fmt.Errorf("backfill apps: %s@%s: %w", src.Ref.Repository, src.Ref.Digest, err)
			}
			done++
		}
		if len(srcs) < 200 {
			break
		}
		after = srcs[len(srcs)-1].Ref
	}
	if err := store.FinishBackfill(ctx, metadata.BackfillAppsName); err != nil {
		return fmt.Errorf("backfill apps: %w", err)
	}
	log.InfoContext(ctx, "flatpak apps extracted from existing images", "images", done)
	return nil
}
