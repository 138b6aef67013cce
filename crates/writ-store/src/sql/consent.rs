//! Users' consents to third-party clients (Auth0's grants): one row per (user, client, API),
//! its scopes a sorted JSON array that later consents add to.

use async_trait::async_trait;

use super::{Conn, FOR_UPDATE, Store, bump};
use crate::common::{Affected, json_vec, missing, new_id, now_rfc3339, to_json, union_sorted};
use crate::*;

type ConsentRow = (String, String, String, String, String, String, String);

const SELECT: &str =
    "SELECT id, user_id, client_id, audience, scope, created_at, updated_at FROM consents";

fn consent(r: ConsentRow) -> Result<Consent> {
    Ok(Consent {
        id: r.0,
        user_id: r.1,
        client_id: r.2,
        audience: r.3,
        scope: json_vec(&r.4)?,
        created_at: r.5,
        updated_at: r.6,
    })
}

const FILTER: &str = " WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR client_id = $2) \
     AND ($3 IS NULL OR audience = $3)";

/// The consent of `user_id` to `client_id` for `audience`, if any.
async fn find(
    conn: &mut Conn,
    user_id: &str,
    client_id: &str,
    audience: &str,
) -> Result<Option<Consent>> {
    let r: Option<ConsentRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE user_id = $1 AND client_id = $2 AND audience = $3"
    )))
    .bind(user_id)
    .bind(client_id)
    .bind(audience)
    .fetch_optional(&mut *conn)
    .await?;
    r.map(consent).transpose()
}

/// Revokes the refresh tokens `client_id` holds for `user_id` (their consent is gone).
async fn revoke_refresh_tokens(conn: &mut Conn, user_id: &str, client_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked = TRUE WHERE user_id = $1 AND client_id = $2 AND NOT revoked",
    )
    .bind(user_id)
    .bind(client_id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

#[async_trait]
impl ConsentStore for Store {
    async fn consent(
        &self,
        user_id: &str,
        client_id: &str,
        audience: &str,
    ) -> Result<Option<Consent>> {
        find(
            &mut *self.pool.acquire().await?,
            user_id,
            client_id,
            audience,
        )
        .await
    }

    async fn record_consent(
        &self,
        user_id: &str,
        client_id: &str,
        audience: &str,
        scope: &[String],
    ) -> Result<Consent> {
        let mut tx = self.write().await?;
        // Racing consents of one user to one client queue here (a second insert would violate
        // the unique key). On SQLite the writer lock queues them already.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT 1 FROM users WHERE id = $1{FOR_UPDATE}"
        )))
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
        let old = find(&mut tx, user_id, client_id, audience).await?;
        let at = now_rfc3339();
        let row = match old {
            Some(c) => {
                let scope = union_sorted(&c.scope, scope);
                sqlx::query("UPDATE consents SET scope = $2, updated_at = $3 WHERE id = $1")
                    .bind(&c.id)
                    .bind(to_json(&scope))
                    .bind(&at)
                    .execute(&mut *tx)
                    .await?;
                Consent {
                    scope,
                    updated_at: at,
                    ..c
                }
            }
            None => {
                let c = Consent {
                    id: new_id("cns"),
                    user_id: user_id.into(),
                    client_id: client_id.into(),
                    audience: audience.into(),
                    scope: union_sorted(&[], scope),
                    created_at: at.clone(),
                    updated_at: at,
                };
                sqlx::query(
                    "INSERT INTO consents (id, user_id, client_id, audience, scope, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $6)",
                )
                .bind(&c.id)
                .bind(&c.user_id)
                .bind(&c.client_id)
                .bind(&c.audience)
                .bind(to_json(&c.scope))
                .bind(&c.created_at)
                .execute(&mut *tx)
                .await
                .map_err(missing("user or client"))?;
                c
            }
        };
        tx.commit().await?;
        Ok(row)
    }

    async fn list_consents(&self, filter: &ConsentFilter, page: Page) -> Result<Paged<Consent>> {
        self.paged(
            sqlx::AssertSqlSafe(format!(
                "{SELECT}{FILTER} ORDER BY created_at, id LIMIT $4 OFFSET $5"
            )),
            sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM consents{FILTER}")),
            &[
                filter.user_id.as_deref(),
                filter.client_id.as_deref(),
                filter.audience.as_deref(),
            ],
            page,
            consent,
        )
        .await
    }

    async fn revoke_consent(&self, id: &str) -> Result<Consent> {
        let mut tx = self.authz_write().await?;
        let r: Option<ConsentRow> = sqlx::query_as(
            "DELETE FROM consents WHERE id = $1 \
             RETURNING id, user_id, client_id, audience, scope, created_at, updated_at",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let c = consent(r.ok_or(StoreError::NotFound("grant"))?)?;
        revoke_refresh_tokens(&mut tx, &c.user_id, &c.client_id).await?;
        bump(&mut tx, Affected::User(&c.user_id), "consent_revoked").await?;
        tx.commit().await?;
        Ok(c)
    }

    async fn revoke_user_consents(&self, user_id: &str) -> Result<u64> {
        let mut tx = self.authz_write().await?;
        let clients: Vec<String> =
            sqlx::query_scalar("DELETE FROM consents WHERE user_id = $1 RETURNING client_id")
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
        for client in &clients {
            revoke_refresh_tokens(&mut tx, user_id, client).await?;
        }
        if !clients.is_empty() {
            bump(&mut tx, Affected::User(user_id), "consent_revoked").await?;
        }
        tx.commit().await?;
        Ok(clients.len() as u64)
    }
}
