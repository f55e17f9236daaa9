-- Sessions: one per login. An access token names its session (`sid`) and is accepted only while
-- the row exists and has not expired, so ending a session is deleting its row.
CREATE TABLE sessions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: old tokens stay dead
    user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,                   -- slides forward with every refresh
    user_agent   TEXT,
    ip           TEXT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Refresh tokens, stored only as SHA-256 hashes. A rotated token is kept, marked used, so that
-- presenting it again is recognised as theft and ends its session.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX refresh_tokens_by_session ON refresh_tokens (session_id);
