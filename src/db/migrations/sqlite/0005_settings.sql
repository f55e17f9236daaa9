-- Values the instances on one database share, by name: the JWT key that an instance without a
-- configured one generates (on the database servers only: SQLite keeps it in the data
-- directory, so this table stays empty there), and later other such fleet-wide values. Written
-- once by whichever instance comes first, read by every other.
CREATE TABLE settings (
    name       TEXT NOT NULL PRIMARY KEY,
    value      TEXT NOT NULL,
    created_at BIGINT NOT NULL     -- Unix seconds: when the first instance wrote it
);
