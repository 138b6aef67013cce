-- Browser login: SSO sessions, authorization codes and refresh tokens. Secrets are stored as
-- SHA-256 hashes only. Times are unix seconds.

CREATE TABLE sessions (
    id          TEXT COLLATE "C" PRIMARY KEY,          -- sha256 of the cookie value
    sid         TEXT COLLATE "C" NOT NULL UNIQUE,      -- public session id (ID token `sid`)
    user_id     TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time   BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL                        -- absolute lifetime
);
CREATE INDEX sessions_by_user ON sessions(user_id);

CREATE TABLE authorization_codes (
    id             TEXT COLLATE "C" PRIMARY KEY,       -- sha256 of the code
    client_id      TEXT COLLATE "C" NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    user_id        TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    redirect_uri   TEXT COLLATE "C" NOT NULL,
    scope          TEXT COLLATE "C" NOT NULL,
    audience       TEXT COLLATE "C",
    nonce          TEXT COLLATE "C",
    code_challenge TEXT COLLATE "C",
    sid            TEXT COLLATE "C",
    auth_time      BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT,
    family_id      TEXT COLLATE "C"                    -- refresh family issued from this code, revoked on reuse
);
CREATE INDEX authorization_codes_by_client ON authorization_codes(client_id);
CREATE INDEX authorization_codes_by_user ON authorization_codes(user_id);

CREATE TABLE refresh_tokens (
    id           TEXT COLLATE "C" PRIMARY KEY,         -- sha256 of the token
    family_id    TEXT COLLATE "C" NOT NULL,
    parent_id    TEXT COLLATE "C",
    client_id    TEXT COLLATE "C" NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    user_id      TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    audience     TEXT COLLATE "C",
    scope        TEXT COLLATE "C" NOT NULL,
    sid          TEXT COLLATE "C",
    auth_time    BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    idle_expires_at     BIGINT NOT NULL,
    family_expires_at   BIGINT NOT NULL,
    used_at      BIGINT,
    revoked      BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens(family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens(user_id);
CREATE INDEX refresh_tokens_by_parent ON refresh_tokens(parent_id);
CREATE INDEX refresh_tokens_by_client ON refresh_tokens(client_id);
