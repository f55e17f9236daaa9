-- Wrong current passwords given within a session (password change, account deletion): the
-- session ends at the fifth, so a stolen access token allows only a handful of guesses.
ALTER TABLE sessions ADD COLUMN password_failures INTEGER NOT NULL DEFAULT 0;
