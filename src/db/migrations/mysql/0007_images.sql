-- Stored pictures (MySQL 8 / MariaDB 10.6+), as in the SQLite schema of the same version.
-- LONGBLOB: a BLOB stops at 64 KiB and a MEDIUMBLOB at 16 MiB, and a picture re-encoded at the
-- largest `image_size` may come near the latter.
CREATE TABLE images (
    name       VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    bytes      LONGBLOB NOT NULL,
    created_at BIGINT NOT NULL,
    CONSTRAINT images_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
