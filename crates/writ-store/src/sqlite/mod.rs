//! The SQLite implementation of the store traits: one file, WAL mode, foreign keys on, write
//! transactions taken with `BEGIN IMMEDIATE` so concurrent writers queue instead of failing.

mod audit;
mod catalog;
mod consent;
mod login;
mod rbac;

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use crate::common::{Affected, PRUNE_BATCH, normalize_time, now, prune_in_batches};
use crate::{AuthzEvent, AuthzEventStore, Lifecycle, Result, StoreError};

/// A Writ store on one SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or `sqlite::memory:`)
    /// and runs the migrations.
    pub async fn open(url: &str) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-16000");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Db(e.into()))?;
        Ok(Self { pool })
    }

    /// The underlying pool, for tests and maintenance commands.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Increments `authz_version` of the affected users and appends one event each, inside `tx`.
pub(crate) async fn bump(tx: &mut SqliteConnection, who: Affected<'_>, kind: &str) -> Result<()> {
    let rows: Vec<(String, i64)> = match who {
        Affected::User(id) => {
            sqlx::query_as("UPDATE users SET authz_version = authz_version + 1 WHERE id = ?1 RETURNING id, authz_version")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?
        }
        Affected::RoleHolders(role) => {
            sqlx::query_as(
                "UPDATE users SET authz_version = authz_version + 1 \
                 WHERE id IN (SELECT user_id FROM user_roles WHERE role_id = ?1) RETURNING id, authz_version",
            )
            .bind(role)
            .fetch_all(&mut *tx)
            .await?
        }
        Affected::ApiHolders(rs) => {
            sqlx::query_as(
                "UPDATE users SET authz_version = authz_version + 1 WHERE id IN ( \
                   SELECT user_id FROM user_permissions WHERE rs_id = ?1 \
                   UNION SELECT ur.user_id FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id WHERE rp.rs_id = ?1) \
                 RETURNING id, authz_version",
            )
            .bind(rs)
            .fetch_all(&mut *tx)
            .await?
        }
        Affected::Client(id) => {
            sqlx::query_as(crate::common::BUMP_CLIENT)
                .bind(id)
                .fetch_all(&mut *tx)
                .await?
        }
    };
    let at = now();
    for (user_id, version) in rows {
        append_event(tx, &user_id, version, kind, &at).await?;
    }
    Ok(())
}

pub(crate) async fn append_event(
    tx: &mut SqliteConnection,
    user_id: &str,
    version: i64,
    kind: &str,
    at: &str,
) -> Result<()> {
    sqlx::query("INSERT INTO authz_events (user_id, version, kind, at) VALUES (?1, ?2, ?3, ?4)")
        .bind(user_id)
        .bind(version)
        .bind(kind)
        .bind(at)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

#[async_trait::async_trait]
impl AuthzEventStore for SqliteStore {
    async fn authz_events_after(&self, after: i64, limit: i64) -> Result<Vec<AuthzEvent>> {
        let rows: Vec<(i64, String, i64, String, String)> =
            sqlx::query_as("SELECT seq, user_id, version, kind, at FROM authz_events WHERE seq > ?1 ORDER BY seq LIMIT ?2")
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, subject, version, kind, at)| AuthzEvent {
                seq,
                subject,
                version,
                kind,
                at,
            })
            .collect())
    }

    async fn authz_head(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM authz_events")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn prune_authz_events(&self, older_than: &str) -> Result<u64> {
        let before = normalize_time("older_than", older_than)?;
        prune_in_batches(|| async {
            Ok(sqlx::query(
                "DELETE FROM authz_events WHERE seq IN \
                 (SELECT seq FROM authz_events WHERE at < ?1 \
                  AND seq < (SELECT MAX(seq) FROM authz_events) ORDER BY seq LIMIT ?2)",
            )
            .bind(&before)
            .bind(PRUNE_BATCH)
            .execute(&self.pool)
            .await?
            .rows_affected())
        })
        .await
    }

    async fn catalog_version(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT version FROM catalog_state WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }
}

#[async_trait::async_trait]
impl Lifecycle for SqliteStore {
    /// Closes every connection, checkpointing the WAL.
    async fn close(&self) {
        self.pool.close().await;
    }
}
