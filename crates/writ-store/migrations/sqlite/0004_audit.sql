-- The audit log (Auth0's tenant logs, `GET /api/v2/logs`): one row per Management API or console
-- write, login success or failure, code exchange, refresh-token reuse, logout. Append-only:
-- rows are never updated (a trigger refuses it); they are deleted only by age (retention).
-- No foreign keys: an entry outlives the user or client it names. Never holds a secret.

CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,  -- insertion order, ties of `date`
    log_id       TEXT NOT NULL UNIQUE,
    date         TEXT NOT NULL,                      -- RFC 3339 UTC, milliseconds
    type         TEXT NOT NULL,                      -- Auth0's event type code (s, fp, sapi, …)
    description  TEXT NOT NULL DEFAULT '',
    ip           TEXT,
    user_agent   TEXT,
    client_id    TEXT,
    client_name  TEXT,
    user_id      TEXT,
    user_name    TEXT,
    connection   TEXT,
    details      TEXT NOT NULL DEFAULT '{}'          -- JSON object
);
CREATE INDEX audit_log_by_date ON audit_log(date, seq);
CREATE INDEX audit_log_by_type ON audit_log(type, date);
CREATE INDEX audit_log_by_user ON audit_log(user_id, date);
CREATE INDEX audit_log_by_client ON audit_log(client_id, date);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
