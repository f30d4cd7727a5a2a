package server

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/berth-registry/berth/internal/blobstore"
	"github.com/berth-registry/berth/internal/blobstore/fs"
	"github.com/berth-registry/berth/internal/blobstore/s3"
	"github.com/berth-registry/berth/internal/config"
	"github.com/berth-registry/berth/internal/metadata"
	"github.com/berth-registry/berth/internal/metadata/postgres"
	"github.com/berth-registry/berth/internal/metadata/sqlite"
)

// openMetadata opens the metadata store the configuration names: SQLite in the data
// directory unless a URL says otherwise.
func openMetadata(ctx context.Context, cfg config.Config) (metadata.Store, error) {
	if cfg.Metadata == "" {
		return sqlite.Open(ctx, filepath.Join(cfg.Data, "metadata.db"))
	}
	u, err := url.Parse(cfg.Metadata)
	if err != nil {
		return nil, fmt.Errorf("metadata URL: %w", err)
	}
	switch u.Scheme {
	case "sqlite":
		return sqlite.Open(ctx, u.Path)
	case "postgres", "postgresql":
		return postgres.Open(ctx, cfg.Metadata)
	}
	return nil, fmt.Errorf("metadata store %q is not supported by this build", u.Scheme)
}

// openBlobs opens the blob store the configuration names: files in the data directory
// unless a URL says otherwise.
func openBlobs(ctx context.Context, cfg config.Config) (blobstore.Store, error) {
	if cfg.Blobs == "" {
		return fs.New(cfg.Data)
	}
	u, err := url.Parse(cfg.Blobs)
	if err != nil {
		return nil, fmt.Errorf("blobs URL: %w", err)
	}
	switch u.Scheme {
	case "file":
		return fs.New(u.Path)
	case "s3":
		o, err := s3.ParseURL(cfg.Blobs)
		if err != nil {
			return nil, err
		}
		o.AccessKey, o.SecretKey = cfg.S3.AccessKey, cfg.S3.SecretKey
		return s3.Open(ctx, o)
	}
	return nil, fmt.Errorf("blob store %q is not supported by this build", u.Scheme)
}
