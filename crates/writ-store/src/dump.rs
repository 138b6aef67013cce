//! Moving a deployment between databases without losing anything: [`export`] writes every row
//! of every table (users with their password hashes, clients, signing keys, sessions, refresh
//! tokens, the authz event log…) as one consistent snapshot, and [`import`] restores it into
//! an **empty** database of either backend, so a SQLite deployment moves to PostgreSQL (and
//! back). [`backup`] is the other half of operating SQLite: an online, consistent copy of the
//! database file.
//!
//! # The dump format (JSONL, version 1)
//!
//! One JSON object per line:
//!
//! 1. a header: `{"writ_dump": 1, "created_at": "…", "source": "sqlite"|"postgres",
//!    "schema": <migration version>, "writ_version": "…"}`;
//! 2. one line per row, `{"table": "users", "row": {"id": "usr_…", …}}`, table by table in an
//!    order that satisfies the foreign keys (see `dump/tables.rs`), each table in primary-key
//!    order;
//! 3. a trailer: `{"writ_dump_end": true, "counts": {"users": 2, …}, "sequences":
//!    {"authz_events": 17}}`: per-table row counts, so a truncated file is refused, and the
//!    highest value each generated key ever had, so numbering continues after it.
//!
//! Values are backend-neutral: integers as numbers, booleans as `true`/`false` (not SQLite's
//! 0/1), text as strings, JSON columns (stored as text) as JSON values, bytes as base64
//! strings, NULL as `null`. Two dumps of the same data are identical row for row whichever
//! backend they were taken from.
//!
//! Sealed signing keys are exported as stored, still encrypted with the key-encryption key:
//! the target must run with the same key (`WRIT_KEY_ENCRYPTION_KEY`, or for a SQLite source
//! without it, the `writ.kek` file beside its database). The dump holds password hashes and
//! sealed keys: treat it like the database itself.
//!
//! # Consistency
//!
//! An export reads inside one read transaction (SQLite: a deferred `BEGIN` on one connection,
//! whose WAL snapshot starts at the first read; PostgreSQL: `REPEATABLE READ READ ONLY`), so
//! it is a snapshot even while the server keeps writing. An import is one write transaction:
//! it lands completely or not at all. Before committing, it sets every generated key's counter
//! (SQLite's `sqlite_sequence`, PostgreSQL's `authz_log_head` row and identity sequences, with
//! `setval`) past both the imported rows and the source's counter, so numbering continues.
//!
//! # Adding a table
//!
//! List it in `dump/tables.rs`. Export and import compare that list with the live schema
//! (tables, columns, types, generated keys) and refuse to run while the two differ, so a new
//! table can never be left out of a dump silently.
//!
//! # Layout
//!
//! This file holds the public API; the work is in submodules: `copy` (the export and import
//! loops over one read or write transaction), `schema` (the live schema checked against the
//! table list in `tables`), `codec` (a backend's values to the dump's JSON and back),
//! `format` (the JSONL lines: header, rows, trailer and its counts) and `counters` (generated
//! keys continue after an import).

mod codec;
mod copy;
mod counters;
mod format;
mod schema;
mod tables;

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Postgres, Sqlite};

use crate::{Backend, PgStore, SqliteStore, StoreError};
use format::Lines;
use tables::TABLES;

/// The dump format version this build writes and reads.
pub const FORMAT_VERSION: i64 = 1;

/// Why an export, import or backup did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    /// Reading or writing the dump (or the backup file).
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The database refused or failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// The input is not a complete, well-formed writ dump (including a truncated one).
    #[error("{0}")]
    Invalid(String),
    /// `import` only restores into an empty database.
    #[error(
        "the target database is not empty ({0} already hold rows): import only into a new, \
         empty database (one that `writ serve` has not started on)"
    )]
    NotEmpty(String),
    /// The database's schema is not the one this build knows, or not the dump's.
    #[error("{0}")]
    Schema(String),
    /// The operation does not exist for this backend.
    #[error("{0}")]
    Unsupported(String),
}

impl From<StoreError> for DumpError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Db(e) => DumpError::Db(e),
            other => DumpError::Invalid(other.to_string()),
        }
    }
}

type Result<T, E = DumpError> = std::result::Result<T, E>;

