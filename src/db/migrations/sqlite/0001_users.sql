-- Users. Column types are chosen to port to MySQL and PostgreSQL unchanged: integers, text,
-- booleans; timestamps are Unix seconds.
CREATE TABLE users (
    id                INTEGER PRIMARY KEY AUTOINCREMENT, -- ids are never reused: old tokens stay dead
    username          TEXT,                              -- as typed
    username_key      TEXT UNIQUE,                       -- lowercased, for case-insensitive uniqueness
    email             TEXT UNIQUE,                       -- stored lowercased
    password_hash     TEXT NOT NULL,                     -- PHC string, iterations included
    name              TEXT,
    first_name        TEXT,
    last_name         TEXT,
    description       TEXT,
    profile_image_url TEXT,                              -- an external image URL given by the user
    image_file        TEXT UNIQUE,                       -- the stored JPEG in <data_dir>/images
    email_verified    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CHECK (username IS NOT NULL OR email IS NOT NULL)
);
