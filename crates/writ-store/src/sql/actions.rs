//! Hooks (Auth0 Actions) and their bindings to triggers.

use async_trait::async_trait;
use sqlx::FromRow;
use writ_core::*;

use super::{Query, Store};
use crate::common::unique;
use crate::*;

#[derive(FromRow)]
struct ActionRow {
    id: String,
    name: String,
    trigger_id: String,
    code: String,
    secrets: Vec<u8>,
    version: i64,
    deployed_code: Option<String>,
    created_at: String,
    updated_at: String,
    url: Option<String>,
    deployed_url: Option<String>,
    revision: i64,
}

impl From<ActionRow> for Action {
    fn from(r: ActionRow) -> Self {
        Action {
            id: r.id,
            name: r.name,
            trigger: r.trigger_id,
            code: r.code,
            secrets: r.secrets,
            version: r.version,
            deployed_code: r.deployed_code,
            created_at: r.created_at,
            updated_at: r.updated_at,
            url: r.url,
            deployed_url: r.deployed_url,
            revision: r.revision,
        }
    }
}

#[derive(FromRow)]
struct BindingRow {
    action_id: String,
    display_name: String,
}

/// Binds an action's `id` and `revision` as `$1` and `$2`, then what a replacement writes
/// (`name` to `deployed_url`, all but `created_at`) as `$3` … `$11`: for its insert and its
/// replacement.
fn bind_action<'q>(q: Query<'q>, a: &Action) -> Query<'q> {
    q.bind(&a.id)
        .bind(a.revision)
        .bind(&a.name)
        .bind(&a.trigger)
        .bind(&a.code)
        .bind(&a.secrets)
        .bind(a.version)
        .bind(&a.deployed_code)
        .bind(&a.updated_at)
        .bind(&a.url)
        .bind(&a.deployed_url)
}

#[async_trait]
impl ActionStore for Store {
    async fn actions(&self) -> Result<Vec<Action>> {
        let rows: Vec<ActionRow> = sqlx::query_as("SELECT * FROM actions ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Action::from).collect())
    }

    async fn get_action(&self, id: &str) -> Result<Action> {
        let row: Option<ActionRow> = self
            .by_key("SELECT * FROM actions WHERE id = $1", id)
            .await?;
        row.map(Action::from).ok_or(StoreError::NotFound("action"))
    }

    async fn put_action(&self, a: &Action) -> Result<()> {
        let mut tx = self.write().await?;
        bind_action(
            sqlx::query(
                "INSERT INTO actions (id, revision, name, trigger_id, code, secrets, version, \
                 deployed_code, updated_at, url, deployed_url, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (id) DO UPDATE SET name = excluded.name, trigger_id = excluded.trigger_id, \
                 code = excluded.code, secrets = excluded.secrets, version = excluded.version, \
                 deployed_code = excluded.deployed_code, updated_at = excluded.updated_at, \
                 url = excluded.url, deployed_url = excluded.deployed_url, revision = excluded.revision",
            ),
            a,
        )
        .bind(&a.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique(format!("action {} exists", a.name)))?;
        tx.commit().await?;
        Ok(())
    }

    async fn replace_action(&self, a: &Action) -> Result<Option<i64>> {
        let mut tx = self.write().await?;
        let done = bind_action(
            sqlx::query(
                "UPDATE actions SET name = $3, trigger_id = $4, code = $5, secrets = $6, version = $7, \
                 deployed_code = $8, updated_at = $9, url = $10, deployed_url = $11, \
                 revision = revision + 1 \
                 WHERE id = $1 AND revision = $2",
            ),
            a,
        )
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 1 {
            tx.commit().await?;
            return Ok(Some(a.revision + 1));
        }
        // Not written: the row moved on, or it is gone.
        let exists: Option<i64> = sqlx::query_scalar("SELECT revision FROM actions WHERE id = $1")
            .bind(&a.id)
            .fetch_optional(&mut *tx)
            .await?;
        match exists {
            Some(_) => Ok(None),
            None => Err(StoreError::NotFound("action")),
        }
    }

    async fn delete_action(&self, id: &str) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM action_bindings WHERE action_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM actions WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("action"));
        }
        tx.commit().await?;
        Ok(())
    }

    async fn action_bindings(&self, trigger: &str) -> Result<Vec<ActionBinding>> {
        let rows: Vec<BindingRow> = sqlx::query_as(
            "SELECT action_id, display_name FROM action_bindings WHERE trigger_id = $1 ORDER BY position",
        )
        .bind(trigger)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ActionBinding {
                action_id: r.action_id,
                display_name: r.display_name,
            })
            .collect())
    }

    async fn set_action_bindings(&self, trigger: &str, b: &[ActionBinding]) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("DELETE FROM action_bindings WHERE trigger_id = $1")
            .bind(trigger)
            .execute(&mut *tx)
            .await?;
        for (i, x) in b.iter().enumerate() {
            sqlx::query(
                "INSERT INTO action_bindings (trigger_id, position, action_id, display_name) VALUES ($1, $2, $3, $4)",
            )
            .bind(trigger)
            .bind(i as i64)
            .bind(&x.action_id)
            .bind(&x.display_name)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
