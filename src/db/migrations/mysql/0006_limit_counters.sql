-- Abuse-limit counters (MySQL 8 / MariaDB 10.6+), as in the SQLite schema of the same version.
-- The key holds a prefix and an email address (at most 254 characters).
CREATE TABLE limit_counters (
    counter_key  VARCHAR(320) NOT NULL PRIMARY KEY,
    hits         BIGINT NOT NULL,
    window_start BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
