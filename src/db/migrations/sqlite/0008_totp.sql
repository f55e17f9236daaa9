-- Two-factor login with time-based codes (TOTP, RFC 6238). The secret is sealed with
-- ChaCha20-Poly1305 under an encryption key that never lives in the database; `key_id` names
-- the key, so that it can be rotated. A row that is not `enabled` is an enrolment still waiting
-- for its first code.
CREATE TABLE totp (
    user_id       INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    key_id        TEXT NOT NULL,
    sealed_secret BLOB NOT NULL,                 -- nonce, ciphertext, tag
    enabled       BOOLEAN NOT NULL DEFAULT FALSE,
    last_step     BIGINT NOT NULL DEFAULT 0,     -- the last accepted 30-second step: a code works once
    created_at    BIGINT NOT NULL
);
-- Single-use recovery codes, kept only as hashes keyed with the encryption key (a database dump
-- cannot be searched for them); using one deletes its row. The login's second-step tokens are
-- single-use, hashed and short-lived like mailed ones: they are `mail_tokens` of purpose 'mfa'.
CREATE TABLE recovery_codes (
    user_id   INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    PRIMARY KEY (user_id, code_hash)
);
