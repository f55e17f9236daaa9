-- Stored pictures (PostgreSQL), as in the SQLite schema of the same version.
CREATE TABLE images (
    name       TEXT PRIMARY KEY,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    bytes      BYTEA NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX images_by_user ON images (user_id);
