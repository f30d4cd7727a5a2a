-- The same tables as sqlite/migrations/0004 (see there): App facts and icons extracted
-- at push time, per-repository figures, the order "newest tags first", and the pending
-- one-time backfill. Names, digests and app ids compare in byte order ("C").

CREATE TABLE icons (
    digest     TEXT COLLATE "C" PRIMARY KEY,
    data       BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);

-- One row per image manifest with a valid org.flatpak.ref label; icon64/icon128 are the
-- valid icons of its labels (NULL when absent or refused).
CREATE TABLE manifest_apps (
    manifest_id BIGINT PRIMARY KEY REFERENCES manifests (id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    app_id      TEXT COLLATE "C" NOT NULL,
    arch        TEXT NOT NULL,
    branch      TEXT NOT NULL,
    runtime     TEXT NOT NULL DEFAULT '',
    name        TEXT NOT NULL DEFAULT '',
    summary     TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    license     TEXT NOT NULL DEFAULT '',
    homepage    TEXT NOT NULL DEFAULT '',
    version     TEXT NOT NULL DEFAULT '',
    releases    TEXT NOT NULL DEFAULT '[]',
    icon64      TEXT COLLATE "C" REFERENCES icons (digest),
    icon128     TEXT COLLATE "C" REFERENCES icons (digest)
);
CREATE INDEX manifest_apps_app ON manifest_apps (app_id);
CREATE INDEX manifest_apps_icon64 ON manifest_apps (icon64) WHERE icon64 IS NOT NULL;
CREATE INDEX manifest_apps_icon128 ON manifest_apps (icon128) WHERE icon128 IS NOT NULL;

-- Tag count, bytes of linked blobs and last push of each repository, moved by the
-- writes that change them so a page of repositories never counts anything.
CREATE TABLE repository_stats (
    repository_id BIGINT PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    tag_count     BIGINT NOT NULL DEFAULT 0,
    blob_bytes    BIGINT NOT NULL DEFAULT 0,
    pushed_at     BIGINT NOT NULL DEFAULT 0
);
INSERT INTO repository_stats (repository_id, tag_count, blob_bytes, pushed_at)
SELECT r.id,
    (SELECT count(*) FROM tags t WHERE t.repository_id = r.id),
    (SELECT coalesce(sum(b.size), 0) FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest WHERE rb.repository_id = r.id),
    (SELECT coalesce(max(m.created_at), 0) FROM manifests m WHERE m.repository_id = r.id)
FROM repositories r;

-- Newest tags first: a keyset range scan, like the order by name.
CREATE INDEX tags_updated ON tags (repository_id, updated_at, name);

-- One-time backfills in Go, pending until a server records them done: manifests pushed
-- before this migration get their App facts from the labels already stored.
CREATE TABLE backfills (
    name TEXT PRIMARY KEY
);
INSERT INTO backfills (name) VALUES ('apps');
