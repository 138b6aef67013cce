//! APIs (resource servers) with their permission catalogs, clients, client grants and signing
//! keys: the slowly changing records the server caches in memory for its hot paths. Rows a
//! change depends on are read with the dialect's row locks, and key rotations take its lock,
//! which on SQLite are nothing (its single writer already serializes them).

use async_trait::async_trait;
use sqlx::FromRow;
use writ_core::*;

use super::{Conn, FOR_KEY_SHARE, FOR_UPDATE, Query, Store, bump, lock_key_rotation};
use crate::common::{Affected, json_vec, new_id, now_rfc3339, to_json, unique};
use crate::*;

#[derive(FromRow)]
struct RsRow {
    id: String,
    identifier: String,
    name: String,
    signing_alg: String,
    token_lifetime: i64,
    enforce_policies: bool,
    token_dialect: String,
    allow_offline_access: bool,
    is_system: bool,
    token_claims: String,
}

const RS_COLS: &str = "id, identifier, name, signing_alg, token_lifetime, enforce_policies, token_dialect, allow_offline_access, is_system, token_claims";

async fn load_scopes(conn: &mut Conn, row: RsRow) -> Result<ResourceServer> {
    let scopes: Vec<(String, String)> = sqlx::query_as(
        "SELECT value, description FROM resource_server_scopes WHERE rs_id = $1 ORDER BY position",
    )
    .bind(&row.id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ResourceServer {
        signing_alg: SigningAlg::parse(&row.signing_alg)
            .ok_or_else(|| StoreError::Corrupt(row.signing_alg.clone()))?,
        token_dialect: TokenDialect::parse(&row.token_dialect)
            .ok_or_else(|| StoreError::Corrupt(row.token_dialect.clone()))?,
        id: row.id,
        identifier: row.identifier,
        name: row.name,
        scopes: scopes
            .into_iter()
            .map(|(value, description)| Scope { value, description })
            .collect(),
        token_lifetime: row.token_lifetime,
        enforce_policies: row.enforce_policies,
        allow_offline_access: row.allow_offline_access,
        is_system: row.is_system,
        token_claims: serde_json::from_str(&row.token_claims)
            .map_err(|_| StoreError::Corrupt(row.token_claims.clone()))?,
    })
}

/// Binds an API's settings, `name` to `allow_offline_access` in the order of the
/// `resource_servers` table, then `token_claims`, for its insert and its update.
fn bind_rs_settings<'q>(q: Query<'q>, rs: &ResourceServer) -> Query<'q> {
    q.bind(&rs.name)
        .bind(rs.signing_alg.as_str())
        .bind(rs.token_lifetime)
        .bind(rs.enforce_policies)
        .bind(rs.token_dialect.as_str())
        .bind(rs.allow_offline_access)
        .bind(to_json(&rs.token_claims))
}

