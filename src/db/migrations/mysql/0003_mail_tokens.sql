-- Mailed single-use tokens (MySQL 8 / MariaDB 10.6+), as in the SQLite schema of the same version.
CREATE TABLE mail_tokens (
    token_hash VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id    BIGINT NOT NULL,
    purpose    VARCHAR(16) NOT NULL,
    email      VARCHAR(254) NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    CONSTRAINT mail_tokens_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
) ENGINE = InnoDB DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE INDEX mail_tokens_by_user ON mail_tokens (user_id, purpose);
