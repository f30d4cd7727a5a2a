-- Storage quotas (see the SQLite migration of the same number).
ALTER TABLE repositories ADD COLUMN namespace TEXT COLLATE "C" NOT NULL DEFAULT '';
UPDATE repositories SET namespace = split_part(name, '/', 1);
CREATE INDEX repositories_namespace ON repositories (namespace, name);

CREATE TABLE namespace_blobs (
    namespace TEXT COLLATE "C" NOT NULL,
    digest    TEXT COLLATE "C" NOT NULL,
    size      BIGINT NOT NULL,
    refs      BIGINT NOT NULL,
    PRIMARY KEY (namespace, digest)
);

CREATE TABLE namespace_usage (
    namespace TEXT COLLATE "C" PRIMARY KEY,
    bytes     BIGINT NOT NULL,
    objects   BIGINT NOT NULL
);

CREATE TABLE quota_state (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    fingerprint TEXT NOT NULL
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
