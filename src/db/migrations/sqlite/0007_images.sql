-- Stored pictures, when `image_store = "database"`: the re-encoded JPEG under the name that
-- `users.image_file` holds. A row exists only while its user points at it: replacing or clearing
-- the picture deletes the row in the same transaction, deleting the user cascades.
CREATE TABLE images (
    name       TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    bytes      BLOB NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX images_by_user ON images (user_id);
