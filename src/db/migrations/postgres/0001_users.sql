-- Users (PostgreSQL): the same columns as the SQLite schema of the same version. Ids come from
-- an identity sequence, which never hands out a number twice: old tokens stay dead.
CREATE TABLE users (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username          TEXT,
    username_key      TEXT UNIQUE,     -- lowercased, for case-insensitive uniqueness
    email             TEXT UNIQUE,     -- stored lowercased
    password_hash     TEXT NOT NULL,
    name              TEXT,
    first_name        TEXT,
    last_name         TEXT,
    description       TEXT,
    profile_image_url TEXT,
    image_file        TEXT UNIQUE,
    email_verified    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CHECK (username IS NOT NULL OR email IS NOT NULL)
);
