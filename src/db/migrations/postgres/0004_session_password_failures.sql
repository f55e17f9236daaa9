-- Wrong current passwords given within a session (PostgreSQL), as in SQLite's version 4.
ALTER TABLE sessions ADD COLUMN password_failures BIGINT NOT NULL DEFAULT 0;
