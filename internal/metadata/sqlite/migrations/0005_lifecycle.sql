-- Registry lifecycle (docs/lifecycle.md): last pulls, leases, and where an untagged
-- manifest's grace period starts.

-- When content was last pulled, per repository: a tag, or a manifest or blob digest (a
-- digest contains ':', a tag never does). Written in batches, never once per pull.
CREATE TABLE pulls (
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    reference     TEXT    NOT NULL,
    pulled_at     INTEGER NOT NULL,
    PRIMARY KEY (repository_id, reference)
) WITHOUT ROWID;

-- A job that one replica at a time may run (retention) holds its lease here.
CREATE TABLE leases (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- When a tag last left a manifest: an untagged manifest's grace period starts there.
-- (IF NOT EXISTS: the Flatpak deltas' migration wants the same index.)
CREATE INDEX IF NOT EXISTS tag_history_old ON tag_history (repository_id, old_digest, moved_at);
