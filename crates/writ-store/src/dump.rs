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

mod tables;

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, Write};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use futures_util::TryStreamExt;
use serde_json::{Map, Value};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{AssertSqlSafe, ConnectOptions, Postgres, Row, Sqlite};

use crate::{Backend, PgStore, SqliteStore, StoreError};
use tables::{Kind, PgCounter, TABLES, Table};

/// The dump format version this build writes and reads.
pub const FORMAT_VERSION: i64 = 1;

/// Rows per multi-row `INSERT` are bounded by this many bound parameters: far under SQLite's
/// 32,766 and PostgreSQL's 65,535 limits, and measured fastest for SQLite (250 rather than
/// 1,000 or 4,000 halves a 300,000-row import; PostgreSQL does not care).
const MAX_PARAMS: usize = 250;

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

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
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
            let s = export_from::<Sqlite>(&mut tx, &mut out).await;
            tx.rollback().await?;
            s?
        }
        Database::Postgres(pool) => {
            let mut tx = pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?;
            let s = export_from::<Postgres>(&mut tx, &mut out).await;
            tx.rollback().await?;
            s?
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
    let mut lines = Lines { input, n: 0 };
    let header = read_header(&mut lines)?;
    match db {
        Database::Sqlite(pool) => {
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            let s = import_into::<Sqlite>(&mut tx, &header, &mut lines).await?;
            tx.commit().await?;
            Ok(s)
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
            let s = import_into::<Postgres>(&mut tx, &header, &mut lines).await?;
            tx.commit().await?;
            Ok(s)
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
// Backend-generic plumbing: one implementation of the export and import loops over sqlx's
// database traits, with the SQL dialect picked by `Dialect::BACKEND`.

/// The two sqlx databases, with what the loops need from them.
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

/// The i-th bind placeholder (1-based).
fn placeholder(backend: Backend, i: usize) -> String {
    match backend {
        Backend::Sqlite => format!("?{i}"),
        Backend::Postgres => format!("${i}"),
    }
}

/// The live schema's column types, `(table, column) → type`, after checking it against
/// [`TABLES`].
type Layout = HashMap<(String, String), String>;

async fn export_from<DB>(conn: &mut DB::Connection, out: &mut impl Write) -> Result<Summary>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB> + for<'q> sqlx::Encode<'q, DB>,
    bool: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    String: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB> + for<'q> sqlx::Encode<'q, DB>,
    Vec<u8>: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
{
    let backend = DB::BACKEND;
    let schema = schema_version::<DB>(conn).await?;
    let known = current_schema(backend);
    if schema != known {
        return Err(DumpError::Schema(format!(
            "the database is at schema version {schema}, this writ's is {known}: export with \
                 the writ version that runs this database"
        )));
    }
    check_layout::<DB>(conn).await?;
    write_line(
        out,
        &HeaderLine {
            writ_dump: FORMAT_VERSION,
            created_at: crate::common::now(),
            source: backend_name(backend),
            schema,
            writ_version: env!("CARGO_PKG_VERSION"),
        },
    )?;
    let mut counts = BTreeMap::new();
    for t in TABLES.iter().filter(|t| t.exists_on(backend)) {
        let sql = select_sql(t, backend);
        let mut rows = sqlx::query::<DB>(AssertSqlSafe(sql)).fetch(&mut *conn);
        let mut n = 0u64;
        while let Some(row) = rows.try_next().await? {
            let values = decode_row::<DB>(&row, t)?;
            write_line(
                out,
                &RowLine {
                    table: t.name,
                    row: &values,
                },
            )?;
            n += 1;
        }
        counts.insert(t.name.to_owned(), n);
    }
    let mut sequences = BTreeMap::new();
    for t in TABLES.iter().filter(|t| t.exists_on(backend)) {
        if let Some(c) = t.counter {
            sequences.insert(t.name.to_owned(), read_counter::<DB>(conn, t, c).await?);
        }
    }
    write_line(
        out,
        &TrailerLine {
            writ_dump_end: true,
            counts: &counts,
            sequences: &sequences,
        },
    )?;
    Ok(Summary {
        source: backend,
        schema,
        counts,
    })
}

async fn import_into<DB>(
    conn: &mut DB::Connection,
    header: &Header,
    lines: &mut Lines<impl BufRead>,
) -> Result<Summary>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB> + for<'q> sqlx::Encode<'q, DB>,
    bool: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    String: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB> + for<'q> sqlx::Encode<'q, DB>,
    Vec<u8>: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    Option<i64>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
    Option<bool>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
    Option<String>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
    Option<Vec<u8>>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
{
    let backend = DB::BACKEND;
    let schema = schema_version::<DB>(conn).await?;
    if header.schema != schema {
        return Err(DumpError::Schema(format!(
            "the dump is at schema version {}, the target database at {schema}: import with the \
                 writ version that made the dump, then start the newer writ (it migrates)",
            header.schema
        )));
    }
    let layout = check_layout::<DB>(conn).await?;
    let mut busy = Vec::new();
    for t in TABLES.iter().filter(|t| t.exists_on(backend) && !t.seeded) {
        let sql = format!("SELECT 1 FROM {} LIMIT 1", quote(t.name));
        if sqlx::query::<DB>(AssertSqlSafe(sql))
            .fetch_optional(&mut *conn)
            .await?
            .is_some()
        {
            busy.push(t.name);
        }
    }
    if !busy.is_empty() {
        return Err(DumpError::NotEmpty(busy.join(", ")));
    }

    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut batch = Batch::default();
    let mut last = 0usize;
    let trailer = loop {
        let Some(line) = lines.next()? else {
            return Err(DumpError::Invalid(format!(
                "the dump is truncated: it ends after line {} without its trailer line",
                lines.n
            )));
        };
        let n = lines.n;
        let mut obj = parse_object(&line, n)?;
        if obj.contains_key("writ_dump_end") {
            break parse_trailer(obj, n)?;
        }
        let (Some(Value::String(name)), Some(Value::Object(row))) =
            (obj.remove("table"), obj.remove("row"))
        else {
            return Err(DumpError::Invalid(format!(
                "line {n}: expected {{\"table\": …, \"row\": {{…}}}} or the trailer"
            )));
        };
        let Some((idx, t)) = tables::find(&name) else {
            return Err(DumpError::Invalid(format!(
                "line {n}: table '{name}' is unknown to this version of writ"
            )));
        };
        if idx < last {
            return Err(DumpError::Invalid(format!(
                "line {n}: a row of {name} after rows of {}: rows must come in table order",
                TABLES[last].name
            )));
        }
        if batch.table.is_some_and(|b| b.name != t.name) {
            batch.flush::<DB>(conn, &layout).await?;
        }
        let count = counts.entry(t.name.to_owned()).or_insert(0);
        *count += 1;
        let first = *count == 1;
        last = idx;
        let cells = parse_row(t, row, n)?;
        if !t.exists_on(backend) {
            continue; // e.g. PostgreSQL's authz log head: re-derived below.
        }
        if t.seeded && first {
            sqlx::query::<DB>(AssertSqlSafe(format!("DELETE FROM {}", quote(t.name))))
                .execute(&mut *conn)
                .await?;
        }
        batch.table = Some(t);
        batch.last_line = n;
        batch.rows.push(cells);
        if batch.rows.len() >= (MAX_PARAMS / t.columns.len()).max(1) {
            batch.flush::<DB>(conn, &layout).await?;
        }
    };
    batch.flush::<DB>(conn, &layout).await?;
    while let Some(line) = lines.next()? {
        if !line.trim().is_empty() {
            return Err(DumpError::Invalid(format!(
                "line {}: content after the trailer",
                lines.n
            )));
        }
    }
    for (table, &expected) in &trailer.counts {
        let got = counts.get(table).copied().unwrap_or(0);
        if got != expected {
            return Err(DumpError::Invalid(format!(
                "the dump is incomplete: the trailer counts {expected} rows of {table}, the file \
                     holds {got}"
            )));
        }
    }
    if let Some(t) = counts.keys().find(|t| !trailer.counts.contains_key(*t)) {
        return Err(DumpError::Invalid(format!(
            "the trailer does not count the rows of {t}"
        )));
    }
    for t in TABLES.iter().filter(|t| t.exists_on(backend)) {
        if let Some(c) = t.counter {
            let dumped = trailer.sequences.get(t.name).copied().unwrap_or(0);
            restore_counter::<DB>(conn, t, c, dumped).await?;
        }
    }
    Ok(Summary {
        source: header.source,
        schema: header.schema,
        counts: trailer.counts,
    })
}

/// The highest applied migration version (0 on a database never migrated).
async fn schema_version<DB>(conn: &mut DB::Connection) -> Result<i64>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    String: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB> + for<'q> sqlx::Encode<'q, DB>,
{
    let exists_sql = match DB::BACKEND {
        Backend::Sqlite => {
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Backend::Postgres => "SELECT to_regclass('_sqlx_migrations')::text",
    };
    let exists: Option<Option<String>> = sqlx::query_scalar::<DB, Option<String>>(exists_sql)
        .fetch_optional(&mut *conn)
        .await?;
    if exists.flatten().is_none() {
        return Ok(0);
    }
    Ok(sqlx::query_scalar::<DB, i64>(
        "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
    )
    .fetch_one(&mut *conn)
    .await?)
}

/// Compares the live schema with [`TABLES`]: the same tables, the same columns, compatible
/// types, and a declared counter for every generated key. Returns the column types.
async fn check_layout<DB>(conn: &mut DB::Connection) -> Result<Layout>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    String: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    bool: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
{
    let backend = DB::BACKEND;
    let sql = match backend {
        // Generated keys: AUTOINCREMENT in the table's SQL.
        Backend::Sqlite => {
            "SELECT m.name, p.name, UPPER(p.type), \
                        (p.pk > 0 AND m.sql LIKE '%AUTOINCREMENT%') \
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p \
                 WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                   AND m.name <> '_sqlx_migrations' \
                 ORDER BY m.name, p.cid"
        }
        // Generated keys: a sequence default or an identity column.
        Backend::Postgres => {
            "SELECT c.table_name::text, c.column_name::text, c.data_type::text, \
                        (COALESCE(c.column_default, '') LIKE 'nextval(%' OR c.is_identity = 'YES') \
                 FROM information_schema.columns c \
                 JOIN information_schema.tables t \
                   ON t.table_schema = c.table_schema AND t.table_name = c.table_name \
                 WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' \
                   AND c.table_name <> '_sqlx_migrations' \
                 ORDER BY c.table_name, c.ordinal_position"
        }
    };
    let rows: Vec<(String, String, String, bool)> =
        sqlx::query_as::<DB, (String, String, String, bool)>(sql)
            .fetch_all(&mut *conn)
            .await?;
    let fix = "update crates/writ-store/src/dump/tables.rs";
    let mut layout = Layout::new();
    for (table, column, ty, generated) in rows {
        let Some((_, t)) = tables::find(&table).filter(|(_, t)| t.exists_on(backend)) else {
            return Err(DumpError::Schema(format!(
                "table {table} is not in the dump's table list ({fix})"
            )));
        };
        let Some(&(_, kind)) = t.columns.iter().find(|(c, _)| *c == column) else {
            return Err(DumpError::Schema(format!(
                "column {table}.{column} is not in the dump's table list ({fix})"
            )));
        };
        if !compatible(backend, kind, &ty) {
            return Err(DumpError::Schema(format!(
                "column {table}.{column} has type {ty}, not a {kind:?} column ({fix})"
            )));
        }
        if generated && t.counter.is_none_or(|c| c.column != column) {
            return Err(DumpError::Schema(format!(
                "column {table}.{column} is generated by a counter the dump does not restore \
                     ({fix})"
            )));
        }
        layout.insert((table, column), ty);
    }
    for t in TABLES.iter().filter(|t| t.exists_on(backend)) {
        for (c, _) in t.columns {
            if !layout.contains_key(&(t.name.to_owned(), (*c).to_owned())) {
                return Err(DumpError::Schema(format!(
                    "the database has no column {}.{c}, which the dump's table list expects \
                         ({fix})",
                    t.name
                )));
            }
        }
    }
    Ok(layout)
}

/// The highest value `t`'s counter ever handed out.
async fn read_counter<DB>(conn: &mut DB::Connection, t: &Table, c: tables::Counter) -> Result<i64>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    String: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
{
    let q = match (DB::BACKEND, c.postgres) {
        (Backend::Sqlite, _) => sqlx::query_scalar::<DB, i64>(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0)",
        )
        .bind(t.name.to_owned()),
        (Backend::Postgres, PgCounter::Row { read, .. }) => sqlx::query_scalar::<DB, i64>(read),
        (Backend::Postgres, PgCounter::Sequence) => sqlx::query_scalar::<DB, i64>(
            "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence($1, $2)::regclass), 0)",
        )
        .bind(t.name.to_owned())
        .bind(c.column.to_owned()),
    };
    Ok(q.fetch_optional(&mut *conn).await?.unwrap_or(0))
}

/// Sets `t`'s counter so the next generated key follows both the imported rows and the
/// source's counter (`dumped`).
async fn restore_counter<DB>(
    conn: &mut DB::Connection,
    t: &Table,
    c: tables::Counter,
    dumped: i64,
) -> Result<()>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB> + for<'q> sqlx::Encode<'q, DB>,
    String: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
{
    let max: i64 = sqlx::query_scalar::<DB, i64>(AssertSqlSafe(format!(
        "SELECT COALESCE(MAX({}), 0) FROM {}",
        quote(c.column),
        quote(t.name)
    )))
    .fetch_one(&mut *conn)
    .await?;
    let value = max.max(dumped);
    match (DB::BACKEND, c.postgres) {
        (Backend::Sqlite, _) => {
            // sqlite_sequence has no unique key: update the table's row, or add it.
            for sql in [
                "UPDATE sqlite_sequence SET seq = ?2 WHERE name = ?1",
                "INSERT INTO sqlite_sequence (name, seq) SELECT ?1, ?2 \
                     WHERE ?2 > 0 AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?1)",
            ] {
                sqlx::query::<DB>(sql)
                    .bind(t.name.to_owned())
                    .bind(value)
                    .execute(&mut *conn)
                    .await?;
            }
        }
        (Backend::Postgres, PgCounter::Row { write, .. }) => {
            sqlx::query::<DB>(write)
                .bind(value)
                .execute(&mut *conn)
                .await?;
        }
        (Backend::Postgres, PgCounter::Sequence) => {
            sqlx::query::<DB>(
                "SELECT setval(pg_get_serial_sequence($1, $2), GREATEST($3, 1), $3 > 0)",
            )
            .bind(t.name.to_owned())
            .bind(c.column.to_owned())
            .bind(value)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}

/// One row of `t` as the dump's JSON object, columns in table-list order.
fn decode_row<DB>(row: &DB::Row, t: &Table) -> Result<Map<String, Value>>
where
    DB: Dialect,
    usize: sqlx::ColumnIndex<DB::Row>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    bool: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    String: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    Vec<u8>: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
{
    let mut m = Map::with_capacity(t.columns.len());
    for (i, &(col, kind)) in t.columns.iter().enumerate() {
        let v = match kind {
            Kind::Text => row.try_get::<Option<String>, _>(i)?.map(Value::String),
            Kind::Int => row.try_get::<Option<i64>, _>(i)?.map(Value::from),
            Kind::Bool => row.try_get::<Option<bool>, _>(i)?.map(Value::Bool),
            Kind::Json => match row.try_get::<Option<String>, _>(i)? {
                None => None,
                Some(s) => Some(serde_json::from_str::<Value>(&s).map_err(|e| {
                    DumpError::Invalid(format!(
                        "{}.{col} holds text that is not JSON ({e})",
                        t.name
                    ))
                })?),
            },
            Kind::Bytes => row
                .try_get::<Option<Vec<u8>>, _>(i)?
                .map(|b| Value::String(base64::engine::general_purpose::STANDARD.encode(b))),
        };
        m.insert(col.to_owned(), v.unwrap_or(Value::Null));
    }
    Ok(m)
}

/// `SELECT` of every column of `t` in key order, each decodable as its kind.
fn select_sql(t: &Table, backend: Backend) -> String {
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|&(c, kind)| match (backend, kind) {
            // PostgreSQL decodes by exact type: widen INTEGERs, read json/jsonb as text.
            (Backend::Postgres, Kind::Int) => format!("{}::bigint", quote(c)),
            (Backend::Postgres, Kind::Json) => format!("{}::text", quote(c)),
            _ => quote(c),
        })
        .collect();
    let key: Vec<String> = t
        .key
        .iter()
        .map(|k| {
            let text = t
                .columns
                .iter()
                .any(|(c, kind)| c == k && *kind != Kind::Int);
            match backend {
                // Byte order, as SQLite's BINARY collation, whatever the column's collation.
                Backend::Postgres if text => format!("{} COLLATE \"C\"", quote(k)),
                _ => quote(k),
            }
        })
        .collect();
    format!(
        "SELECT {} FROM {} ORDER BY {}",
        cols.join(", "),
        quote(t.name),
        key.join(", ")
    )
}

/// Whether a column of declared type `ty` holds values of `kind`.
fn compatible(backend: Backend, kind: Kind, ty: &str) -> bool {
    match backend {
        // SQLite's type affinity rules (section 3.1 of its datatype documentation).
        Backend::Sqlite => {
            let ty = ty.to_ascii_uppercase();
            let integer = ty.contains("INT") || ty.contains("BOOL");
            let text = ty.contains("CHAR") || ty.contains("CLOB") || ty.contains("TEXT");
            match kind {
                Kind::Int | Kind::Bool => integer,
                Kind::Text | Kind::Json => text,
                Kind::Bytes => ty.contains("BLOB") || ty.is_empty(),
            }
        }
        Backend::Postgres => matches!(
            (kind, ty),
            (Kind::Text, "text" | "character varying")
                | (Kind::Json, "text" | "character varying" | "json" | "jsonb")
                | (Kind::Int, "bigint" | "integer" | "smallint")
                | (Kind::Bool, "boolean")
                | (Kind::Bytes, "bytea")
        ),
    }
}

/// One value ready to bind.
#[derive(Debug)]
enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

/// Checks a dumped row against `t` (exactly its columns, each of its kind) and converts it.
fn parse_row(t: &Table, mut row: Map<String, Value>, line: usize) -> Result<Vec<Cell>> {
    let bad = |col: &str, what: &str| {
        DumpError::Invalid(format!(
            "line {line}: {}.{col} must be {what} or null",
            t.name
        ))
    };
    let mut cells = Vec::with_capacity(t.columns.len());
    for &(col, kind) in t.columns {
        let Some(v) = row.remove(col) else {
            return Err(DumpError::Invalid(format!(
                "line {line}: the row of {} has no column {col}",
                t.name
            )));
        };
        let cell = match (kind, v) {
            (Kind::Text, Value::Null) => Cell::Text(None),
            (Kind::Text, Value::String(s)) => Cell::Text(Some(s)),
            (Kind::Text, _) => return Err(bad(col, "a string")),
            (Kind::Int, Value::Null) => Cell::Int(None),
            (Kind::Int, Value::Number(n)) => {
                Cell::Int(Some(n.as_i64().ok_or_else(|| bad(col, "an integer"))?))
            }
            (Kind::Int, _) => return Err(bad(col, "an integer")),
            (Kind::Bool, Value::Null) => Cell::Bool(None),
            (Kind::Bool, Value::Bool(b)) => Cell::Bool(Some(b)),
            (Kind::Bool, _) => return Err(bad(col, "true or false")),
            (Kind::Json, Value::Null) => Cell::Text(None),
            (Kind::Json, v) => Cell::Text(Some(v.to_string())),
            (Kind::Bytes, Value::Null) => Cell::Bytes(None),
            (Kind::Bytes, Value::String(s)) => Cell::Bytes(Some(
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|_| bad(col, "base64"))?,
            )),
            (Kind::Bytes, _) => return Err(bad(col, "a base64 string")),
        };
        cells.push(cell);
    }
    if let Some(extra) = row.keys().next() {
        return Err(DumpError::Invalid(format!(
            "line {line}: {}.{extra} is not a column this version of writ knows",
            t.name
        )));
    }
    Ok(cells)
}

/// Rows of one table waiting for a multi-row `INSERT`.
#[derive(Default)]
struct Batch {
    table: Option<&'static Table>,
    rows: Vec<Vec<Cell>>,
    /// The line of the newest row, for error messages.
    last_line: usize,
}

impl Batch {
    async fn flush<DB>(&mut self, conn: &mut DB::Connection, layout: &Layout) -> Result<()>
    where
        DB: Dialect,
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
        DB::Arguments: sqlx::IntoArguments<DB>,
        Option<i64>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
        Option<bool>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
        Option<String>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
        Option<Vec<u8>>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
    {
        let Some(t) = self.table else {
            return Ok(());
        };
        if self.rows.is_empty() {
            return Ok(());
        }
        let backend = DB::BACKEND;
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            quote(t.name),
            t.columns
                .iter()
                .map(|(c, _)| quote(c))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut p = 0;
        for (r, _) in self.rows.iter().enumerate() {
            if r > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for (i, &(c, _)) in t.columns.iter().enumerate() {
                p += 1;
                if i > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&placeholder(backend, p));
                // A JSON value bound as text goes into a json/jsonb column by a cast.
                if backend == Backend::Postgres
                    && let Some(ty @ ("json" | "jsonb")) = layout
                        .get(&(t.name.to_owned(), c.to_owned()))
                        .map(String::as_str)
                {
                    sql.push_str("::");
                    sql.push_str(ty);
                }
            }
            sql.push(')');
        }
        let mut q = sqlx::query::<DB>(AssertSqlSafe(sql));
        for row in self.rows.drain(..) {
            for cell in row {
                q = match cell {
                    Cell::Text(v) => q.bind(v),
                    Cell::Int(v) => q.bind(v),
                    Cell::Bool(v) => q.bind(v),
                    Cell::Bytes(v) => q.bind(v),
                };
            }
        }
        q.execute(&mut *conn).await.map_err(|e| match e {
            // The dump does not fit the schema (a foreign key, a constraint): say where.
            sqlx::Error::Database(d) => DumpError::Invalid(format!(
                "the rows of {} (up to line {}) cannot be restored: {}",
                t.name,
                self.last_line,
                d.message()
            )),
            e => DumpError::Db(e),
        })?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Reading the dump.

/// Lines of the input with their numbers (1-based), for error messages.
struct Lines<R> {
    input: R,
    n: usize,
}

impl<R: BufRead> Lines<R> {
    fn next(&mut self) -> Result<Option<String>> {
        let mut s = String::new();
        match self.input.read_line(&mut s) {
            Ok(0) => Ok(None),
            Ok(_) => {
                self.n += 1;
                if s.ends_with('\n') {
                    s.pop();
                    if s.ends_with('\r') {
                        s.pop();
                    }
                }
                Ok(Some(s))
            }
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(DumpError::Invalid(
                format!("line {}: not UTF-8 text: not a writ dump", self.n + 1),
            )),
            Err(e) => Err(e.into()),
        }
    }
}

/// The parsed header line.
struct Header {
    source: Backend,
    schema: i64,
}

fn parse_object(line: &str, n: usize) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(DumpError::Invalid(format!(
            "line {n}: not a JSON object: not a writ dump"
        ))),
        Err(e) => Err(DumpError::Invalid(format!(
            "line {n} is not valid JSON ({e}): the dump is damaged or truncated"
        ))),
    }
}

fn read_header(lines: &mut Lines<impl BufRead>) -> Result<Header> {
    let not_a_dump =
        || DumpError::Invalid("not a writ dump: the first line is no writ_dump header".into());
    let Some(line) = lines.next()? else {
        return Err(DumpError::Invalid("the dump is empty".into()));
    };
    let h = serde_json::from_str::<Value>(&line).map_err(|_| not_a_dump())?;
    let Some(version) = h.get("writ_dump") else {
        return Err(not_a_dump());
    };
    if version.as_i64() != Some(FORMAT_VERSION) {
        return Err(DumpError::Invalid(format!(
            "dump format version {version} is not supported (this writ reads version {FORMAT_VERSION})"
        )));
    }
    let source = match h.get("source").and_then(Value::as_str) {
        Some("sqlite") => Backend::Sqlite,
        Some("postgres") => Backend::Postgres,
        _ => {
            return Err(DumpError::Invalid(
                "line 1: the header's source must be sqlite or postgres".into(),
            ));
        }
    };
    let schema = h
        .get("schema")
        .and_then(Value::as_i64)
        .ok_or_else(|| DumpError::Invalid("line 1: the header has no schema version".into()))?;
    Ok(Header { source, schema })
}

/// The parsed trailer line.
struct Trailer {
    counts: BTreeMap<String, u64>,
    sequences: BTreeMap<String, i64>,
}

fn parse_trailer(mut obj: Map<String, Value>, n: usize) -> Result<Trailer> {
    let bad = || DumpError::Invalid(format!("line {n}: a malformed trailer"));
    let counts =
        serde_json::from_value(obj.remove("counts").ok_or_else(bad)?).map_err(|_| bad())?;
    let sequences = match obj.remove("sequences") {
        Some(v) => serde_json::from_value(v).map_err(|_| bad())?,
        None => BTreeMap::new(),
    };
    Ok(Trailer { counts, sequences })
}

// The three kinds of line, as structs so their keys come in this order (a `Map` would sort
// them): `head -1` shows `{"writ_dump":1,…` and a row starts with its table.

#[derive(serde::Serialize)]
struct HeaderLine {
    writ_dump: i64,
    created_at: String,
    source: &'static str,
    schema: i64,
    writ_version: &'static str,
}

#[derive(serde::Serialize)]
struct RowLine<'a> {
    table: &'a str,
    row: &'a Map<String, Value>,
}

#[derive(serde::Serialize)]
struct TrailerLine<'a> {
    writ_dump_end: bool,
    counts: &'a BTreeMap<String, u64>,
    sequences: &'a BTreeMap<String, i64>,
}

