-- Garbage collection: when a blob was last linked (uploaded or mounted) into any
-- repository starts its grace period; links and uploads are found by age.
ALTER TABLE blobs ADD COLUMN linked_at INTEGER NOT NULL DEFAULT 0;
UPDATE blobs SET linked_at = created_at;
CREATE INDEX blobs_linked_at ON blobs (linked_at);
CREATE INDEX repository_blobs_created ON repository_blobs (created_at);
CREATE INDEX uploads_updated ON uploads (updated_at);
CREATE INDEX manifests_created ON manifests (created_at);