/// A database to dump from or restore into: the connection pool of one backend.
#[derive(Clone)]
pub enum Database {
    /// A SQLite database file.
    Sqlite(SqlitePool),
    /// A PostgreSQL database.
    Postgres(PgPool),
}

impl From<&SqliteStore> for Database {
    fn from(s: &SqliteStore) -> Self {
        Database::Sqlite(s.pool().clone())
    }
}

impl From<&PgStore> for Database {
    fn from(s: &PgStore) -> Self {
        Database::Postgres(s.pool().clone())
    }
}

impl Database {
    /// Connects to an existing database without migrating it (an export or backup must not
    /// change its source). A SQLite file that does not exist is an error, not a new database.
    pub async fn connect(url: &str) -> Result<Self> {
        match Backend::of_url(url) {
            Some(Backend::Sqlite) => {
                // An export streams for as long as its writer takes: not a slow statement.
                let opts = SqliteConnectOptions::from_str(url)?
                    .disable_statement_logging()
                    .create_if_missing(false)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                let pool = SqlitePoolOptions::new()
                    .max_connections(2)
                    .connect_with(opts)
                    .await?;
                Ok(Database::Sqlite(pool))
            }
            Some(Backend::Postgres) => {
                let pool = PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(PgConnectOptions::from_str(url)?.disable_statement_logging())
                    .await?;
                Ok(Database::Postgres(pool))
            }
            None => Err(unsupported_url()),
        }
    }

    /// Opens the database like the server does (creating a SQLite file, running the
    /// migrations): the way to prepare an import target.
    pub async fn open(url: &str) -> Result<Self> {
        match Backend::of_url(url) {
            Some(Backend::Sqlite) => Ok((&SqliteStore::open(url).await?).into()),
            Some(Backend::Postgres) => Ok((&PgStore::open(url).await?).into()),
            None => Err(unsupported_url()),
        }
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Database::Sqlite(_) => Backend::Sqlite,
            Database::Postgres(_) => Backend::Postgres,
        }
    }

    /// Closes the connections (SQLite: checkpoints the WAL).
    pub async fn close(&self) {
        match self {
            Database::Sqlite(p) => p.close().await,
            Database::Postgres(p) => p.close().await,
        }
    }
}

fn unsupported_url() -> DumpError {
    DumpError::Unsupported("unsupported database URL: expected sqlite:… or postgres://…".into())
}

/// What an export wrote or an import restored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The backend the dump was taken from.
    pub source: Backend,
    /// The schema (migration) version of the dump.
    pub schema: i64,
    /// Rows per table, every table of the source included.
    pub counts: BTreeMap<String, u64>,
}

impl Summary {
    /// Rows in all tables.
    pub fn rows(&self) -> u64 {
        self.counts.values().sum()
    }
}

/// The schema version this build's migrations bring a database of `backend` to.
pub fn current_schema(backend: Backend) -> i64 {
    let migrator = match backend {
        Backend::Sqlite => sqlx::migrate!("./migrations/sqlite"),
        Backend::Postgres => sqlx::migrate!("./migrations/postgres"),
    };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Writes a dump of `db` to `out` (see the module docs), from one read snapshot. The database
/// must be at this build's schema version. `out` is written through a buffer and flushed at
/// the end; it is blocking IO, fine for files, pipes and memory.
pub async fn export<W: Write>(db: &Database, out: W) -> Result<Summary> {
    let mut out = std::io::BufWriter::new(out);
    let summary = match db {
        Database::Sqlite(pool) => {
            // Deferred: the snapshot starts at the first read and holds no write lock.
            let mut tx = pool.begin_with("BEGIN DEFERRED").await?;
            let summary = copy::export_from::<Sqlite>(&mut tx, &mut out).await;
            tx.rollback().await?;
            summary?
        }
        Database::Postgres(pool) => {
            let mut tx = pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?;
            let summary = copy::export_from::<Postgres>(&mut tx, &mut out).await;
            tx.rollback().await?;
            summary?
        }
    };
    out.flush()?;
    Ok(summary)
}

/// Restores a dump into `db`, which must be empty (freshly migrated, as by
/// [`Database::open`]) and at the dump's schema version, in one transaction: the header, every
/// row and the trailer's counts are checked, and nothing is kept unless all of it is. Generated
/// keys (the authz event log's `seq`) continue after the imported ones.
pub async fn import<R: BufRead>(db: &Database, input: R) -> Result<Summary> {
    let mut lines = Lines::new(input);
    let header = format::read_header(&mut lines)?;
    match db {
        Database::Sqlite(pool) => {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            let summary = copy::import_into::<Sqlite>(&mut tx, &header, &mut lines).await?;
            tx.commit().await?;
            Ok(summary)
        }
        Database::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            // Nobody writes to the target while it fills (readers still may, and see nothing
            // until the commit).
            let names: Vec<String> = TABLES
                .iter()
                .filter(|t| t.exists_on(Backend::Postgres))
                .map(|t| quote(t.name))
                .collect();
            sqlx::query(AssertSqlSafe(format!(
                "LOCK TABLE {} IN EXCLUSIVE MODE",
                names.join(", ")
            )))
            .execute(&mut *tx)
            .await?;
            let summary = copy::import_into::<Postgres>(&mut tx, &header, &mut lines).await?;
            tx.commit().await?;
            Ok(summary)
        }
    }
}

