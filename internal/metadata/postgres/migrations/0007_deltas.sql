-- Flatpak image deltas (see the SQLite migration of the same number).
CREATE TABLE delta_jobs (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    tag           TEXT COLLATE "C" NOT NULL,
    target_digest TEXT COLLATE "C" NOT NULL,
    state         TEXT NOT NULL,
    version       BIGINT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    queued_at     BIGINT NOT NULL,
    not_before    BIGINT NOT NULL DEFAULT 0,
    lease_until   BIGINT NOT NULL DEFAULT 0,
    owner         TEXT NOT NULL DEFAULT '',
    finished_at   BIGINT NOT NULL DEFAULT 0,
    last_error    TEXT NOT NULL DEFAULT '',
    UNIQUE (repository_id, tag)
);
CREATE INDEX delta_jobs_due ON delta_jobs (state, not_before, id);

CREATE TABLE deltas (
    repository_id  BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    target_digest  TEXT COLLATE "C" NOT NULL,
    source_digest  TEXT COLLATE "C" NOT NULL,
    to_diff_id     TEXT COLLATE "C" NOT NULL,
    source_left_at BIGINT NOT NULL,
    layer          INTEGER NOT NULL,
    from_diff_id   TEXT COLLATE "C" NOT NULL,
    blob_digest    TEXT COLLATE "C" NOT NULL,
    size           BIGINT NOT NULL,
    layer_size     BIGINT NOT NULL,
    make_ns        BIGINT NOT NULL,
    verify_ns      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (repository_id, target_digest, source_digest, to_diff_id)
);
CREATE INDEX deltas_source ON deltas (repository_id, source_digest);

CREATE TABLE delta_manifests (
    repository_id   BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    target_digest   TEXT COLLATE "C" NOT NULL,
    manifest_digest TEXT COLLATE "C" NOT NULL,
    size            BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (repository_id, target_digest)
);

CREATE INDEX IF NOT EXISTS tag_history_old ON tag_history (repository_id, old_digest, moved_at);
