//! Hooks (Auth0 Actions) and their bindings to triggers.

use async_trait::async_trait;
use sqlx::FromRow;
use writ_core::*;

use super::Store;
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
        }
    }
}

#[derive(FromRow)]
struct BindingRow {
    action_id: String,
    display_name: String,
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
        let row: Option<ActionRow> = sqlx::query_as("SELECT * FROM actions WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(Action::from).ok_or(StoreError::NotFound("action"))
    }

    async fn put_action(&self, a: &Action) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO actions (id, name, trigger_id, code, secrets, version, deployed_code, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, trigger_id = excluded.trigger_id, \
             code = excluded.code, secrets = excluded.secrets, version = excluded.version, \
             deployed_code = excluded.deployed_code, updated_at = excluded.updated_at",
        )
        .bind(&a.id)
        .bind(&a.name)
        .bind(&a.trigger)
        .bind(&a.code)
        .bind(&a.secrets)
        .bind(a.version)
        .bind(&a.deployed_code)
        .bind(&a.created_at)
        .bind(&a.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(unique(format!("action {} exists", a.name)))?;
        tx.commit().await?;
        Ok(())
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
