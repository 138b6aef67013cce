//! The SQLite store: one database file in WAL mode with foreign keys on, and SQLite's side of
//! every difference the shared SQL (`src/sql/`, compiled here as `sql`) leaves to a dialect
//! (the table in `crate::dialect`):
//!
//! - Every write transaction starts with `BEGIN IMMEDIATE`: it takes the database's write lock
//!   at once, so concurrent writers queue (up to the busy timeout) instead of failing, and one
//!   writer at a time is what serializes everything (no row locks: `FOR_UPDATE` and
//!   `FOR_KEY_SHARE` are empty, and key rotations need no lock of their own). They all run on
//!   one connection kept for them, whose page cache then outlives each commit; reads use the
//!   others.
//! - Writes that change effective permissions start the same way; their authz events are
//!   numbered by `AUTOINCREMENT`, which under the single writer is gapless and in commit order.
//! - Lists of ids are bound as one JSON array and read with `json_each`.
//! - `LIKE` is SQLite's, case-insensitive for ASCII letters; permission names are aggregated
//!   with `group_concat`.
//! - There is no wake-up channel: followers of the authz log and the catalog poll.
//! - The WAL is checkpointed in the background rather than inside commits (see
//!   [`Checkpoints`]), and temporary tables and indices stay in memory, so that a batch of
//!   refresh-token rotations neither waits for a checkpoint's `fsync` nor creates and deletes a
//!   temporary file.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use crate::{Result, StoreError};

// The shared implementation, compiled for SQLite (and again for PostgreSQL): see
// `crate::dialect`.
#[allow(clippy::duplicate_mod)]
#[path = "../sql/mod.rs"]
mod sql;

/// A Writ store on one SQLite database file.
#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// The connection every write transaction runs on (see [`begin_write`]); the same pool as
    /// `pool` for an in-memory database.
    writes: SqlitePool,
    /// The database file as opened (`None` in memory), for [`check_file`].
    file: Option<std::sync::Arc<OpenedFile>>,
    /// This process's writers take turns here before `BEGIN IMMEDIATE` (see [`writer_turn`]).
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// Refresh-token rotations waiting for the writer (see [`rotation_queue`]).
    rotations: std::sync::Arc<crate::common::RotationQueue>,
    /// The background checkpoints of a database file (see [`Checkpoints`]).
    _checkpoints: Option<std::sync::Arc<Checkpoints>>,
}

/// How often the WAL is checkpointed in the background.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// The WAL size in pages (40 MB) at which a commit checkpoints by itself (SQLite's default is
/// 1,000 pages). The WAL starts over from its beginning only after a checkpoint that no commit
/// overlapped, so under a steady stream of writes the background checkpoints copy the pages
/// but never let it start over; the commit that reaches this size then checkpoints the little
/// they left, and the WAL starts over (about once a second at 4,000 refreshes/s). The file
/// stays at most about this size.
const CHECKPOINT_BACKSTOP_PAGES: &str = "10000";

/// Checkpoints the WAL in the background, so that commits seldom wait for one. SQLite's own
/// automatic checkpoint runs inside the commit that crosses its threshold, `fsync`s included,
/// and every writer queued behind that commit (a batch of refresh-token rotations, say) waits
/// for it: about twelve times a second under a refresh load. A passive checkpoint on a
/// connection of its own blocks neither readers nor the writer. Stops when the last clone of
/// the store is dropped.
struct Checkpoints {
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Checkpoints {
    fn start(pool: SqlitePool) -> std::sync::Arc<Self> {
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(CHECKPOINT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // A failure is logged once, until a checkpoint succeeds again.
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = every.tick() => {}
                }
                // Closed with the store (`Store::close`): its last connection checkpoints.
                if pool.is_closed() {
                    return;
                }
                let done = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                    .execute(&pool)
                    .await;
                match done {
                    Err(sqlx::Error::PoolClosed) => return,
                    Err(e) if !failing => {
                        failing = true;
                        tracing::warn!(error = %e, "background WAL checkpoints are failing");
                    }
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("background WAL checkpoints succeed again");
                    }
                    _ => {}
                }
            }
        });
        std::sync::Arc::new(Checkpoints { _stop: stop })
    }
}

/// A database file's path and identity when the store opened it.
struct OpenedFile {
    path: std::path::PathBuf,
    id: FileId,
}

/// Whether `url` names a database file (not one of SQLite's in-memory databases).
fn url_names_a_file(url: &str) -> bool {
    !url.contains(":memory:") && !url.contains("mode=memory")
}

/// What tells one file from another at the same path: device and inode on Unix.
#[derive(PartialEq, Eq)]
struct FileId(u64, u64);

