-- Wrong current passwords given within a session (MySQL 8 / MariaDB 10.6+), as in SQLite's
-- version 4.
ALTER TABLE sessions ADD COLUMN password_failures BIGINT NOT NULL DEFAULT 0;
