-- writ-migration: additive
-- (An index only: an older node beside this one reads and writes as before.)
--
-- A refresh token presented again within the reuse leeway is accepted only while its child is
-- still unused, which the rotation looks up by `parent_id`. PostgreSQL has had this index since
-- 0002; on SQLite the lookup scanned every refresh token.
CREATE INDEX IF NOT EXISTS refresh_tokens_by_parent ON refresh_tokens(parent_id);