async fn write_scopes(conn: &mut Conn, rs: &ResourceServer) -> Result<()> {
    for (i, s) in rs.scopes.iter().enumerate() {
        sqlx::query(
            "INSERT INTO resource_server_scopes (rs_id, value, description, position) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (rs_id, value) DO UPDATE SET description = excluded.description, position = excluded.position",
        )
        .bind(&rs.id)
        .bind(&s.value)
        .bind(&s.description)
        .bind(i as i64)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl ResourceServerStore for Store {
    async fn create_resource_server(&self, mut rs: ResourceServer) -> Result<ResourceServer> {
        if rs.id.is_empty() {
            rs.id = new_id("rs");
        }
        // The authz writer's lock: API writes run one at a time (see `sync_key_publication`).
        let mut tx = self.authz_write().await?;
        let lifetime = max_token_lifetime(&mut tx).await?;
        bind_rs_settings(
            sqlx::query(
                "INSERT INTO resource_servers (id, identifier, name, signing_alg, token_lifetime, enforce_policies, token_dialect, allow_offline_access, token_claims, is_system, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&rs.id)
            .bind(&rs.identifier),
            &rs,
        )
        .bind(rs.is_system)
        .bind(now_rfc3339())
        .execute(&mut *tx)
        .await
        .map_err(unique(format!("A resource server with the same identifier already exists: {}", rs.identifier)))?;
        write_scopes(&mut tx, &rs).await?;
        sync_key_publication(&mut tx, lifetime).await?;
        tx.commit().await?;
        Ok(rs)
    }

    async fn get_resource_server(&self, key: &str) -> Result<ResourceServer> {
        let mut conn = self.pool.acquire().await?;
        let row: Option<RsRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RS_COLS} FROM resource_servers WHERE id = $1 OR identifier = $1"
        )))
        .bind(key)
        .fetch_optional(&mut *conn)
        .await?;
        load_scopes(
            &mut conn,
            row.ok_or(StoreError::NotFound("resource server"))?,
        )
        .await
    }

    async fn list_resource_servers(&self, page: Page) -> Result<Paged<ResourceServer>> {
        let mut conn = self.pool.acquire().await?;
        let rows: Vec<RsRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {RS_COLS} FROM resource_servers ORDER BY is_system DESC, created_at, id LIMIT $1 OFFSET $2"
        )))
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&mut *conn)
        .await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM resource_servers")
            .fetch_one(&mut *conn)
            .await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            items.push(load_scopes(&mut conn, r).await?);
        }
        Ok(Paged { items, total })
    }

    async fn all_resource_servers(&self) -> Result<Vec<ResourceServer>> {
        Ok(self
            .list_resource_servers(Page {
                page: 0,
                per_page: u32::MAX,
            })
            .await?
            .items)
    }

    async fn update_resource_server(&self, rs: &ResourceServer) -> Result<()> {
        // May remove scopes, i.e. permissions: an authz write from the start.
        let mut tx = self.authz_write().await?;
        let lifetime = max_token_lifetime(&mut tx).await?;
        let n = bind_rs_settings(
            sqlx::query(
                "UPDATE resource_servers SET name = $2, signing_alg = $3, token_lifetime = $4, enforce_policies = $5, \
                 token_dialect = $6, allow_offline_access = $7, token_claims = $8 WHERE id = $1",
            )
            .bind(&rs.id),
            rs,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("resource server"));
        }
        let old: Vec<String> =
            sqlx::query_scalar("SELECT value FROM resource_server_scopes WHERE rs_id = $1")
                .bind(&rs.id)
                .fetch_all(&mut *tx)
                .await?;
        let removed: Vec<&String> = old.iter().filter(|v| !rs.has_scope(v)).collect();
        if !removed.is_empty() {
            // Holders lose a permission: they must refresh.
            bump(&mut tx, Affected::ApiHolders(&rs.id), "api_scopes_removed").await?;
            for v in removed {
                sqlx::query("DELETE FROM resource_server_scopes WHERE rs_id = $1 AND value = $2")
                    .bind(&rs.id)
                    .bind(v)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        write_scopes(&mut tx, rs).await?;
        sync_key_publication(&mut tx, lifetime).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_resource_server(&self, id: &str) -> Result<()> {
        let mut tx = self.authz_write().await?;
        let lifetime = max_token_lifetime(&mut tx).await?;
        // Bumped first, so the tokens already issued for the API are refused.
        bump(&mut tx, Affected::ApiHolders(id), "api_deleted").await?;
        let n = sqlx::query("DELETE FROM resource_servers WHERE id = $1 AND NOT is_system")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("resource server"));
        }
        sync_key_publication(&mut tx, lifetime).await?;
        tx.commit().await
    }
}

/// The longest access-token lifetime of any API, read before an API write changes them: how
/// long the tokens an algorithm's keys signed may stay valid once no API uses it.
async fn max_token_lifetime(conn: &mut Conn) -> Result<i64> {
    Ok(
        sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(token_lifetime) FROM resource_servers")
            .fetch_one(&mut *conn)
            .await?
            .unwrap_or(0),
    )
}

/// How long an algorithm's keys stay published beyond the longest token lifetime once no API
/// uses it: other nodes sign with it until their next catalog reload, a moment later.
const RETIRE_MARGIN_SECS: i64 = 60;

