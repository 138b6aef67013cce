-- writ-migration: additive
-- (A new table and a new nullable column; an older node neither reads nor writes them.)
--
-- ssf_signals: a Shared Signals event that is not in the authz log (a logout, a second factor
-- enrolled or removed), written in the transaction of the change it reports, so a crash
-- between the change and its event cannot lose the event. The deriver turns each row into one
-- SET per stream and deletes it in the transaction that queues those SETs (a racing node's
-- delete matches no row and it rolls back), so each signal becomes SETs once.
CREATE TABLE ssf_signals (
    txn        TEXT COLLATE "C" PRIMARY KEY,  -- the SETs' txn claim
    ord        BIGINT NOT NULL,  -- write order (microseconds)
    subject    TEXT COLLATE "C" NOT NULL,  -- a user id
    event_type TEXT NOT NULL,
    event      TEXT NOT NULL,  -- the event's claims (JSON)
    at         BIGINT NOT NULL  -- unix seconds, the event_timestamp
);
CREATE INDEX ssf_signals_by_ord ON ssf_signals(ord);

-- When the stream's receiver last asked for a verification event (unix ms): requests closer
-- together than the stream's min_verification_interval are refused (429).
ALTER TABLE ssf_streams ADD COLUMN verified_at BIGINT;
