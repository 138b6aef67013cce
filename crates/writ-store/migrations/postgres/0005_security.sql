-- Security hardening: machine clients become subjects of freshness, third-party clients need
-- the user's consent, and the console keeps its sessions on the server.
--
-- `clients.authz_version` is bumped (with an authz event) by every change that takes something
-- away from what the client's tokens may do: a scope removed from a grant or the grant deleted,
-- a new secret, a grant type removed, the client deleted. Events for a client name the subject
-- of its tokens, `<client_id>@clients`, in `authz_events.user_id` (the column holds the
-- subject: a user id or that form).
ALTER TABLE clients ADD COLUMN authz_version BIGINT NOT NULL DEFAULT 1;

-- A user's consent to a third-party client for one API (Auth0's "grants", `/api/v2/grants`).
-- `scope` is a JSON array of the scopes consented to; a later consent adds to it.
CREATE TABLE consents (
    id         TEXT COLLATE "C" PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    client_id  TEXT COLLATE "C" NOT NULL REFERENCES clients(client_id) ON DELETE CASCADE,
    audience   TEXT COLLATE "C" NOT NULL,
    scope      TEXT COLLATE "C" NOT NULL,
    created_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    UNIQUE (user_id, client_id, audience)
);
CREATE INDEX consents_by_client ON consents(client_id);

-- The admin console's sessions: the cookie holds a random id (its SHA-256 is `id`), the
-- admin's Management API token is kept here sealed (AES-256-GCM under the key-encryption key,
-- bound to the id). Logout deletes the row; blocking, deleting or changing the password of the
-- user deletes all of theirs.
CREATE TABLE console_sessions (
    id         TEXT COLLATE "C" PRIMARY KEY,
    user_id    TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token      BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_user ON console_sessions(user_id);

CREATE INDEX refresh_tokens_by_client_user ON refresh_tokens(client_id, user_id);
