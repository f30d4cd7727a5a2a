-- The same tables as sqlite/migrations/0004 (see there): App facts and icons extracted
-- at push time, and the pending one-time backfill. Names, digests and app ids compare in byte order ("C").

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

-- One-time backfills in Go, pending until a server records them done: manifests pushed
-- before this migration get their App facts from the labels already stored.
CREATE TABLE backfills (
    name TEXT PRIMARY KEY
);
INSERT INTO backfills (name) VALUES ('apps');