fn write_line(out: &mut impl Write, v: &impl serde::Serialize) -> Result<()> {
    serde_json::to_writer(&mut *out, v).map_err(std::io::Error::from)?;
    out.write_all(b"\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

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
        ] {
            assert!(pos(parent) < pos(child), "{parent} before {child}");
        }
    }

    #[test]
    fn selects_read_every_column_in_byte_order_of_the_key() {
        let t = tables::find("role_permissions").unwrap().1;
        assert_eq!(
            select_sql(t, Backend::Postgres),
            "SELECT \"role_id\", \"rs_id\", \"permission\" FROM \"role_permissions\" ORDER BY \
             \"role_id\" COLLATE \"C\", \"rs_id\" COLLATE \"C\", \"permission\" COLLATE \"C\""
        );
        let t = tables::find("authz_log_head").unwrap().1;
        assert_eq!(
            select_sql(t, Backend::Postgres),
            "SELECT \"id\"::bigint, \"seq\"::bigint FROM \"authz_log_head\" ORDER BY \"id\""
        );
    }

    #[test]
    fn rows_must_have_exactly_the_columns_with_their_kinds() {
        let t = tables::find("sessions").unwrap().1;
        let row = |v: Value| v.as_object().unwrap().clone();
        let ok = json!({"id": "h", "sid": "s", "user_id": "u", "auth_time": 1, "last_seen": 2, "expires_at": 3});
        assert_eq!(parse_row(t, row(ok.clone()), 2).unwrap().len(), 6);
        let mut missing = ok.clone();
        missing.as_object_mut().unwrap().remove("sid");
        assert!(
            parse_row(t, row(missing), 2)
                .unwrap_err()
                .to_string()
                .contains("no column sid")
        );
        let mut extra = ok.clone();
        extra["x"] = json!(1);
        assert!(
            parse_row(t, row(extra), 2)
                .unwrap_err()
                .to_string()
                .contains("sessions.x")
        );
        let mut wrong = ok;
        wrong["auth_time"] = json!("1");
        assert!(
            parse_row(t, row(wrong), 7)
                .unwrap_err()
                .to_string()
                .contains("line 7")
        );
    }
}
