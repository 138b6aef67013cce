-- Writ core schema (PostgreSQL), the same tables as migrations/sqlite with the same meaning.
-- Timestamps are RFC 3339 UTC text and JSON columns are text, exactly as on SQLite, so both
-- backends round-trip values byte for byte. Every text column uses the "C" collation: byte-wise
-- comparison and ordering like SQLite's BINARY, whatever the database's default locale.

CREATE TABLE resource_servers (
    id                   TEXT COLLATE "C" PRIMARY KEY,
    identifier           TEXT COLLATE "C" NOT NULL UNIQUE,
    name                 TEXT COLLATE "C" NOT NULL,
    signing_alg          TEXT COLLATE "C" NOT NULL,
    token_lifetime       BIGINT NOT NULL,
    enforce_policies     BOOLEAN NOT NULL,
    token_dialect        TEXT COLLATE "C" NOT NULL,
    allow_offline_access BOOLEAN NOT NULL,
    is_system            BOOLEAN NOT NULL DEFAULT FALSE,
    created_at           TEXT COLLATE "C" NOT NULL
);

CREATE TABLE resource_server_scopes (
    rs_id       TEXT COLLATE "C" NOT NULL REFERENCES resource_servers(id) ON DELETE CASCADE,
    value       TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C" NOT NULL,
    position    BIGINT NOT NULL,
    PRIMARY KEY (rs_id, value)
);

CREATE TABLE roles (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL UNIQUE,
    description TEXT COLLATE "C" NOT NULL DEFAULT '',
    created_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE role_permissions (
    role_id    TEXT COLLATE "C" NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    rs_id      TEXT COLLATE "C" NOT NULL,
    permission TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (role_id, rs_id, permission),
    FOREIGN KEY (rs_id, permission) REFERENCES resource_server_scopes(rs_id, value) ON DELETE CASCADE
);
CREATE INDEX role_permissions_by_scope ON role_permissions(rs_id, permission);

CREATE TABLE users (
    id             TEXT COLLATE "C" PRIMARY KEY,
    email          TEXT COLLATE "C" NOT NULL UNIQUE,
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    password_hash  TEXT COLLATE "C",
    name           TEXT COLLATE "C",
    blocked        BOOLEAN NOT NULL DEFAULT FALSE,
    app_metadata   TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    user_metadata  TEXT COLLATE "C" NOT NULL DEFAULT '{}',
    created_at     TEXT COLLATE "C" NOT NULL,
    updated_at     TEXT COLLATE "C" NOT NULL,
    authz_version  BIGINT NOT NULL DEFAULT 1
);
CREATE INDEX users_by_created ON users(created_at, id);

CREATE TABLE user_roles (
    user_id TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id TEXT COLLATE "C" NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_by_role ON user_roles(role_id, user_id);

CREATE TABLE user_permissions (
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    rs_id      TEXT COLLATE "C" NOT NULL,
    permission TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (user_id, rs_id, permission),
    FOREIGN KEY (rs_id, permission) REFERENCES resource_server_scopes(rs_id, value) ON DELETE CASCADE
);
CREATE INDEX user_permissions_by_scope ON user_permissions(rs_id, permission);

CREATE TABLE clients (
    client_id                 TEXT COLLATE "C" PRIMARY KEY,
    name                      TEXT COLLATE "C" NOT NULL,
    description               TEXT COLLATE "C" NOT NULL DEFAULT '',
    app_type                  TEXT COLLATE "C" NOT NULL,
    grant_types               TEXT COLLATE "C" NOT NULL,
    callbacks                 TEXT COLLATE "C" NOT NULL,
    allowed_origins           TEXT COLLATE "C" NOT NULL,
    web_origins               TEXT COLLATE "C" NOT NULL,
    allowed_logout_urls       TEXT COLLATE "C" NOT NULL,
    secret_hash               TEXT COLLATE "C",
    is_first_party            BOOLEAN NOT NULL DEFAULT TRUE,
    refresh_rotation          BOOLEAN NOT NULL DEFAULT TRUE,
    refresh_leeway            BIGINT NOT NULL DEFAULT 0,
    refresh_idle_lifetime     BIGINT NOT NULL DEFAULT 1296000,
    refresh_absolute_lifetime BIGINT NOT NULL DEFAULT 2592000,
    created_at                TEXT COLLATE "C" NOT NULL
);

CREATE TABLE client_grants (
    id        TEXT COLLATE "C" PRIMARY KEY,
    client_id TEXT COLLATE "C" NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    rs_id     TEXT COLLATE "C" NOT NULL REFERENCES resource_servers(id) ON DELETE CASCADE,
    scope     TEXT COLLATE "C" NOT NULL,
    UNIQUE (client_id, rs_id)
);
CREATE INDEX client_grants_by_rs ON client_grants(rs_id);

CREATE TABLE signing_keys (
    kid           TEXT COLLATE "C" PRIMARY KEY,
    alg           TEXT COLLATE "C" NOT NULL,
    state         TEXT COLLATE "C" NOT NULL,
    private_key   BYTEA NOT NULL,
    public_jwk    TEXT COLLATE "C" NOT NULL,
    created_at    TEXT COLLATE "C" NOT NULL,
    current_since TEXT COLLATE "C",
    current_until TEXT COLLATE "C",
    revoked_at    TEXT COLLATE "C",
    retire_after  BIGINT
);

-- The authz event log. `seq` is not a sequence: PostgreSQL hands out sequence values before
-- commit, so a follower reading `seq > n` could pass over an event that commits later with a
-- lower seq. Instead every writer takes the single `authz_log_head` row lock (first, before any
-- user row) and numbers its events from it; the lock is held until commit, so seqs are
-- gapless and become visible in order.
CREATE TABLE authz_events (
    seq     BIGINT PRIMARY KEY,
    user_id TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL,
    kind    TEXT COLLATE "C" NOT NULL,
    at      TEXT COLLATE "C" NOT NULL
);

CREATE TABLE authz_log_head (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO authz_log_head (id, seq) VALUES (1, 0);
