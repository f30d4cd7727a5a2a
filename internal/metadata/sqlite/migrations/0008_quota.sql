-- Storage quotas. Every repository counts in a namespace, assigned when it is created by
-- the quota policy (here backfilled as the first path segment, the policy without
-- rules). namespace_objects holds each distinct blob or manifest of a namespace once,
-- with refs = how many links and manifests of the namespace's repositories have its
-- digest; namespace_usage is the sum per namespace, the row a link updates with its
-- check. quota_state records under which rules the namespaces were assigned.
ALTER TABLE repositories ADD COLUMN namespace TEXT NOT NULL DEFAULT '';
UPDATE repositories SET namespace =
    CASE WHEN instr(name, '/') > 0 THEN substr(name, 1, instr(name, '/') - 1) ELSE name END;
CREATE INDEX repositories_namespace ON repositories (namespace, name);

CREATE TABLE namespace_objects (
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

INSERT INTO namespace_objects (namespace, digest, size, refs)
SELECT namespace, digest, max(size), count(*) FROM (
    SELECT r.namespace, rb.digest, b.size FROM repository_blobs rb
        JOIN repositories r ON r.id = rb.repository_id JOIN blobs b ON b.digest = rb.digest
    UNION ALL
    SELECT r.namespace, m.digest, length(m.payload) FROM manifests m
        JOIN repositories r ON r.id = m.repository_id
) AS content GROUP BY namespace, digest;
INSERT INTO namespace_usage (namespace, bytes, objects)
SELECT namespace, sum(size), count(*) FROM namespace_objects GROUP BY namespace;
