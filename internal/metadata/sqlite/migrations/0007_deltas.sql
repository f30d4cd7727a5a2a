-- Flatpak image deltas (internal/deltas, docs/flatpak.md "Deltas").
--
-- The queue: one job per tag, queued by the transaction that moves the tag to a Flatpak
-- image; moves while it waits are coalesced into it (version counts them). A job is in
-- the hands of `owner` until lease_until; a crashed worker's lease runs out and the job
-- is claimed again.
CREATE TABLE delta_jobs (
    id            INTEGER PRIMARY KEY,
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    tag           TEXT    NOT NULL,
    target_digest TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    queued_at     INTEGER NOT NULL,
    not_before    INTEGER NOT NULL DEFAULT 0,
    lease_until   INTEGER NOT NULL DEFAULT 0,
    owner         TEXT    NOT NULL DEFAULT '',
    finished_at   INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT    NOT NULL DEFAULT '',
    UNIQUE (repository_id, tag)
);
CREATE INDEX delta_jobs_due ON delta_jobs (state, not_before, id);

-- Every delta made, published (blob_digest set) or not worth it (''), from the last
-- layer of a source image to one layer of a target image.
CREATE TABLE deltas (
    repository_id  INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    target_digest  TEXT    NOT NULL,
    source_digest  TEXT    NOT NULL,
    to_diff_id     TEXT    NOT NULL,
    source_left_at INTEGER NOT NULL,
    layer          INTEGER NOT NULL,
    from_diff_id   TEXT    NOT NULL,
    blob_digest    TEXT    NOT NULL,
    size           INTEGER NOT NULL,
    layer_size     INTEGER NOT NULL,
    make_ns        INTEGER NOT NULL,
    verify_ns      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (repository_id, target_digest, source_digest, to_diff_id)
) WITHOUT ROWID;
CREATE INDEX deltas_source ON deltas (repository_id, source_digest);

-- The delta manifest of each target image: what _deltaindex lists and DeltaUrl names.
CREATE TABLE delta_manifests (
    repository_id   INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    target_digest   TEXT    NOT NULL,
    manifest_digest TEXT    NOT NULL,
    size            INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (repository_id, target_digest)
) WITHOUT ROWID;

-- Garbage collection asks whether a tag left an image within the window (the same index
-- as retention's, 0005: IF NOT EXISTS).
CREATE INDEX IF NOT EXISTS tag_history_old ON tag_history (repository_id, old_digest, moved_at);
