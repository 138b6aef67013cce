-- writ-migration: additive
-- (Nothing to do here: PostgreSQL has had `refresh_tokens_by_parent` since 0002. The migration
-- exists so both databases have the same list; SQLite gets the index.)
CREATE INDEX IF NOT EXISTS refresh_tokens_by_parent ON refresh_tokens(parent_id);
