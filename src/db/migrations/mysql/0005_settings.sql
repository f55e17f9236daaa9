-- Values the instances on one database share (MySQL 8 / MariaDB 10.6+), as in SQLite's version
-- 5. The key is VARCHAR: a primary key on TEXT needs a prefix length.
CREATE TABLE settings (
    name       VARCHAR(64) NOT NULL PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
