//! The PostgreSQL store, for deployments that run several Writ nodes on one database, and
//! PostgreSQL's side of every difference the shared SQL (`src/sql/`, compiled here as `sql`)
//! leaves to a dialect (the table in `crate::dialect`). Same schema and semantics as the
//! SQLite store; where SQLite gets them from `BEGIN IMMEDIATE` (one writer at a time), this one
//! takes explicit locks:
//!
//! - Writes that may change effective permissions begin with `begin_authz_write`, which
//!   locks the single `authz_log_head` row before touching any user row. Those writers run one
//!   at a time until commit, so `bump_and_log` numbers the authz event log from that row
//!   without gaps and it becomes visible in `seq` order (a `BIGSERIAL` would not: sequence
//!   values are handed out before commit). Locking the head first also gives every such
//!   transaction the same lock order, so they cannot deadlock on user rows. Other writes
//!   (`begin_write`) are plain read-committed transactions.
//! - Rows a write depends on are read with `FOR_UPDATE` (single-use codes and refresh tokens,
//!   a client or grant before its change is compared, a key before its revocation, the user
//!   while recording a consent) or `FOR_KEY_SHARE` (the API and client a new grant refers to),
//!   so racers queue on the row and the second sees the first's write.
//! - Key rotation takes a transaction-scoped advisory lock (`lock_key_rotation`).
//! - Lists of ids are bound as one JSON array and read with `json_array_elements_text`.
//! - `ILIKE` for case-insensitive search, `string_agg` for aggregating permission names.
//! - `wakeups`: a `LISTEN` task turns the `NOTIFY`s of migration 0003 into a counter.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{PgConnection, Postgres, Transaction};

use crate::Result;

// The shared implementation, compiled for PostgreSQL (and again for SQLite): see
// `crate::dialect`.
#[allow(clippy::duplicate_mod)]
#[path = "../sql/mod.rs"]
mod sql;

/// A Writ store on one PostgreSQL database.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The [`crate::AuthzEventStore::wakeups`] counter, created with its LISTEN task on first use.
    wake: std::sync::Arc<std::sync::OnceLock<std::sync::Arc<tokio::sync::watch::Sender<u64>>>>,
    /// Whether the LISTEN task's connection is up (see [`wakeups_connected`]).
    listening: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// This node's refresh-token rotations waiting for their batch (see [`rotation_queue`]).
    rotations: std::sync::Arc<crate::common::RotationQueue>,
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
        let mut conn = pool.acquire().await?;
        crate::migrate::run::<Postgres>(&mut *conn, BACKEND, crate::migrate::embedded(BACKEND))
            .await?;
        drop(conn);
        Ok(Self {
            pool,
            wake: Default::default(),
            listening: Default::default(),
            rotations: Default::default(),
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
            sql::rbac::EFFECTIVE_PERMISSIONS.as_str()
        )))
        .bind(user_id)
        .bind(api_identifier)
        .fetch_all(&self.pool)
        .await?;
        Ok(lines.join("\n"))
    }
}

type DB = Postgres;
type Store = PgStore;
const BACKEND: crate::Backend = crate::Backend::Postgres;

/// Row locks, so concurrent writers of one row queue on it and each sees the previous one's
/// write. `FOR KEY SHARE` keeps a referenced row from being deleted without blocking updates.
const FOR_UPDATE: &str = " FOR UPDATE";
const FOR_KEY_SHARE: &str = " FOR KEY SHARE";
/// Case-insensitive pattern match.
const LIKE: &str = "ILIKE";
/// `STRING_AGG(expr, separator)`.
const STRING_AGG: &str = "string_agg";

/// What a write transaction holds besides its connection: nothing, writers queue on rows.
type WriterTurn = ();

/// Writers need no turn of their own: they lock the rows they depend on.
async fn writer_turn(_: &PgStore) -> WriterTurn {}

/// This node's refresh-token rotations waiting for their batch: batched as on SQLite (one
/// transaction, two statements and one commit for every rotation queued by then, where a
/// transaction each cost four round trips and a commit each). Rotations still lock their rows,
/// so another node rotating the same token waits on the row and then no longer matches.
///
/// A batch holds several token rows at once, which one rotation never did, so it could
/// deadlock with another transaction that locks several of them in another order: another
/// node's batch (the same tokens presented to both at once), or a statement revoking many
/// tokens (a family, a user's, a consent's). So a batch never waits long on a lock (see
/// [`limit_lock_waits`]): it gives way, and its rotations are retried one transaction each,
/// which lock one token row apiece and cannot close a cycle.
fn rotation_queue(s: &PgStore) -> &std::sync::Arc<crate::common::RotationQueue> {
    &s.rotations
}

/// Where a write statement outside a transaction runs: any connection.
fn write_pool(s: &PgStore) -> &sqlx::PgPool {
    &s.pool
}

/// How long a rotation batch may wait on one row lock before it gives way.
const BATCH_LOCK_TIMEOUT_MS: u32 = 100;

/// Bounds how long the rest of the transaction waits on any one lock: a rotation batch, which
/// holds several token rows, fails after [`BATCH_LOCK_TIMEOUT_MS`] instead of waiting on a
/// transaction that may be waiting on it, well before PostgreSQL's deadlock detector would
/// pick a victim (`deadlock_timeout`, 1 s by default), which could be the other transaction.
async fn limit_lock_waits(conn: &mut PgConnection) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = {BATCH_LOCK_TIMEOUT_MS}"
    )))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A plain write transaction (read committed); its statements lock what they depend on.
