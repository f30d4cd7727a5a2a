-- Storage quotas. Every repository counts in a namespace, assigned when it is created by
-- the quota policy (here backfilled as the first path segment, the policy without
-- rules). namespace_blobs holds each distinct blob a namespace's repositories link once,
-- with refs = how many of those links there are; namespace_usage sums those blobs and
-- the manifests the repositories store (each repository stores its own copy), and is
-- the row a push updates with its check. quota_state records under which rules the
-- namespaces were assigned.
ALTER TABLE repositories ADD COLUMN namespace TEXT NOT NULL DEFAULT '';
UPDATE repositories SET namespace =
    CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) ELSE name END;
CREATE INDEX repositories_namespace ON repositories (namespace, name);

CREATE TABLE namespace_blobs (
    namespace TEXT    NOT NULL,
    digest    TEXT    NOT NULL,
    size      INTEGER NOT NULL,
    refs      INTEGER NOT NULL,
    PRIMARY KEY (namespace, digest)
) WITHOUT ROWID;

CREATE TABLE namespace_usage (
    namespace TEXT    PRIMARY KEY,
    bytes     INTEGER NOT NULL,
    objects   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE quota_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT    NOT NULL
);
INSERT INTO quota_state (id, fingerprint) VALUES (1, '');

INSERT INTO namespace_blobs (namespace, digest, size, refs)
SELECT r.namespace, rb.digest, max(b.size), count(*) FROM repository_blobs rb
    JOIN repositories r ON r.id = rb.repository_id JOIN blobs b ON b.digest = rb.digest
GROUP BY r.namespace, rb.digest;
INSERT INTO namespace_usage (namespace, bytes, objects)
SELECT namespace, sum(size), count(*) FROM (
    SELECT namespace, size FROM namespace_blobs
    UNION ALL
    SELECT r.namespace, length(m.payload) FROM manifests m JOIN repositories r ON r.id = m.repository_id
) AS content GROUP BY namespace;
