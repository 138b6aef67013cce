-- Several nodes (or processes) on one database: a counter of catalog changes, so that every
-- node notices a change made through another (an API, a client, a grant, a signing key) and
-- reloads its in-memory catalog. Bumped by triggers, so no write path can forget it.
CREATE TABLE catalog_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO catalog_state (id, version) VALUES (1, 0);

CREATE TRIGGER catalog_rs_ins AFTER INSERT ON resource_servers BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_rs_upd AFTER UPDATE ON resource_servers BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_rs_del AFTER DELETE ON resource_servers BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_scope_ins AFTER INSERT ON resource_server_scopes BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_scope_upd AFTER UPDATE ON resource_server_scopes BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_scope_del AFTER DELETE ON resource_server_scopes BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_client_ins AFTER INSERT ON clients BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_client_upd AFTER UPDATE ON clients BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_client_del AFTER DELETE ON clients BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_grant_ins AFTER INSERT ON client_grants BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_grant_upd AFTER UPDATE ON client_grants BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_grant_del AFTER DELETE ON client_grants BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_key_ins AFTER INSERT ON signing_keys BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_key_upd AFTER UPDATE ON signing_keys BEGIN UPDATE catalog_state SET version = version + 1; END;
CREATE TRIGGER catalog_key_del AFTER DELETE ON signing_keys BEGIN UPDATE catalog_state SET version = version + 1; END;