/// Brings `key_publication` in step with the APIs' algorithms, inside an API write's
/// transaction, after its change: an algorithm some API uses and whose keys are not published
/// (no record, or retired) is published from now, a new warm-up; one still published (in use,
/// or retiring) keeps its `published_since` and stops retiring; one no API uses any more
/// retires once the longest token lifetime (`lifetime`, read before the change) and a margin
/// have passed.
///
/// API writes run one at a time (SQLite's single writer; on PostgreSQL they begin with the
/// authz head lock, and each statement of a read-committed transaction sees what committed
/// before it), so the counts here see every earlier API write of every node: two nodes
/// cannot both start a warm-up, nor retire an algorithm another write just started using.
async fn sync_key_publication(conn: &mut Conn, lifetime: i64) -> Result<()> {
    let at = now_rfc3339();
    let now_secs = chrono::Utc::now().timestamp();
    for alg in SigningAlg::ALL {
        if alg == SigningAlg::RS256 {
            continue; // always published
        }
        let used: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM resource_servers WHERE signing_alg = $1")
                .bind(alg.as_str())
                .fetch_one(&mut *conn)
                .await?;
        let record: Option<Option<i64>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT retire_after FROM key_publication WHERE alg = $1{FOR_UPDATE}"
        )))
        .bind(alg.as_str())
        .fetch_optional(&mut *conn)
        .await?;
        let q = match (used > 0, record) {
            (true, None) => sqlx::query(
                "INSERT INTO key_publication (alg, published_since, retire_after) VALUES ($1, $2, NULL)",
            )
            .bind(alg.as_str())
            .bind(&at),
            // Retired: its keys have left the JWKS (or are about to): a new warm-up.
            (true, Some(Some(r))) if r <= now_secs => sqlx::query(
                "UPDATE key_publication SET published_since = $2, retire_after = NULL WHERE alg = $1",
            )
            .bind(alg.as_str())
            .bind(&at),
            (true, Some(Some(_))) => {
                sqlx::query("UPDATE key_publication SET retire_after = NULL WHERE alg = $1")
                    .bind(alg.as_str())
            }
            (false, Some(None)) => {
                sqlx::query("UPDATE key_publication SET retire_after = $2 WHERE alg = $1")
                    .bind(alg.as_str())
                    .bind(now_secs + lifetime + RETIRE_MARGIN_SECS)
            }
            _ => continue,
        };
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

#[derive(FromRow)]
struct ClientRow {
    client_id: String,
    name: String,
    description: String,
    app_type: String,
    grant_types: String,
    callbacks: String,
    allowed_origins: String,
    web_origins: String,
    allowed_logout_urls: String,
    secret_hash: Option<String>,
    is_first_party: bool,
    refresh_rotation: bool,
    refresh_leeway: i64,
    refresh_idle_lifetime: i64,
    refresh_absolute_lifetime: i64,
    created_at: String,
    authz_version: i64,
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;
    fn try_from(r: ClientRow) -> Result<Client> {
        Ok(Client {
            app_type: AppType::parse(&r.app_type)
                .ok_or_else(|| StoreError::Corrupt(r.app_type.clone()))?,
            grant_types: json_vec(&r.grant_types)?,
            callbacks: json_vec(&r.callbacks)?,
            allowed_origins: json_vec(&r.allowed_origins)?,
            web_origins: json_vec(&r.web_origins)?,
            allowed_logout_urls: json_vec(&r.allowed_logout_urls)?,
            client_id: r.client_id,
            name: r.name,
            description: r.description,
            secret_hash: r.secret_hash,
            is_first_party: r.is_first_party,
            refresh_rotation: r.refresh_rotation,
            refresh_leeway: r.refresh_leeway,
            refresh_idle_lifetime: r.refresh_idle_lifetime,
            refresh_absolute_lifetime: r.refresh_absolute_lifetime,
            created_at: r.created_at,
            authz_version: r.authz_version,
        })
    }
}

/// Binds a client's columns as `$1` … `$15`, in the order of the `clients` table (`client_id`
/// to `refresh_absolute_lifetime`), for its insert and its update.
fn bind_client<'q>(q: Query<'q>, c: &Client) -> Query<'q> {
    q.bind(&c.client_id)
        .bind(&c.name)
        .bind(&c.description)
        .bind(c.app_type.as_str())
        .bind(to_json(&c.grant_types))
        .bind(to_json(&c.callbacks))
        .bind(to_json(&c.allowed_origins))
        .bind(to_json(&c.web_origins))
        .bind(to_json(&c.allowed_logout_urls))
        .bind(&c.secret_hash)
        .bind(c.is_first_party)
        .bind(c.refresh_rotation)
        .bind(c.refresh_leeway)
        .bind(c.refresh_idle_lifetime)
        .bind(c.refresh_absolute_lifetime)
}

