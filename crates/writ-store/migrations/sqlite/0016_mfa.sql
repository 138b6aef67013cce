-- writ-migration: additive
-- (New tables and nullable columns only: an older node beside this one never reads them, and
-- its logins simply carry no `amr`.)
--
-- Multi-factor authentication. `authenticators` holds a user's second factors, one row each,
-- typed (`totp` now; `passkey` later, with its credential in `secret`): the TOTP secret is
-- sealed with the key-encryption key (AES-256-GCM, the authenticator's id as associated data),
-- as signing keys are; `last_step` is the last accepted TOTP time step, so a code is accepted
-- once. `recovery_codes` are stored as SHA-256 hashes, single use. `mfa_logins` are half-done
-- logins waiting for their second factor: the password grant's `mfa_token` and the hosted
-- page's state (cookie), both hashed, short-lived, bound to their user and client.
-- `mfa_attempts` is each user's bucket of second-factor attempts (shared by every node).
-- Times are unix seconds.

CREATE TABLE authenticators (
    id           TEXT PRIMARY KEY,          -- `totp_…`
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    type         TEXT NOT NULL,             -- 'totp' (later 'passkey')
    name         TEXT,
    secret       BLOB NOT NULL,             -- sealed
    confirmed    INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    last_step    INTEGER                    -- last accepted TOTP time step
);
CREATE INDEX authenticators_by_user ON authenticators(user_id);

CREATE TABLE recovery_codes (
    id         TEXT PRIMARY KEY,            -- sha256 of the code
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX recovery_codes_by_user ON recovery_codes(user_id);

CREATE TABLE mfa_logins (
    id         TEXT PRIMARY KEY,            -- sha256 of the mfa_token or of the cookie value
    kind       TEXT NOT NULL,               -- 'grant' (mfa_token) or 'page' (hosted page)
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    audience   TEXT,
    scope      TEXT,
    tx         TEXT,                        -- the hosted page's authorization request
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
CREATE INDEX mfa_logins_by_expiry ON mfa_logins(expires_at);

CREATE TABLE mfa_attempts (
    user_id   TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    tokens    INTEGER NOT NULL,
    refill_at INTEGER NOT NULL
);

-- How the user authenticated (`amr`, space-separated), carried from the session to the codes
-- and refresh tokens it issues.
ALTER TABLE sessions ADD COLUMN amr TEXT;
ALTER TABLE authorization_codes ADD COLUMN amr TEXT;
ALTER TABLE refresh_tokens ADD COLUMN amr TEXT;
