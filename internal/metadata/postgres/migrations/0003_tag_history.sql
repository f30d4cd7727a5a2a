-- Every move of a tag (see the SQLite migration of the same number).
CREATE TABLE tag_history (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository_id BIGINT NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    tag           TEXT COLLATE "C" NOT NULL,
    old_digest    TEXT COLLATE "C" NOT NULL,
    new_digest    TEXT COLLATE "C" NOT NULL,
    moved_at      BIGINT NOT NULL,
    actor         TEXT NOT NULL,
    replica       TEXT NOT NULL
);
CREATE INDEX tag_history_tag ON tag_history (repository_id, tag, id);
CREATE INDEX tag_history_time ON tag_history (moved_at, id);