#[async_trait]
impl ClientStore for Store {
    async fn create_client(&self, c: &Client) -> Result<()> {
        let mut tx = self.write().await?;
        bind_client(
            sqlx::query(
                "INSERT INTO clients (client_id, name, description, app_type, grant_types, callbacks, allowed_origins, web_origins, \
                 allowed_logout_urls, secret_hash, is_first_party, refresh_rotation, refresh_leeway, refresh_idle_lifetime, \
                 refresh_absolute_lifetime, created_at, authz_version) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, 0)",
            ),
            c,
        )
        .bind(&c.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique(format!("A client with id {} already exists", c.client_id)))?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_client(&self, id: &str) -> Result<Client> {
        let row: Option<ClientRow> = self
            .by_key("SELECT * FROM clients WHERE client_id = $1", id)
            .await?;
        row.ok_or(StoreError::NotFound("client"))?.try_into()
    }

    async fn list_clients(&self, page: Page) -> Result<Paged<Client>> {
        let rows: Vec<ClientRow> = sqlx::query_as(
            "SELECT * FROM clients ORDER BY created_at, client_id LIMIT $1 OFFSET $2",
        )
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&self.pool)
        .await?;
        let total = self.count_clients().await?;
        Ok(Paged {
            items: rows
                .into_iter()
                .map(Client::try_from)
                .collect::<Result<_>>()?,
            total,
        })
    }

    async fn all_clients(&self) -> Result<Vec<Client>> {
        Ok(self
            .list_clients(Page {
                page: 0,
                per_page: u32::MAX,
            })
            .await?
            .items)
    }

    async fn update_client(&self, c: &Client) -> Result<Client> {
        let mut tx = self.authz_write().await?;
        let old: Option<ClientRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM clients WHERE client_id = $1{FOR_UPDATE}"
        )))
        .bind(&c.client_id)
        .fetch_optional(&mut *tx)
        .await?;
        let old = Client::try_from(old.ok_or(StoreError::NotFound("client"))?)?;
        bind_client(
            sqlx::query(
                "UPDATE clients SET name = $2, description = $3, app_type = $4, grant_types = $5, callbacks = $6, allowed_origins = $7, \
                 web_origins = $8, allowed_logout_urls = $9, secret_hash = $10, is_first_party = $11, refresh_rotation = $12, \
                 refresh_leeway = $13, refresh_idle_lifetime = $14, refresh_absolute_lifetime = $15 WHERE client_id = $1",
            ),
            c,
        )
        .execute(&mut *tx)
        .await?;
        if let Some(kind) = crate::common::client_change(&old, c) {
            bump(&mut tx, Affected::Client(&c.client_id), kind).await?;
        }
        let row: ClientRow = sqlx::query_as("SELECT * FROM clients WHERE client_id = $1")
            .bind(&c.client_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        row.try_into()
    }

    async fn delete_client(&self, id: &str) -> Result<()> {
        self.delete_bumping(
            Affected::Client(id),
            "client_deleted",
            "DELETE FROM clients WHERE client_id = $1",
            "client",
        )
        .await
    }

    async fn count_clients(&self) -> Result<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM clients")
            .fetch_one(&self.pool)
            .await?)
    }
}

type GrantRow = (String, String, String, String);
const GRANT_SELECT: &str = "SELECT g.id, g.client_id, rs.identifier, g.scope FROM client_grants g JOIN resource_servers rs ON rs.id = g.rs_id";

fn grant(r: GrantRow) -> Result<ClientGrant> {
    Ok(ClientGrant {
        id: r.0,
        client_id: r.1,
        audience: r.2,
        scope: json_vec(&r.3)?,
    })
}

