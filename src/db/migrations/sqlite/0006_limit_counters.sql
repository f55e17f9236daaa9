-- Fixed-window counters of the abuse limits that must hold across every instance sharing the
-- database: failed logins per account, mails per address. A row's window has ended when
-- `window_start` is older than the limit's window; housekeeping deletes such rows.
CREATE TABLE limit_counters (
    counter_key  TEXT PRIMARY KEY,  -- the limit and its subject, e.g. 'login:alice'
    hits         BIGINT NOT NULL,
    window_start BIGINT NOT NULL    -- Unix seconds
);
