-- Hooks in Auth0 Actions' shape and their bindings to triggers (run in position order).
-- `secrets` is sealed with the key-encryption key, like signing keys' private keys.
CREATE TABLE actions (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    trigger_id    TEXT NOT NULL,
    code          TEXT NOT NULL,
    secrets       BLOB NOT NULL,
    version       BIGINT NOT NULL,
    deployed_code TEXT,
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL
);

CREATE TABLE action_bindings (
    trigger_id   TEXT NOT NULL,
    position     BIGINT NOT NULL,
    action_id    TEXT NOT NULL REFERENCES actions (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    PRIMARY KEY (trigger_id, position)
);
