-- Berth's metadata schema on PostgreSQL: the same tables as on SQLite (see
-- internal/metadata/sqlite/migrations). Names and digests compare with the "C"
-- collation, which is byte order: the order tags/list and _catalog promise.

CREATE TABLE repositories (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE blobs (
    digest     TEXT COLLATE "C" PRIMARY KEY,
    size       BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    linked_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX blobs_linked_at ON blobs (linked_at);

CREATE TABLE repository_blobs (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        TEXT COLLATE "C" NOT NULL REFERENCES blobs (digest),
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, digest)
);
CREATE INDEX repository_blobs_digest ON repository_blobs (digest);
CREATE INDEX repository_blobs_created ON repository_blobs (created_at);

CREATE TABLE manifests (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id     BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest            TEXT COLLATE "C" NOT NULL,
    media_type        TEXT NOT NULL,
    artifact_type     TEXT NOT NULL DEFAULT '',
    config_digest     TEXT COLLATE "C" NOT NULL DEFAULT '',
    config_media_type TEXT NOT NULL DEFAULT '',
    subject_digest    TEXT COLLATE "C" NOT NULL DEFAULT '',
    os                TEXT NOT NULL DEFAULT '',
    architecture      TEXT NOT NULL DEFAULT '',
    variant           TEXT NOT NULL DEFAULT '',
    payload           BYTEA NOT NULL,
    created_at        BIGINT NOT NULL,
    UNIQUE (repository_id, digest)
);
CREATE INDEX manifests_subject ON manifests (repository_id, subject_digest, digest) WHERE subject_digest <> '';
CREATE INDEX manifests_created ON manifests (created_at);

CREATE TABLE manifest_blobs (
    manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    digest      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (manifest_id, digest)
);
CREATE INDEX manifest_blobs_digest ON manifest_blobs (digest);

CREATE TABLE manifest_children (
    manifest_id  BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    child_digest TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (manifest_id, child_digest)
);
CREATE INDEX manifest_children_child ON manifest_children (child_digest);

CREATE TABLE manifest_labels (
    manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (manifest_id, key)
);
CREATE INDEX manifest_labels_kv ON manifest_labels (key, value);

CREATE TABLE manifest_annotations (
    manifest_id BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    value       TEXT NOT NULL,
    PRIMARY KEY (manifest_id, key)
);
CREATE INDEX manifest_annotations_kv ON manifest_annotations (key, value);

CREATE TABLE tags (
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name          TEXT COLLATE "C" NOT NULL,
    manifest_id   BIGINT NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, name)
);
CREATE INDEX tags_manifest ON tags (manifest_id);

CREATE TABLE uploads (
    id         TEXT PRIMARY KEY,
    repository TEXT NOT NULL,
    algorithm  TEXT NOT NULL,
    size       BIGINT NOT NULL,
    hash_state BYTEA NOT NULL,
    started_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX uploads_updated ON uploads (updated_at);

CREATE TABLE changes (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation BIGINT NOT NULL
);
INSERT INTO changes (id, generation) VALUES (1, 0);
