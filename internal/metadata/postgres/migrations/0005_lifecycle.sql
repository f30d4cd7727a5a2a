-- Registry lifecycle: last pulls, leases, and where an untagged manifest's grace period
-- starts (see the SQLite migration of the same number).
CREATE TABLE pulls (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    reference     TEXT COLLATE "C" NOT NULL,
    pulled_at     BIGINT NOT NULL,
    PRIMARY KEY (repository_id, reference)
);

CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE INDEX IF NOT EXISTS tag_history_old ON tag_history (repository_id, old_digest, moved_at);
