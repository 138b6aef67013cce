-- Several nodes on one database. `catalog_state.version` counts catalog changes (APIs, their
-- scopes, clients, grants, signing keys), bumped by statement triggers so no write path can
-- forget it; every node compares it with the version it loaded and reloads when it moved.
-- The triggers also NOTIFY: `writ_catalog` for catalog changes and `writ_authz` when authz
-- events are appended, so listening nodes wake at once (the durable log and the counter
-- remain the truth; a missed notification only delays a node until its next poll).
CREATE TABLE catalog_state (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO catalog_state (id, version) VALUES (1, 0);

CREATE FUNCTION writ_catalog_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE catalog_state SET version = version + 1 WHERE id = 1;
    PERFORM pg_notify('writ_catalog', '');
    RETURN NULL;
END;
$$;

CREATE FUNCTION writ_authz_appended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('writ_authz', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER catalog_rs AFTER INSERT OR UPDATE OR DELETE ON resource_servers
    FOR EACH STATEMENT EXECUTE FUNCTION writ_catalog_changed();
CREATE TRIGGER catalog_scope AFTER INSERT OR UPDATE OR DELETE ON resource_server_scopes
    FOR EACH STATEMENT EXECUTE FUNCTION writ_catalog_changed();
CREATE TRIGGER catalog_client AFTER INSERT OR UPDATE OR DELETE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION writ_catalog_changed();
CREATE TRIGGER catalog_grant AFTER INSERT OR UPDATE OR DELETE ON client_grants
    FOR EACH STATEMENT EXECUTE FUNCTION writ_catalog_changed();
CREATE TRIGGER catalog_key AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION writ_catalog_changed();
CREATE TRIGGER authz_appended AFTER INSERT ON authz_events
    FOR EACH STATEMENT EXECUTE FUNCTION writ_authz_appended();
