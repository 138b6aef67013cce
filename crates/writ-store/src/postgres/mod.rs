//! The PostgreSQL implementation of the store traits, for deployments that run several Writ
//! nodes on one database. Same schema and semantics as the SQLite store; where SQLite gets them
//! from `BEGIN IMMEDIATE` (one writer at a time), this one takes explicit locks:
//!
//! - Writes that may change effective permissions begin with [`PgStore::authz_write`], which
//!   locks the single `authz_log_head` row before touching any user row. Those writers run one
//!   at a time until commit, so the authz event log is numbered from that row without gaps and
//!   becomes visible in `seq` order (a `BIGSERIAL` would not: sequence values are handed out
//!   before commit). Locking the head first also gives every such transaction the same lock
//!   order, so they cannot deadlock on user rows.
//! - Single-use records (codes, refresh tokens) are read `FOR UPDATE`, so racers queue on the
//!   row and the second sees the first's write.
//! - Key rotation takes a transaction-scoped advisory lock.

mod audit;
mod catalog;
mod consent;
mod login;
mod rbac;

use std::ops::{Deref, DerefMut};
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::common::{Affected, PRUNE_BATCH, normalize_time, now, prune_in_batches};
use crate::{AuthzEvent, AuthzEventStore, Lifecycle, Result, StoreError};

/// A Writ store on one PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The [`AuthzEventStore::wakeups`] counter, created with its LISTEN task on first use.
    wake: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<tokio::sync::watch::Sender<u64>>>>,
}

impl PgStore {
    /// Connects to `url` (`postgres://…` or `postgresql://…`) and runs the migrations (under
    /// sqlx's advisory lock, so nodes starting together migrate once).
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(PgConnectOptions::from_str(url)?).await
    }

    /// Like [`PgStore::open`], with options already parsed (e.g. a `search_path`).
    pub async fn open_with(opts: PgConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(10)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Db(e.into()))?;
        Ok(Self {
            pool,
            wake: Default::default(),
        })
    }

    /// The underlying pool, for tests and maintenance commands.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// PostgreSQL's plan for the effective-permission query (`EXPLAIN`), one line per plan
    /// node: for tests and diagnostics, to check it stays index lookups keyed by the user.
    pub async fn explain_effective_permissions(
        &self,
        user_id: &str,
        api_identifier: &str,
    ) -> Result<String> {
        let lines: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN {}",
            rbac::EFFECTIVE_PERMISSIONS
        )))
        .bind(user_id)
        .bind(api_identifier)
        .fetch_all(&self.pool)
        .await?;
        Ok(lines.join("\n"))
    }

    /// A plain write transaction (READ COMMITTED); callers lock what they depend on.
    async fn write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// A write transaction that may change effective permissions: it holds the authz log head
    /// lock from the start, so [`bump`] can only be called inside one.
    async fn authz_write(&self) -> Result<AuthzTx> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT seq FROM authz_log_head WHERE id = 1 FOR UPDATE")
            .execute(&mut *tx)
            .await?;
        Ok(AuthzTx(tx))
    }
}

/// A transaction holding the `authz_log_head` row lock (see the module docs).
pub(crate) struct AuthzTx(Transaction<'static, Postgres>);

impl AuthzTx {
    async fn commit(self) -> Result<()> {
        Ok(self.0.commit().await?)
    }
}

impl Deref for AuthzTx {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.0
    }
}

impl DerefMut for AuthzTx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.0
    }
}

