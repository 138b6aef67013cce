-- writ-migration: additive
-- (New tables only: an older node beside this one never reads them; its users simply cannot
-- sign in with a passkey there.)
--
-- Passkeys (WebAuthn credentials). Each passkey is also a row of `authenticators` (type
-- 'passkey', `secret` empty, confirmed), so it is listed and deleted with the user's other
-- authentication methods; its credential lives here, deleted with that row (and with the user).
-- `credential_id` is the credential's id (base64url), unique across every user: a sign-in
-- names only the credential. `user_handle` is the WebAuthn user handle (base64url, 64 random
-- bytes, the same for every passkey of one user). `static_state` (the public key and the
-- extensions' fixed outputs) and `dynamic_state` (signature counter, backup and
-- user-verification flags) are the relying-party library's binary encodings; `sign_count`,
-- `backup_eligible`, `backed_up` and `transports` repeat what they hold for reading and for
-- the conditional update that stores a new counter once.
--
-- `passkey_challenges` are ceremonies under way: the library's server state of one
-- registration or sign-in (its challenge, options and expiry), bound to the browser's login
-- state that asked for it (`binding`: the SHA-256 of that cookie) and, when known, the user;
-- taken once (deleted as it is read), 5 minutes at most. Times are unix seconds.

CREATE TABLE passkeys (
    authenticator_id TEXT COLLATE "C" PRIMARY KEY REFERENCES authenticators(id) ON DELETE CASCADE,
    user_id          TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id    TEXT COLLATE "C" NOT NULL UNIQUE,
    user_handle      TEXT COLLATE "C" NOT NULL,
    static_state     BYTEA NOT NULL,
    dynamic_state    BYTEA NOT NULL,
    sign_count       BIGINT NOT NULL DEFAULT 0,
    backup_eligible  BOOLEAN NOT NULL DEFAULT FALSE,
    backed_up        BOOLEAN NOT NULL DEFAULT FALSE,
    transports       BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX passkeys_by_user ON passkeys(user_id);

CREATE TABLE passkey_challenges (
    id         TEXT COLLATE "C" PRIMARY KEY,            -- the challenge (32 hex digits)
    kind       TEXT COLLATE "C" NOT NULL,               -- 'register', 'login' (passwordless) or 'factor'
    binding    TEXT COLLATE "C" NOT NULL,               -- sha256 of the browser's login state
    user_id    TEXT COLLATE "C" REFERENCES users(id) ON DELETE CASCADE,
    state      BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX passkey_challenges_by_expiry ON passkey_challenges(expires_at);