impl FileId {
    fn of(path: &std::path::Path) -> std::io::Result<Self> {
        let m = std::fs::metadata(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Ok(FileId(m.dev(), m.ino()))
        }
        #[cfg(not(unix))]
        {
            let _ = m;
            Ok(FileId(0, 0))
        }
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or `sqlite::memory:`)
    /// and runs the migrations.
    ///
    /// Only this first open may create the file. The pool's later connections must not: were
    /// the file moved away or its volume unmounted, a reconnect would quietly create an empty
    /// database at the path and keep serving from it after the real file came back.
    pub async fn open(url: &str) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(!url_names_a_file(url))
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("cache_size", "-16000")
            .pragma("temp_store", "memory")
            .pragma("wal_autocheckpoint", CHECKPOINT_BACKSTOP_PAGES);
        let path = opts.get_filename().to_path_buf();
        if FileId::of(&path).is_err() && url_names_a_file(url) {
            use sqlx::{ConnectOptions, Connection};
            let created = opts.clone().create_if_missing(true).connect().await?;
            created.close().await?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(opts.clone())
            .await?;
        let mut conn = pool.acquire().await?;
        crate::migrate::run::<Sqlite>(&mut *conn, BACKEND, crate::migrate::embedded(BACKEND))
            .await?;
        drop(conn);
        // An in-memory database has no file (its "path" does not exist).
        let file = FileId::of(&path)
            .ok()
            .map(|id| std::sync::Arc::new(OpenedFile { path, id }));
        let checkpoints = file.as_ref().map(|_| Checkpoints::start(pool.clone()));
        // In memory, the pool's connections share one page cache (sqlx opens `:memory:` in
        // shared-cache mode), so there is no cache of a connection's own to keep; and a second
        // pool would be another database where the URL asks for a private cache. Writes share
        // the readers' pool there.
        let writes = if file.is_some() {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .connect_with(opts)
                .await?
        } else {
            pool.clone()
        };
        Ok(Self {
            pool,
            writes,
            file,
            writer: Default::default(),
            rotations: Default::default(),
            _checkpoints: checkpoints,
        })
    }

    /// The underlying pool, for tests and maintenance commands.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

type DB = Sqlite;
type Store = SqliteStore;
const BACKEND: crate::Backend = crate::Backend::Sqlite;

/// Row locks: none, the writer lock of `BEGIN IMMEDIATE` already keeps others out.
const FOR_UPDATE: &str = "";
const FOR_KEY_SHARE: &str = "";
/// Case-insensitive pattern match (ASCII letters only, SQLite's default).
const LIKE: &str = "LIKE";
/// `STRING_AGG(expr, separator)`.
const STRING_AGG: &str = "group_concat";

/// A write transaction: `BEGIN IMMEDIATE` takes the write lock now, so writers queue here
/// rather than failing when they first write.
///
/// Every one runs on the same connection, the only one of its pool. SQLite drops a
/// connection's whole page cache when it begins a transaction after another connection has
/// committed, so with writes spread over the pool each write began by reading again the pages
/// it changes (the indexes of `refresh_tokens`, for a refresh); on the one writing connection
/// they stay cached from its previous write.
async fn begin_write(s: &SqliteStore) -> Result<Transaction<'static, Sqlite>> {
    Ok(s.writes.begin_with("BEGIN IMMEDIATE").await?)
}

/// What a write transaction holds besides its connection: this process's writer turn.
type WriterTurn = tokio::sync::OwnedMutexGuard<()>;

/// Waits for this process's turn to write, taken before `BEGIN IMMEDIATE` and held until the
/// transaction ends. SQLite has one writer at a time anyway; queueing the process's own
/// writers here, in order, hands the lock straight to the next one, where SQLite's busy
/// handler would let each waiter poll in sleeps of 1 to 100 ms while the lock sits free.
/// (Other processes on the same file still queue on the busy timeout.)
async fn writer_turn(s: &SqliteStore) -> WriterTurn {
    s.writer.clone().lock_owned().await
}

/// A write transaction that may append authz events: the same, as the single writer already
/// orders the log.
async fn begin_authz_write(s: &SqliteStore) -> Result<Transaction<'static, Sqlite>> {
    begin_write(s).await
}

/// Closes the writing connection, then the others (the last to close checkpoints the WAL).
async fn close(s: &SqliteStore) {
    s.writes.close().await;
    s.pool.close().await;
}