/// Increments `authz_version` of the affected users and appends one event each, numbered from
/// the log head, inside `tx`.
pub(crate) async fn bump(tx: &mut AuthzTx, who: Affected<'_>, kind: &str) -> Result<()> {
    let rows: Vec<(String, i64)> = match who {
        Affected::User(id) => {
            sqlx::query_as("UPDATE users SET authz_version = authz_version + 1 WHERE id = $1 RETURNING id, authz_version")
                .bind(id)
                .fetch_all(&mut **tx)
                .await?
        }
        Affected::RoleHolders(role) => {
            sqlx::query_as(
                "UPDATE users SET authz_version = authz_version + 1 \
                 WHERE id IN (SELECT user_id FROM user_roles WHERE role_id = $1) RETURNING id, authz_version",
            )
            .bind(role)
            .fetch_all(&mut **tx)
            .await?
        }
        Affected::ApiHolders(rs) => {
            sqlx::query_as(
                "UPDATE users SET authz_version = authz_version + 1 WHERE id IN ( \
                   SELECT user_id FROM user_permissions WHERE rs_id = $1 \
                   UNION SELECT ur.user_id FROM user_roles ur JOIN role_permissions rp ON rp.role_id = ur.role_id WHERE rp.rs_id = $1) \
                 RETURNING id, authz_version",
            )
            .bind(rs)
            .fetch_all(&mut **tx)
            .await?
        }
        Affected::Client(id) => {
            sqlx::query_as(crate::common::BUMP_CLIENT)
                .bind(id)
                .fetch_all(&mut **tx)
                .await?
        }
    };
    if rows.is_empty() {
        return Ok(());
    }
    let n = rows.len() as i64;
    let top: i64 =
        sqlx::query_scalar("UPDATE authz_log_head SET seq = seq + $1 WHERE id = 1 RETURNING seq")
            .bind(n)
            .fetch_one(&mut **tx)
            .await?;
    let (users, versions): (Vec<String>, Vec<i64>) = rows.into_iter().unzip();
    sqlx::query(
        "INSERT INTO authz_events (seq, user_id, version, kind, at) \
         SELECT $1 + e.n, e.user_id, e.version, $4, $5 \
         FROM UNNEST($2::text[], $3::bigint[]) WITH ORDINALITY AS e(user_id, version, n)",
    )
    .bind(top - n)
    .bind(&users)
    .bind(&versions)
    .bind(kind)
    .bind(now())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[async_trait::async_trait]
impl AuthzEventStore for PgStore {
    async fn authz_events_after(&self, after: i64, limit: i64) -> Result<Vec<AuthzEvent>> {
        let rows: Vec<(i64, String, i64, String, String)> =
            sqlx::query_as("SELECT seq, user_id, version, kind, at FROM authz_events WHERE seq > $1 ORDER BY seq LIMIT $2")
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
                 (SELECT seq FROM authz_events WHERE at < $1 \
                  AND seq < (SELECT MAX(seq) FROM authz_events) ORDER BY seq LIMIT $2)",
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

    /// Starts (once) a task that `LISTEN`s on `writ_authz` and `writ_catalog` (see migration
    /// 0003) and bumps the returned counter on each notification, and once after every
    /// reconnection (notifications sent while disconnected are lost, so listeners re-read).
    fn wakeups(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        let tx = self.wake.get_or_init(|| {
            let tx = std::sync::Arc::new(tokio::sync::watch::channel(0u64).0);
            tokio::spawn(listen(self.pool.clone(), std::sync::Arc::downgrade(&tx)));
            tx
        });
        Some(tx.subscribe())
    }
}

/// Follows PostgreSQL notifications for [`PgStore::wakeups`] until the store is dropped.
async fn listen(pool: PgPool, tx: std::sync::Weak<tokio::sync::watch::Sender<u64>>) {
    let bump = |tx: &std::sync::Weak<tokio::sync::watch::Sender<u64>>| match tx.upgrade() {
        Some(tx) => {
            tx.send_modify(|n| *n += 1);
            true
        }
        None => false,
    };
    let mut backoff = Duration::from_millis(100);
    loop {
        let listener = async {
            let mut l = sqlx::postgres::PgListener::connect_with(&pool).await?;
            l.listen_all(["writ_authz", "writ_catalog"]).await?;
            Ok::<_, sqlx::Error>(l)
        };
        match listener.await {
            Ok(mut l) => {
                backoff = Duration::from_millis(100);
                if !bump(&tx) {
                    return;
                }
                // `try_recv` yields `Ok(None)` when the connection drops: reconnect then.
                loop {
                    match l.try_recv().await {
                        Ok(Some(_)) => {
                            if !bump(&tx) {
                                return;
                            }
                        }
                        Ok(None) => break,
                        // The store was closed (shutdown): nothing to listen for any more.
                        Err(_) if pool.is_closed() => return,
                        Err(e) => {
                            tracing::warn!(error = %e, "PostgreSQL LISTEN failed; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                if tx.upgrade().is_none() || pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "cannot LISTEN on PostgreSQL; retrying");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[async_trait::async_trait]
impl Lifecycle for PgStore {
    /// Closes every connection.
    async fn close(&self) {
        self.pool.close().await;
    }
}
