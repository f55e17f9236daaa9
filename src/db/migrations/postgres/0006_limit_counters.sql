-- Abuse-limit counters (PostgreSQL), as in the SQLite schema of the same version.
CREATE TABLE limit_counters (
    counter_key  TEXT PRIMARY KEY,
    hits         BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);
