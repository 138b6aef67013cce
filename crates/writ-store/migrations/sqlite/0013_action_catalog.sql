-- writ-migration: additive
-- Actions and their bindings are part of the catalog: a change through any node moves
-- `catalog_state.version`, so every node drops the bound actions it holds in memory at once
-- (token requests read them from there, never from the database).
CREATE TRIGGER catalog_action_ins AFTER INSERT ON actions BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_action_upd AFTER UPDATE ON actions BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_action_del AFTER DELETE ON actions BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_binding_ins AFTER INSERT ON action_bindings BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_binding_upd AFTER UPDATE ON action_bindings BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_binding_del AFTER DELETE ON action_bindings BEGIN UPDATE catalog_state SET version = version + 1; END;