/// Copies a live SQLite database to a new file at `path` (`VACUUM INTO`): consistent, without
/// stopping the server, and compact. Refuses an existing `path`. PostgreSQL has `pg_dump` (or
/// [`export`]) for this.
pub async fn backup(db: &Database, path: &Path) -> Result<()> {
    let Database::Sqlite(pool) = db else {
        return Err(DumpError::Unsupported(
            "writ backup copies SQLite databases; for PostgreSQL use pg_dump -Fc (or writ export)"
                .into(),
        ));
    };
    if path.exists() {
        return Err(DumpError::Io(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!("{} already exists", path.display()),
        )));
    }
    let target = path
        .to_str()
        .ok_or_else(|| DumpError::Invalid(format!("{} is not a UTF-8 path", path.display())))?;
    sqlx::query("VACUUM INTO ?1")
        .bind(target)
        .execute(pool)
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Shared by the submodules.

/// The two sqlx databases, with what the export and import loops need from them: one
/// implementation of the loops over sqlx's database traits, the SQL dialect picked by
/// `Dialect::BACKEND`.
trait Dialect: sqlx::Database {
    const BACKEND: Backend;
}

impl Dialect for Sqlite {
    const BACKEND: Backend = Backend::Sqlite;
}

impl Dialect for Postgres {
    const BACKEND: Backend = Backend::Postgres;
}

/// `"name"`: identifiers are fixed names from [`TABLES`], quoted for both dialects.
fn quote(name: &str) -> String {
    format!("\"{name}\"")
}

#[cfg(test)]
mod tests {
    use super::tables::Kind;
    use super::*;

    #[test]
    fn every_table_key_is_one_of_its_columns_and_foreign_keys_come_first() {
        for t in TABLES {
            for k in t.key {
                assert!(t.columns.iter().any(|(c, _)| c == k), "{}.{k}", t.name);
            }
            if let Some(c) = t.counter {
                assert!(
                    t.columns
                        .iter()
                        .any(|(n, k)| *n == c.column && *k == Kind::Int)
                );
            }
        }
        let pos = |n: &str| tables::find(n).unwrap().0;
        for (child, parent) in [
            ("resource_server_scopes", "resource_servers"),
            ("role_permissions", "roles"),
            ("role_permissions", "resource_server_scopes"),
            ("user_roles", "users"),
            ("user_roles", "roles"),
            ("user_permissions", "users"),
            ("user_permissions", "resource_server_scopes"),
            ("client_grants", "clients"),
            ("client_grants", "resource_servers"),
            ("sessions", "users"),
            ("authorization_codes", "clients"),
            ("authorization_codes", "users"),
            ("refresh_tokens", "clients"),
            ("refresh_tokens", "users"),
            ("user_tickets", "users"),
            ("authenticators", "users"),
            ("recovery_codes", "users"),
            ("mfa_logins", "users"),
            ("mfa_logins", "clients"),
            ("mfa_attempts", "users"),
            ("passkeys", "authenticators"),
            ("passkeys", "users"),
            ("passkey_challenges", "users"),
            ("ssf_subjects", "ssf_streams"),
            ("ssf_outbox", "ssf_streams"),
        ] {
            assert!(pos(parent) < pos(child), "{parent} before {child}");
        }
    }
}
