-- Two-factor login (MySQL 8 / MariaDB 10.6+), as in the SQLite schema of the same version.
CREATE TABLE totp (
    user_id       BIGINT NOT NULL PRIMARY KEY,
    key_id        VARCHAR(16) NOT NULL,
    sealed_secret VARBINARY(64) NOT NULL,
    enabled       BOOLEAN NOT NULL DEFAULT FALSE,
    last_step     BIGINT NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL,
    CONSTRAINT totp_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE TABLE recovery_codes (
    user_id   BIGINT NOT NULL,
    code_hash VARCHAR(64) NOT NULL,
    PRIMARY KEY (user_id, code_hash),
    CONSTRAINT recovery_codes_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
