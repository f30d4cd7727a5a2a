-- The pull-through cache: the same tables as on SQLite (see
-- internal/metadata/sqlite/migrations/0006_mirror.sql).
CREATE TABLE mirror_repositories (
    repository_id BIGINT PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    upstream      TEXT   NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE mirror_tags (
    repository_id BIGINT NOT NULL,
    name          TEXT COLLATE "C" NOT NULL,
    checked_at    BIGINT NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, name) REFERENCES tags (repository_id, name) ON DELETE CASCADE
);

CREATE TABLE mirror_fetches (
    digest     TEXT COLLATE "C" PRIMARY KEY,
    owner      TEXT   NOT NULL,
    expires_at BIGINT NOT NULL
);
