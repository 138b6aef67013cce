-- writ-migration: additive
-- (Nothing to do here: SQLite never had PostgreSQL's `refresh_tokens_by_client`, which 0021
-- drops there. The migration keeps the two databases' versions in step.)
SELECT 1;