#[async_trait]
impl ClientGrantStore for Store {
    async fn create_client_grant(
        &self,
        client_id: &str,
        audience: &str,
        scope: &[String],
    ) -> Result<ClientGrant> {
        let mut tx = self.write().await?;
        let rs: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM resource_servers WHERE identifier = $1{FOR_KEY_SHARE}"
        )))
        .bind(audience)
        .fetch_optional(&mut *tx)
        .await?;
        let rs = rs.ok_or_else(|| {
            ValidationError::new(
                "audience",
                format!("No resource server found for audience {audience}"),
            )
        })?;
        let client = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT 1 FROM clients WHERE client_id = $1{FOR_KEY_SHARE}"
        )))
        .bind(client_id)
        .fetch_optional(&mut *tx)
        .await?;
        if client.is_none() {
            return Err(ValidationError::new(
                "client_id",
                format!("Client {client_id} does not exist"),
            )
            .into());
        }
        let id = new_id("cgr");
        sqlx::query(
            "INSERT INTO client_grants (id, client_id, rs_id, scope) VALUES ($1, $2, $3, $4)",
        )
        .bind(&id)
        .bind(client_id)
        .bind(&rs)
        .bind(to_json(&scope))
        .execute(&mut *tx)
        .await
        .map_err(unique(
            "A client grant for this client and audience already exists",
        ))?;
        tx.commit().await?;
        Ok(ClientGrant {
            id,
            client_id: client_id.into(),
            audience: audience.into(),
            scope: scope.to_vec(),
        })
    }

    async fn list_client_grants(
        &self,
        client_id: Option<&str>,
        audience: Option<&str>,
        page: Page,
    ) -> Result<Paged<ClientGrant>> {
        let filter =
            " WHERE ($1 IS NULL OR g.client_id = $1) AND ($2 IS NULL OR rs.identifier = $2)";
        self.paged(
            sqlx::AssertSqlSafe(format!(
                "{GRANT_SELECT}{filter} ORDER BY g.id LIMIT $3 OFFSET $4"
            )),
            sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM client_grants g JOIN resource_servers rs ON rs.id = g.rs_id{filter}"
            )),
            &[client_id, audience],
            page,
            grant,
        )
        .await
    }

    async fn all_client_grants(&self) -> Result<Vec<ClientGrant>> {
        Ok(self
            .list_client_grants(
                None,
                None,
                Page {
                    page: 0,
                    per_page: u32::MAX,
                },
            )
            .await?
            .items)
    }

    async fn update_client_grant(&self, id: &str, scope: &[String]) -> Result<ClientGrant> {
        let mut tx = self.authz_write().await?;
        let old: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT scope FROM client_grants WHERE id = $1{FOR_UPDATE}"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let old = json_vec(&old.ok_or(StoreError::NotFound("client grant"))?)?;
        sqlx::query("UPDATE client_grants SET scope = $2 WHERE id = $1")
            .bind(id)
            .bind(to_json(&scope))
            .execute(&mut *tx)
            .await?;
        let row: GrantRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "{GRANT_SELECT} WHERE g.id = $1"
        )))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        // Only a removed scope makes the client's tokens stale.
        if crate::common::scopes_removed(&old, scope) {
            bump(
                &mut tx,
                Affected::Client(&row.1),
                "client_grant_scopes_removed",
            )
            .await?;
        }
        tx.commit().await?;
        grant(row)
    }

    async fn delete_client_grant(&self, id: &str) -> Result<()> {
        let mut tx = self.authz_write().await?;
        let client: Option<String> =
            sqlx::query_scalar("DELETE FROM client_grants WHERE id = $1 RETURNING client_id")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        let client = client.ok_or(StoreError::NotFound("client grant"))?;
        bump(&mut tx, Affected::Client(&client), "client_grant_deleted").await?;
        tx.commit().await?;
        Ok(())
    }
}

#[derive(FromRow)]
struct KeyRow {
    kid: String,
    alg: String,
    state: String,
    private_key: Vec<u8>,
    public_jwk: String,
    created_at: String,
    current_since: Option<String>,
    current_until: Option<String>,
    revoked_at: Option<String>,
    retire_after: Option<i64>,
}

impl TryFrom<KeyRow> for SigningKey {
    type Error = StoreError;
    fn try_from(r: KeyRow) -> Result<SigningKey> {
        Ok(SigningKey {
            alg: SigningAlg::parse(&r.alg).ok_or_else(|| StoreError::Corrupt(r.alg.clone()))?,
            state: KeyState::parse(&r.state).ok_or_else(|| StoreError::Corrupt(r.state.clone()))?,
            public_jwk: serde_json::from_str(&r.public_jwk)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            kid: r.kid,
            private_der: r.private_key,
            created_at: r.created_at,
            current_since: r.current_since,
            current_until: r.current_until,
            revoked_at: r.revoked_at,
            retire_after: r.retire_after,
        })
    }
}

