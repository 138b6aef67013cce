-- writ-migration: additive
-- (An index dropped whose every use another index serves: an older node beside this one reads
-- and writes as before.)
--
-- `refresh_tokens_by_client (client_id)` is the prefix of `refresh_tokens_by_client_user
-- (client_id, user_id)` (0005), which serves every lookup by client, the cascade of a deleted
-- client included. Each refresh-token rotation inserts a row, and kept an entry in both.
DROP INDEX IF EXISTS refresh_tokens_by_client;
