-- Single-use tokens sent by mail (password reset, email verification), stored only as SHA-256.
CREATE TABLE mail_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT NOT NULL,   -- 'reset' or 'verify'
    email      TEXT NOT NULL,   -- the address it was sent to: verification binds to it
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX mail_tokens_by_user ON mail_tokens (user_id, purpose);
