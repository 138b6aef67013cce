-- Browser login: SSO sessions, authorization codes and refresh tokens. Secrets are stored as
-- SHA-256 hashes only. Times are unix seconds.

CREATE TABLE sessions (
    id          TEXT PRIMARY KEY,          -- sha256 of the cookie value
    sid         TEXT NOT NULL UNIQUE,      -- public session id (ID token `sid`)
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time   INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL           -- absolute lifetime
);
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE authorization_codes (
    id             TEXT PRIMARY KEY,       -- sha256 of the code
    client_id      TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    audience       TEXT,
    nonce          TEXT,
    code_challenge TEXT,
    sid            TEXT,
    auth_time      INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER,
    family_id      TEXT                    -- refresh family issued from this code, revoked on reuse
);

CREATE TABLE refresh_tokens (
    id           TEXT PRIMARY KEY,         -- sha256 of the token
    family_id    TEXT NOT NULL,
    parent_id    TEXT,
    client_id    TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    audience     TEXT,
    scope        TEXT NOT NULL,
    sid          TEXT,
    auth_time    INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    idle_expires_at     INTEGER NOT NULL,
    family_expires_at   INTEGER NOT NULL,
    used_at      INTEGER,
    revoked      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens(user_id);
