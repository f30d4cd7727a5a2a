-- Every move of a tag, written by the transaction that moves it: which digest it left
-- ('' when it was created) and which it took ('' when it was removed), when, by whom and
-- on which replica. Digests are text, not references: the history outlives manifests.
CREATE TABLE tag_history (
    id            INTEGER PRIMARY KEY,
    repository_id INTEGER NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    tag           TEXT    NOT NULL,
    old_digest    TEXT    NOT NULL,
    new_digest    TEXT    NOT NULL,
    moved_at      INTEGER NOT NULL,
    actor         TEXT    NOT NULL,
    replica       TEXT    NOT NULL
);
-- One tag's history, newest first, is a range scan of the first; the whole registry's
-- in time order of the second.
CREATE INDEX tag_history_tag ON tag_history (repository_id, tag, id);
CREATE INDEX tag_history_time ON tag_history (moved_at, id);