async fn begin_write(s: &PgStore) -> Result<Transaction<'static, Postgres>> {
    Ok(s.pool.begin().await?)
}

/// Closes every connection.
async fn close(s: &PgStore) {
    s.pool.close().await;
}

/// A write transaction that may change effective permissions: it locks the authz log head row
/// before anything else (see the module docs), so [`bump_and_log`] can number from it.
async fn begin_authz_write(s: &PgStore) -> Result<Transaction<'static, Postgres>> {
    let mut tx = s.pool.begin().await?;
    sqlx::query("SELECT seq FROM authz_log_head WHERE id = 1 FOR UPDATE")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}

/// Sets the version of every subject `s` selects (`$1` = `key`) to the `seq` of the authz event
/// it appends for it, numbered from the log head, which the transaction has held locked since
/// it began (gapless, and visible in `seq` order): one statement, whose data-modifying parts
/// update the subjects, insert their events and move the head, so nothing goes through the
/// client whatever the number of subjects.
///
/// The subjects are numbered once (a materialized `row_number()`), and the update, the insert
/// and the head all use that numbering. For a large per-user fan-out (a deleted group's
/// 100,000 members) what the statement must not add is spilling to temporary files, so the
/// transaction gets [`AUTHZ_WORK_MEM`]; authz writes run one at a time (the head lock), so at
/// most one connection uses that much at once.
async fn bump_and_log(
    conn: &mut PgConnection,
    s: &crate::common::Subjects<'_>,
    key: &str,
    kind: &str,
    at: &str,
) -> Result<()> {
    let (table, column, subject, ids) = (s.table, s.key, s.subject, s.ids);
    let members_of = s.members_of_sql();
    sqlx::query("SELECT set_config('work_mem', $1, true)")
        .bind(AUTHZ_WORK_MEM)
        .execute(&mut *conn)
        .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH s AS MATERIALIZED ( \
           SELECT {column} AS k, {subject} AS subject, row_number() OVER () AS n \
           FROM {table} WHERE {column} IN ({ids})), \
         head AS (SELECT seq FROM authz_log_head WHERE id = 1), \
         bumped AS ( \
           UPDATE {table} t SET authz_version = head.seq + s.n FROM s, head WHERE t.{column} = s.k), \
         appended AS ( \
           INSERT INTO authz_events (seq, user_id, version, kind, at, members_of) \
           SELECT head.seq + s.n, s.subject, head.seq + s.n, $2, $3, {members_of} \
           FROM s CROSS JOIN head) \
         UPDATE authz_log_head SET seq = seq + (SELECT COUNT(*) FROM s) WHERE id = 1"
    )))
    .bind(key)
    .bind(kind)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The memory an authz write transaction may use per sort or hash (see [`bump_and_log`]).
const AUTHZ_WORK_MEM: &str = "64MB";

/// A subquery of one column `id`: the strings of the JSON array bound at `param`.
fn id_list(param: &str) -> String {
    format!("SELECT json_array_elements_text(CAST({param} AS json)) AS id")
}

/// The advisory lock key that serializes signing-key rotations (an arbitrary constant: "writkeys").
const KEY_ROTATION_LOCK: i64 = 0x7772_6974_6b65_7973;

/// Rotations queue (one at a time, like SQLite's single writer), so two never promote two keys
/// to current. Held until the transaction ends.
async fn lock_key_rotation(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(KEY_ROTATION_LOCK)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Starts (once) a task that `LISTEN`s on `writ_authz` and `writ_catalog` (see migration 0003)
/// and bumps the returned counter on each notification, and once after every reconnection
/// (notifications sent while disconnected are lost, so listeners re-read).
fn wakeups(store: &PgStore) -> Option<tokio::sync::watch::Receiver<u64>> {
    let tx = store.wake.get_or_init(|| {
        let tx = std::sync::Arc::new(tokio::sync::watch::channel(0u64).0);
        tokio::spawn(listen(
            store.pool.clone(),
            std::sync::Arc::downgrade(&tx),
            store.listening.clone(),
        ));
        tx
    });
    Some(tx.subscribe())
}

/// Whether the LISTEN connection is up: false before [`wakeups`] first starts it, while it
/// reconnects, and after it ended.
fn wakeups_connected(store: &PgStore) -> Option<bool> {
    Some(store.listening.load(std::sync::atomic::Ordering::Acquire))
}

/// Nothing to check beyond the query: the database is a server, not a file.
fn check_file(_: &PgStore) -> Result<()> {
    Ok(())
}

/// Follows PostgreSQL notifications for [`PgStore::wakeups`] until the store is dropped,
/// keeping `up` true while its connection is.
async fn listen(
    pool: PgPool,
    tx: std::sync::Weak<tokio::sync::watch::Sender<u64>>,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
) {
    let set = |v: bool| up.store(v, std::sync::atomic::Ordering::Release);
    listen_until_dropped(pool, tx, &set).await;
    set(false);
}

async fn listen_until_dropped(
    pool: PgPool,
    tx: std::sync::Weak<tokio::sync::watch::Sender<u64>>,
    set: &impl Fn(bool),
) {
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
                set(true);
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
                set(false);
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