async fn insert_key(conn: &mut Conn, k: &SigningKey) -> Result<()> {
    sqlx::query(
        "INSERT INTO signing_keys (kid, alg, state, private_key, public_jwk, created_at, current_since, current_until, revoked_at, retire_after) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&k.kid)
    .bind(k.alg.as_str())
    .bind(k.state.as_str())
    .bind(&k.private_der)
    .bind(k.public_jwk.to_string())
    .bind(&k.created_at)
    .bind(&k.current_since)
    .bind(&k.current_until)
    .bind(&k.revoked_at)
    .bind(k.retire_after)
    .execute(&mut *conn)
    .await
    .map_err(unique(format!("key {} exists", k.kid)))?;
    Ok(())
}

#[async_trait]
impl SigningKeyStore for Store {
    async fn signing_keys(&self) -> Result<Vec<SigningKey>> {
        let rows: Vec<KeyRow> =
            sqlx::query_as("SELECT * FROM signing_keys ORDER BY created_at, kid")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter().map(SigningKey::try_from).collect()
    }

    async fn key_publications(&self) -> Result<Vec<KeyPublication>> {
        let rows: Vec<(String, String, Option<i64>)> = sqlx::query_as(
            "SELECT alg, published_since, retire_after FROM key_publication ORDER BY alg",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(alg, published_since, retire_after)| {
                Ok(KeyPublication {
                    alg: SigningAlg::parse(&alg).ok_or_else(|| StoreError::Corrupt(alg.clone()))?,
                    published_since,
                    retire_after,
                })
            })
            .collect()
    }

    async fn key_certificate(&self, kid: &str) -> Result<Option<Vec<u8>>> {
        let cert: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT certificate FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .fetch_optional(&self.pool)
                .await?;
        Ok(cert.flatten())
    }

    async fn keep_key_certificate(&self, kid: &str, der: &[u8]) -> Result<Vec<u8>> {
        let mut tx = self.write().await?;
        // Only a key without one gets it: a racing node's certificate, written first, stays.
        sqlx::query(
            "UPDATE signing_keys SET certificate = $2 WHERE kid = $1 AND certificate IS NULL",
        )
        .bind(kid)
        .bind(der)
        .execute(&mut *tx)
        .await?;
        let kept: Option<Option<Vec<u8>>> =
            sqlx::query_scalar("SELECT certificate FROM signing_keys WHERE kid = $1")
                .bind(kid)
                .fetch_optional(&mut *tx)
                .await?;
        tx.commit().await?;
        kept.flatten().ok_or(StoreError::NotFound("signing key"))
    }

    async fn insert_signing_key(&self, k: &SigningKey) -> Result<()> {
        let mut tx = self.write().await?;
        insert_key(&mut tx, k).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn rotate_signing_keys(
        &self,
        alg: SigningAlg,
        new_next: &SigningKey,
        retire_after: i64,
    ) -> Result<()> {
        let mut tx = self.write().await?;
        // Rotations queue, one at a time, so two never promote two keys to current.
        lock_key_rotation(&mut tx).await?;
        let at = now_rfc3339();
        sqlx::query(
            "UPDATE signing_keys SET state = 'previous', current_until = $2, retire_after = $3 WHERE alg = $1 AND state = 'current'",
        )
        .bind(alg.as_str())
        .bind(&at)
        .bind(retire_after)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE signing_keys SET state = 'current', current_since = $2 WHERE alg = $1 AND state = 'next'")
            .bind(alg.as_str())
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        insert_key(&mut tx, new_next).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_signing_key(&self, kid: &str) -> Result<SigningKey> {
        let mut tx = self.write().await?;
        let row: Option<KeyRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM signing_keys WHERE kid = $1{FOR_UPDATE}"
        )))
        .bind(kid)
        .fetch_optional(&mut *tx)
        .await?;
        let mut key = SigningKey::try_from(row.ok_or(StoreError::NotFound("signing key"))?)?;
        match key.state {
            KeyState::Previous => {}
            KeyState::Revoked => {
                return Err(StoreError::Conflict("The key is already revoked".into()));
            }
            _ => {
                return Err(StoreError::Conflict(
                    "Only a previous (rotated-out) key can be revoked".into(),
                ));
            }
        }
        let at = now_rfc3339();
        sqlx::query("UPDATE signing_keys SET state = 'revoked', revoked_at = $2 WHERE kid = $1")
            .bind(kid)
            .bind(&at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        key.state = KeyState::Revoked;
        key.revoked_at = Some(at);
        Ok(key)
    }
}
