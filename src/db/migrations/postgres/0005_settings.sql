-- Values the instances on one database share (PostgreSQL), as in SQLite's version 5.
CREATE TABLE settings (
    name       TEXT NOT NULL PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
