-- The pull-through cache (internal/mirror): which repositories are copies of an upstream
-- registry, when each of their tags was last checked against it (the start of its time
-- to live), and which replica is fetching a blob right now (a lease that expires, so a
-- replica that dies mid-fetch does not block the others for long).
CREATE TABLE mirror_repositories (
    repository_id INTEGER PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    upstream      TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);

CREATE TABLE mirror_tags (
    repository_id INTEGER NOT NULL,
    name          TEXT    NOT NULL,
    checked_at    INTEGER NOT NULL,
    PRIMARY KEY (repository_id, name),
    FOREIGN KEY (repository_id, name) REFERENCES tags (repository_id, name) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE mirror_fetches (
    digest     TEXT    PRIMARY KEY,
    owner      TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
