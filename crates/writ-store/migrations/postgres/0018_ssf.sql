-- writ-migration: additive
-- (New tables; an older node beside this one neither reads nor writes them.)
--
-- OpenID Shared Signals Framework (SSF 1.0) transmitter: the streams receivers create, the
-- subjects they add or remove, and one outbox of Security Event Tokens per stream. Times in
-- the outbox are unix milliseconds; elsewhere unix seconds.
--
-- ssf_streams: one row per stream, owned by the OAuth client that created it. `config` is the
-- receiver-supplied part of the stream configuration (JSON); `auth_header` is the push
-- endpoint's Authorization header, sealed with the key-encryption key.
CREATE TABLE ssf_streams (
    id          TEXT COLLATE "C" PRIMARY KEY,
    client_id   TEXT COLLATE "C" NOT NULL,
    method      TEXT NOT NULL,                 -- push | poll
    config      TEXT NOT NULL,
    auth_header BYTEA,
    status      TEXT NOT NULL,                 -- enabled | paused | disabled
    reason      TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX ssf_streams_by_client ON ssf_streams(client_id);

-- ssf_subjects: a subject (a user) added to (included) or removed from (not included) a
-- stream; without a row a stream carries every subject (default_subjects ALL).
CREATE TABLE ssf_subjects (
    stream_id TEXT COLLATE "C" NOT NULL REFERENCES ssf_streams(id) ON DELETE CASCADE,
    user_id   TEXT COLLATE "C" NOT NULL,
    included  BOOLEAN NOT NULL,
    PRIMARY KEY (stream_id, user_id)
);

-- ssf_outbox: every SET, signed, waiting for its stream. Push: a node claims due rows with a
-- lease (claimed_by, claimed_until) as the mail outbox does, so each SET is pushed by one node;
-- the row goes once the receiver accepted (or rejected) it. Poll: the row goes when the
-- receiver acknowledges its jti.
CREATE TABLE ssf_outbox (
    jti             TEXT COLLATE "C" PRIMARY KEY,
    stream_id       TEXT COLLATE "C" NOT NULL REFERENCES ssf_streams(id) ON DELETE CASCADE,
    ord             BIGINT NOT NULL,              -- enqueue order (microseconds + index)
    set_jwt         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    last_error      TEXT,
    claimed_by      TEXT,
    claimed_until   BIGINT
);
CREATE INDEX ssf_outbox_by_stream ON ssf_outbox(stream_id, ord);
CREATE INDEX ssf_outbox_due ON ssf_outbox(next_attempt_at);

-- ssf_state: how far the authz event log has been turned into SETs (one row). Advanced with a
-- compare-and-set in the transaction that writes the SETs, so each event becomes SETs once
-- even with several nodes.
CREATE TABLE ssf_state (
    id        INTEGER PRIMARY KEY,
    authz_seq BIGINT NOT NULL
);
INSERT INTO ssf_state (id, authz_seq) VALUES (1, (SELECT COALESCE(MAX(seq), 0) FROM authz_events));
