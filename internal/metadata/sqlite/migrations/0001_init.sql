-- Berth's metadata schema. Text compares with the default BINARY collation, which is
-- byte order: the order tags/list and _catalog promise.

CREATE TABLE repositories (
    id         INTEGER PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE blobs (
    digest     TEXT    PRIMARY KEY,
    size       INTEGER NOT NULL,
    created_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Which repository may serve which blob: the unit of pulls, mounts and deletes.
CREATE TABLE repository_blobs (
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest        TEXT    NOT NULL REFERENCES blobs (digest),
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (repository_id, digest)
) WITHOUT ROWID;
CREATE INDEX repository_blobs_digest ON repository_blobs (digest);

CREATE TABLE manifests (
    id                INTEGER PRIMARY KEY,
    repository_id     INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest            TEXT    NOT NULL,
    media_type        TEXT    NOT NULL,
    artifact_type     TEXT    NOT NULL DEFAULT '',
    config_digest     TEXT    NOT NULL DEFAULT '',
    config_media_type TEXT    NOT NULL DEFAULT '',
    subject_digest    TEXT    NOT NULL DEFAULT '',
    os                TEXT    NOT NULL DEFAULT '',
    architecture      TEXT    NOT NULL DEFAULT '',
    variant           TEXT    NOT NULL DEFAULT '',
    payload           BLOB    NOT NULL,
    created_at        INTEGER NOT NULL,
    UNIQUE (repository_id, digest)
);
CREATE INDEX manifests_subject ON manifests (repository_id, subject_digest, digest) WHERE subject_digest <> '';

-- Config and layer references, for garbage collection.
CREATE TABLE manifest_blobs (
    manifest_id INTEGER NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    digest      TEXT    NOT NULL,
    PRIMARY KEY (manifest_id, digest)
) WITHOUT ROWID;
CREATE INDEX manifest_blobs_digest ON manifest_blobs (digest);

-- Index → child references.
CREATE TABLE manifest_children (
    manifest_id  INTEGER NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    child_digest TEXT    NOT NULL,
    PRIMARY KEY (manifest_id, child_digest)
) WITHOUT ROWID;
CREATE INDEX manifest_children_child ON manifest_children (child_digest);

-- Image config labels and manifest annotations, indexed by key and value for the
-- Flatpak index and other queries that must never open blobs.
CREATE TABLE manifest_labels (
    manifest_id INTEGER NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    key         TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    PRIMARY KEY (manifest_id, key)
) WITHOUT ROWID;
CREATE INDEX manifest_labels_kv ON manifest_labels (key, value);

CREATE TABLE manifest_annotations (
    manifest_id INTEGER NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    key         TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    PRIMARY KEY (manifest_id, key)
) WITHOUT ROWID;
CREATE INDEX manifest_annotations_kv ON manifest_annotations (key, value);

-- Keyed by (repository, name) without rowid: a tags/list page is a range scan.
CREATE TABLE tags (
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name          TEXT    NOT NULL,
    manifest_id   INTEGER NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (repository_id, name)
) WITHOUT ROWID;
CREATE INDEX tags_manifest ON tags (manifest_id);

CREATE TABLE uploads (
    id         TEXT    PRIMARY KEY,
    repository TEXT    NOT NULL,
    algorithm  TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    hash_state BLOB    NOT NULL,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Bumped by every change to tags or manifests, so caches can tell they are stale.
CREATE TABLE changes (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO changes (id, generation) VALUES (1, 0);
