-- Users (MySQL 8 / MariaDB 10.6+): the same columns as the SQLite schema of the same version.
-- Every table states utf8mb4 with the binary collation, whatever the database's default: the
-- usual defaults (utf8mb4_general_ci, utf8mb4_0900_ai_ci) fold case and accents in comparisons
-- and unique keys, so `José` and `Jose` would collide, which they do not on SQLite. Keys are
-- lowercased by profilebox itself, as on every backend. Indexed text is VARCHAR (a unique key on
-- TEXT needs a prefix length), sized to the longest value profilebox accepts.
-- AUTO_INCREMENT survives a restart on MariaDB 10.2.4+ and MySQL 8, so ids are never reused:
-- old tokens stay dead.
CREATE TABLE users (
    id                BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username          VARCHAR(32),
    username_key      VARCHAR(32) UNIQUE,   -- lowercased, for case-insensitive uniqueness
    email             VARCHAR(254) UNIQUE,  -- stored lowercased
    password_hash     TEXT NOT NULL,
    name              TEXT,
    first_name        TEXT,
    last_name         TEXT,
    description       TEXT,
    profile_image_url TEXT,
    image_file        VARCHAR(64) UNIQUE,
    email_verified    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL,
    CHECK (username IS NOT NULL OR email IS NOT NULL)
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
