-- writ-migration: additive
-- (Two new tables; an older node beside this one neither reads nor writes them.)
--
-- Outgoing mail and the one-time links it carries (email verification, password reset).
-- Times are unix seconds.
--
-- mail_outbox: every message is queued here first, in the request that asks for it, and sent
-- by a background task on any node, retried with backoff, so a mail server outage loses
-- nothing and never blocks a request. A node claims due messages by setting claimed_by and
-- claimed_until (a lease): no other node sends them until the lease ends, so each message is
-- sent once (again only if its node died while sending). The bodies hold the message's link:
-- they are emptied once the message is sent or abandoned, and never shown by the console.
CREATE TABLE mail_outbox (
    id              TEXT COLLATE "C" PRIMARY KEY,
    recipient       TEXT COLLATE "C" NOT NULL,
    kind            TEXT COLLATE "C" NOT NULL,                 -- verify_email | reset_password
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT,                        -- NULL once sent or abandoned
    last_error      TEXT,
    sent_at         BIGINT,
    claimed_by      TEXT COLLATE "C",
    claimed_until   BIGINT
);
CREATE INDEX mail_outbox_due ON mail_outbox(next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX mail_outbox_created ON mail_outbox(created_at);

-- user_tickets: one-time links. id is the SHA-256 of the token the link carries (the token
-- itself is never stored); used_at is set by the one request that consumes it.
CREATE TABLE user_tickets (
    id                  TEXT COLLATE "C" PRIMARY KEY,
    user_id             TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind                TEXT COLLATE "C" NOT NULL,             -- verify | reset
    client_id           TEXT COLLATE "C",
    result_url          TEXT,
    mark_email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          BIGINT NOT NULL,
    expires_at          BIGINT NOT NULL,
    used_at             BIGINT
);
CREATE INDEX user_tickets_by_user ON user_tickets(user_id);
CREATE INDEX user_tickets_expiry ON user_tickets(expires_at);
