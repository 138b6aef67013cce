-- writ-migration: additive
-- Actions and their bindings are part of the catalog: a change through any node moves
-- `catalog_state.version` and notifies `writ_catalog`, so every node drops the bound actions it
-- holds in memory at once (token requests read them from there, never from the database).
CREATE TRIGGER catalog_action AFTER INSERT OR UPDATE OR DELETE ON actions
    FOR EACH STATEMENT EXECUTE FUNCTION writ_catalog_changed();
CREATE TRIGGER catalog_binding AFTER INSERT OR UPDATE OR DELETE ON action_bindings
    FOR EACH STATEMENT EXECUTE FUNCTION writ_catalog_changed();