/// Sets the version of every subject `s` selects (`$1` = `key`) to the `seq` of the authz event
/// it appends for it, numbered from the head (gapless and in commit order under the single
/// writer). Nothing goes through the client, whatever the number of subjects.
///
/// The events are appended first, numbered after the head read at the start, and the `UPDATE`
/// then joins the rows to the events just appended (a range of `seq`) instead of selecting the
/// subjects a second time: for a large subquery (a deleted group's members) that second walk
/// was half the cost. The single writer keeps the rows the same between the statements.
async fn bump_and_log(
    conn: &mut SqliteConnection,
    s: &crate::common::Subjects<'_>,
    key: &str,
    kind: &str,
    at: &str,
) -> Result<()> {
    let (table, column, subject, ids) = (s.table, s.key, s.subject, s.ids);
    let members_of = s.members_of_sql();
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM authz_events")
        .fetch_one(&mut *conn)
        .await?;
    let appended = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO authz_events (seq, user_id, version, kind, at, members_of) \
         SELECT $4 + n, subject, $4 + n, $2, $3, {members_of} FROM ( \
           SELECT {subject} AS subject, row_number() OVER () AS n \
           FROM {table} WHERE {column} IN ({ids}))"
    )))
    .bind(key)
    .bind(kind)
    .bind(at)
    .bind(head)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if appended > 0 {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE {table} SET authz_version = e.version FROM authz_events e \
             WHERE e.seq > $1 AND e.user_id = {subject}"
        )))
        .bind(head)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A subquery of one column `id`: the strings of the JSON array bound at `param`.
fn id_list(param: &str) -> String {
    format!("SELECT value AS id FROM json_each({param})")
}

/// Key rotations queue on the writer lock already.
async fn lock_key_rotation(_: &mut SqliteConnection) -> Result<()> {
    Ok(())
}

/// The refresh-token rotations waiting for their batch (group-committed: one task takes the
/// writer's turn and rotates every token queued by then in one transaction).
fn rotation_queue(s: &SqliteStore) -> &std::sync::Arc<crate::common::RotationQueue> {
    &s.rotations
}

/// Where a write statement outside a transaction runs: the writing connection.
fn write_pool(s: &SqliteStore) -> &SqlitePool {
    &s.writes
}

/// Nothing to bound: there are no row locks, and the batch already holds the one writer lock.
async fn limit_lock_waits(_: &mut SqliteConnection) -> Result<()> {
    Ok(())
}

/// No push channel: followers poll.
fn wakeups(_: &SqliteStore) -> Option<tokio::sync::watch::Receiver<u64>> {
    None
}

/// No push channel, so no connection of its own.
fn wakeups_connected(_: &SqliteStore) -> Option<bool> {
    None
}

/// Fails when the file at the database's path is no longer the one the store opened (deleted,
/// moved or replaced; its volume gone). Open connections would go on answering from the old
/// file, and from their page caches, while every write went to a file nobody will open again.
fn check_file(store: &SqliteStore) -> Result<()> {
    let Some(f) = &store.file else {
        return Ok(());
    };
    let gone = |why: String| {
        let e = std::io::Error::new(std::io::ErrorKind::NotFound, why);
        Err(StoreError::Db(sqlx::Error::Io(e)))
    };
    match FileId::of(&f.path) {
        Ok(id) if id == f.id => Ok(()),
        Ok(_) => gone(format!(
            "the database file {} was replaced since Writ opened it",
            f.path.display()
        )),
        Err(e) => gone(format!("the database file {}: {e}", f.path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temporary table lives on its connection only: seen by the next write transaction,
    /// it shows both ran on the one writing connection; unseen by a read, that reads stay on
    /// the other connections.
    #[tokio::test]
    async fn write_transactions_share_one_connection() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let s = SqliteStore::open(&url).await.unwrap();
        let mut tx = begin_write(&s).await.unwrap();
        sqlx::query("CREATE TEMP TABLE written_here (x INTEGER)")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        for _ in 0..3 {
            let mut tx = begin_write(&s).await.unwrap();
            sqlx::query("SELECT count(*) FROM temp.written_here")
                .execute(&mut *tx)
                .await
                .expect("the same connection");
            tx.rollback().await.unwrap();
        }
        let read = sqlx::query("SELECT count(*) FROM temp.written_here")
            .execute(&s.pool)
            .await;
        assert!(read.is_err(), "a read ran on the writing connection");
        s.writes.close().await;
        s.pool.close().await;
    }

    /// In memory (no connection's own cache to keep): writes use the readers' pool.
    #[tokio::test]
    async fn in_memory_writes_share_the_readers_pool() {
        let s = SqliteStore::open("sqlite::memory:").await.unwrap();
        assert_eq!(s.writes.options().get_max_connections(), 8);
    }
}
