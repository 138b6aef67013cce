-- Writ core schema (SQLite). Timestamps are RFC 3339 UTC text; JSON columns are text.

CREATE TABLE resource_servers (
    id                   TEXT PRIMARY KEY,
    identifier           TEXT NOT NULL UNIQUE,
    name                 TEXT NOT NULL,
    signing_alg          TEXT NOT NULL,
    token_lifetime       INTEGER NOT NULL,
    enforce_policies     INTEGER NOT NULL,
    token_dialect        TEXT NOT NULL,
    allow_offline_access INTEGER NOT NULL,
    is_system            INTEGER NOT NULL DEFAULT 0,
    created_at           TEXT NOT NULL
);

CREATE TABLE resource_server_scopes (
    rs_id       TEXT NOT NULL REFERENCES resource_servers(id) ON DELETE CASCADE,
    value       TEXT NOT NULL,
    description TEXT NOT NULL,
    position    INTEGER NOT NULL,
    PRIMARY KEY (rs_id, value)
);

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);

CREATE TABLE role_permissions (
    role_id    TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    rs_id      TEXT NOT NULL,
    permission TEXT NOT NULL,
    PRIMARY KEY (role_id, rs_id, permission),
    FOREIGN KEY (rs_id, permission) REFERENCES resource_server_scopes(rs_id, value) ON DELETE CASCADE
);
CREATE INDEX role_permissions_by_scope ON role_permissions(rs_id, permission);

CREATE TABLE users (
    id             TEXT PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    email_verified INTEGER NOT NULL DEFAULT 0,
    password_hash  TEXT,
    name           TEXT,
    blocked        INTEGER NOT NULL DEFAULT 0,
    app_metadata   TEXT NOT NULL DEFAULT '{}',
    user_metadata  TEXT NOT NULL DEFAULT '{}',
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    authz_version  INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX users_by_created ON users(created_at, id);

CREATE TABLE user_roles (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id TEXT NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
CREATE INDEX user_roles_by_role ON user_roles(role_id, user_id);

CREATE TABLE user_permissions (
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    rs_id      TEXT NOT NULL,
    permission TEXT NOT NULL,
    PRIMARY KEY (user_id, rs_id, permission),
    FOREIGN KEY (rs_id, permission) REFERENCES resource_server_scopes(rs_id, value) ON DELETE CASCADE
);
CREATE INDEX user_permissions_by_scope ON user_permissions(rs_id, permission);

CREATE TABLE clients (
    client_id                 TEXT PRIMARY KEY,
    name                      TEXT NOT NULL,
    description               TEXT NOT NULL DEFAULT '',
    app_type                  TEXT NOT NULL,
    grant_types               TEXT NOT NULL,
    callbacks                 TEXT NOT NULL,
    allowed_origins           TEXT NOT NULL,
    web_origins               TEXT NOT NULL,
    allowed_logout_urls       TEXT NOT NULL,
    secret_hash               TEXT,
    is_first_party            INTEGER NOT NULL DEFAULT 1,
    refresh_rotation          INTEGER NOT NULL DEFAULT 1,
    refresh_leeway            INTEGER NOT NULL DEFAULT 0,
    refresh_idle_lifetime     INTEGER NOT NULL DEFAULT 1296000,
    refresh_absolute_lifetime INTEGER NOT NULL DEFAULT 2592000,
    created_at                TEXT NOT NULL
);

CREATE TABLE client_grants (
    id        TEXT PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    rs_id     TEXT NOT NULL REFERENCES resource_servers(id) ON DELETE CASCADE,
    scope     TEXT NOT NULL,
    UNIQUE (client_id, rs_id)
);

CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL,
    state         TEXT NOT NULL,
    private_key   BLOB NOT NULL,
    public_jwk    TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    current_since TEXT,
    current_until TEXT,
    revoked_at    TEXT,
    retire_after  INTEGER
);

CREATE TABLE authz_events (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    at      TEXT NOT NULL
);
