//! Schema migrations, and the rule that lets two versions of Writ share one database during a
//! rolling upgrade.
//!
//! The migrations are per database (`migrations/sqlite`, `migrations/postgres`, the same
//! versions in both), embedded in the binary by `sqlx::migrate!` and run by [`run`] when a
//! store opens (and by `writ migrate`), under sqlx's lock (a PostgreSQL advisory lock), so
//! nodes starting together migrate once.
//!
//! # The rule for rolling upgrades
//!
//! A node refuses to start on a database where a migration it does not know has been applied,
//! with a message naming that migration (the database is newer than this Writ), **unless every
//! such migration is additive**: then it starts and serves as if the schema were its own. So
//! nodes of versions N and N+1 can run side by side on one database, and an N node may restart
//! mid-rollout, exactly when N+1's migrations are all additive.
//!
//! - A migration is additive when version N's code keeps working, reads and writes included,
//!   with it applied: new tables, new nullable columns or columns with a default, new indexes,
//!   new rows in tables N only reads by key. Dropping or renaming anything, changing a type,
//!   a new `NOT NULL` without a default, new constraints that rows N writes could violate,
//!   and changed triggers or semantics of existing data are not.
//! - Every migration after [`RULE_SINCE`] declares which it is in a comment line at the top of
//!   its file: [`ADDITIVE`] or [`BREAKING`] (a unit test refuses a migration without one). An
//!   undeclared migration counts as breaking.
//! - The declaration reaches nodes that do not have the file through the database: when Writ
//!   applies an additive migration, the description sqlx records in `_sqlx_migrations` ends
//!   with [`ADDITIVE_MARK`]. A migration applied by other tooling carries no mark, and so
//!   counts as breaking: the safe default.
//! - A breaking change is split over releases: first an additive migration plus code that copes
//!   with both shapes, then, one release later (once no older node runs), the breaking one.
//!
//! Readiness uses the same rule ([`SchemaStatus::problem`]): a node is ready when every
//! migration it knows is applied and every applied one it does not know is additive.

use std::borrow::Cow;
use std::sync::LazyLock;

use sqlx::migrate::{Migrate, MigrateError, Migration, MigrationType, Migrator};

use crate::{Backend, Result, StoreError};

/// The header line that declares a migration additive (see the module docs).
pub const ADDITIVE: &str = "-- writ-migration: additive";
/// The header line that declares a migration breaking: nodes that do not know it refuse to run.
pub const BREAKING: &str = "-- writ-migration: breaking";
/// The last migration written before the rule; every later one declares itself.
pub const RULE_SINCE: i64 = 11;
/// The end of the description recorded in `_sqlx_migrations` for an additive migration.
pub const ADDITIVE_MARK: &str = " (additive)";

/// What a migration's header declares: `Some(true)` additive, `Some(false)` breaking, `None`
/// nothing. The header is the file's leading comment lines.
pub fn declared(sql: &str) -> Option<bool> {
    sql.lines()
        .map(str::trim)
        .take_while(|l| l.starts_with("--") || l.is_empty())
        .find_map(|l| {
            // `--` and the words, however spaced.
            let words = l.strip_prefix("--")?.trim();
            let of = |header: &str| header.strip_prefix("--").map(str::trim) == Some(words);
            if of(ADDITIVE) {
                Some(true)
            } else if of(BREAKING) {
                Some(false)
            } else {
                None
            }
        })
}

static SQLITE: LazyLock<Migrator> =
    LazyLock::new(|| marked(sqlx::migrate!("./migrations/sqlite").iter().cloned()));
static POSTGRES: LazyLock<Migrator> =
    LazyLock::new(|| marked(sqlx::migrate!("./migrations/postgres").iter().cloned()));

/// This build's migrations for `backend`, additive ones marked.
pub fn embedded(backend: Backend) -> &'static Migrator {
    match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    }
}

/// This build's migrations plus `extra` (`(version, description, sql)`): what a newer Writ's
/// migrator is, for upgrade tests and rehearsals.
pub fn embedded_with(backend: Backend, extra: &[(i64, &str, &str)]) -> Migrator {
    let extra = extra.iter().map(|(version, description, sql)| {
        Migration::new(
            *version,
            Cow::Owned((*description).to_owned()),
            MigrationType::Simple,
            sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe((*sql).to_owned())),
            false,
        )
    });
    marked(embedded(backend).iter().cloned().chain(extra))
}

/// A migrator over `migrations` whose additive ones record [`ADDITIVE_MARK`], and which does
/// not itself refuse applied migrations it does not know ([`run`] decides, by the rule).
fn marked(migrations: impl Iterator<Item = Migration>) -> Migrator {
    let mut migrations: Vec<Migration> = migrations
        .map(|mut m| {
            if declared(m.sql.as_str()) == Some(true) && !m.description.ends_with(ADDITIVE_MARK) {
                m.description = Cow::Owned(format!("{}{ADDITIVE_MARK}", m.description));
            }
            m
        })
        .collect();
    migrations.sort();
    Migrator {
        migrations: Cow::Owned(migrations),
        ignore_missing: true,
        ..Migrator::DEFAULT
    }
}

/// One applied migration, as `_sqlx_migrations` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub version: i64,
    /// Its description, without [`ADDITIVE_MARK`].
    pub description: String,
    /// Whether the Writ that applied it declared it additive.
    pub additive: bool,
    /// False when it failed part-way.
    pub success: bool,
}

/// Where a database's schema stands against the migrations of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// The newest migration the build knows, and its description.
    pub known: (i64, String),
    /// Every applied migration, oldest first.
    pub applied: Vec<Applied>,
    /// Migrations the build knows that are not applied.
    pub pending: Vec<i64>,
}

impl SchemaStatus {
    /// Applied migrations the build does not know (a newer Writ's).
    pub fn unknown(&self) -> impl Iterator<Item = &Applied> {
        self.applied.iter().filter(|a| a.version > self.known.0)
    }

    /// The newest applied migration, if any.
    pub fn latest(&self) -> Option<&Applied> {
        self.applied.last()
    }

    /// Why the build must not run on this database: a newer Writ applied a migration that is
    /// not additive (see the module docs).
    pub fn refusal(&self) -> Option<String> {
        let breaking = self.unknown().find(|a| !a.additive)?;
        let latest = self.latest().unwrap_or(breaking);
        let (known, known_name) = &self.known;
        let why = if breaking.version == latest.version {
            "and it is not declared additive".to_owned()
        } else {
            format!(
                "and migration {} ({}) is not declared additive",
                breaking.version, breaking.description
            )
        };
        Some(format!(
            "the database schema is at migration {} ({}), newer than this Writ knows ({known}, \
             {known_name}), {why}: upgrade Writ to the version that migrated it, or restore the \
             database from a backup taken before that upgrade (see docs/upgrades.md)",
            latest.version, latest.description
        ))
    }

    /// What keeps a node from being ready, if anything: a [`SchemaStatus::refusal`], a failed
    /// migration, or migrations not yet applied.
    pub fn problem(&self) -> Option<String> {
        if let Some(r) = self.refusal() {
            return Some(r);
        }
        if let Some(f) = self.applied.iter().find(|a| !a.success) {
            return Some(format!(
                "migration {} ({}) failed part-way",
                f.version, f.description
            ));
        }
        if !self.pending.is_empty() {
            let list: Vec<String> = self.pending.iter().map(i64::to_string).collect();
            return Some(format!("migrations not applied: {}", list.join(", ")));
        }
        None
    }
}

/// Reads where the schema of the database on `conn` stands against `migrator`.
pub(crate) async fn status<DB>(
    conn: &mut DB::Connection,
    backend: Backend,
    migrator: &Migrator,
) -> Result<SchemaStatus>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    String: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    bool: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
{
    let exists_sql = match backend {
        Backend::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Backend::Postgres => {
            "SELECT COUNT(*) FROM (SELECT to_regclass('_sqlx_migrations') AS t) x \
             WHERE t IS NOT NULL"
        }
    };
    let exists: i64 = sqlx::query_scalar::<DB, i64>(exists_sql)
        .fetch_one(&mut *conn)
        .await?;
    let rows: Vec<(i64, String, bool)> = if exists > 0 {
        sqlx::query_as::<DB, (i64, String, bool)>(
            "SELECT version, description, success FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(&mut *conn)
        .await?
    } else {
        vec![]
    };
    let applied: Vec<Applied> = rows
        .into_iter()
        .map(|(version, description, success)| {
            let (description, additive) = match description.strip_suffix(ADDITIVE_MARK) {
                Some(d) => (d.to_owned(), true),
                None => (description, false),
            };
            Applied {
                version,
                description,
                additive,
                success,
            }
        })
        .collect();
    let known = migrator
        .iter()
        .max_by_key(|m| m.version)
        .map(|m| {
            let d = m.description.as_ref();
            (
                m.version,
                d.strip_suffix(ADDITIVE_MARK).unwrap_or(d).to_owned(),
            )
        })
        .unwrap_or((0, String::new()));
    let pending = migrator
        .iter()
        .map(|m| m.version)
        .filter(|v| !applied.iter().any(|a| a.version == *v && a.success))
        .collect();
    Ok(SchemaStatus {
        known,
        applied,
        pending,
    })
}

/// Runs `migrator` on the database of `conn` by the rule of the module docs: under sqlx's
/// lock, it refuses (with [`SchemaStatus::refusal`]'s message) when a newer Writ applied a
/// migration that is not additive, else applies what is pending. Returns the status after.
pub(crate) async fn run<DB>(
    conn: &mut DB::Connection,
    backend: Backend,
    migrator: &Migrator,
) -> Result<SchemaStatus>
where
    DB: sqlx::Database,
    DB::Connection: Migrate,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    String: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    bool: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
{
    // The same lock sqlx takes again inside (re-entrant): the check and the run see one state.
    conn.lock().await.map_err(migrate_error)?;
    let result = async {
        let before = status::<DB>(conn, backend, migrator).await?;
        if let Some(refusal) = before.refusal() {
            return Err(StoreError::Schema(refusal));
        }
        migrator
            .run_direct(None, &mut *conn, false)
            .await
            .map_err(migrate_error)?;
        status::<DB>(conn, backend, migrator).await
    }
    .await;
    let unlocked = conn.unlock().await.map_err(migrate_error);
    let status = result?;
    unlocked?;
    Ok(status)
}

/// sqlx's migration errors as store errors with a sentence an operator can act on.
fn migrate_error(e: MigrateError) -> StoreError {
    match e {
        MigrateError::Execute(e) => StoreError::Db(e),
        MigrateError::VersionMismatch(v) => StoreError::Schema(format!(
            "migration {v} was changed after it was applied to this database (its checksum \
             differs): this Writ was built from different migrations than the one that \
             migrated the database"
        )),
        MigrateError::Dirty(v) => StoreError::Schema(format!(
            "migration {v} failed part-way on an earlier start: repair the database or restore \
             a backup (see docs/upgrades.md) before starting Writ"
        )),
        e => StoreError::Schema(format!("migrating the database: {e}")),
    }
}

/// Runs `migrator` on the database at `url` by the same rule as a node (see [`run`]), through
/// a connection of its own: `writ migrate`'s step, and a newer Writ's in upgrade tests.
pub async fn apply(url: &str, migrator: &Migrator) -> Result<SchemaStatus> {
    use sqlx::Connection;
    use std::str::FromStr;
    match Backend::of_url(url) {
        Some(Backend::Sqlite) => {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(std::time::Duration::from_secs(10));
            let mut conn = sqlx::SqliteConnection::connect_with(&opts).await?;
            let status = run::<sqlx::Sqlite>(&mut conn, Backend::Sqlite, migrator).await;
            conn.close().await?;
            status
        }
        Some(Backend::Postgres) => {
            let opts = sqlx::postgres::PgConnectOptions::from_str(url)?;
            let mut conn = sqlx::PgConnection::connect_with(&opts).await?;
            let status = run::<sqlx::Postgres>(&mut conn, Backend::Postgres, migrator).await;
            conn.close().await?;
            status
        }
        None => Err(StoreError::Db(sqlx::Error::Configuration(
            "unsupported database URL: expected sqlite:… or postgres://…".into(),
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_declare_additive_or_breaking() {
        assert_eq!(
            declared("-- writ-migration: additive\nCREATE TABLE t (x INT);"),
            Some(true)
        );
        assert_eq!(
            declared("-- Adds t.\n--   writ-migration: breaking  \n\nALTER TABLE t DROP x;"),
            Some(false)
        );
        assert_eq!(
            declared("CREATE TABLE t (x INT);\n-- writ-migration: additive"),
            None
        );
        assert_eq!(declared("-- nothing said\nCREATE TABLE t (x INT);"), None);
    }

    /// Every migration after the rule declares itself, the same way on both databases, and both
    /// databases have the same versions.
    #[test]
    fn migrations_declare_themselves_alike_on_both_databases() {
        let (s, p) = (embedded(Backend::Sqlite), embedded(Backend::Postgres));
        let versions = |m: &Migrator| m.iter().map(|m| m.version).collect::<Vec<_>>();
        assert_eq!(versions(s), versions(p));
        for (a, b) in s.iter().zip(p.iter()) {
            let (da, db) = (declared(a.sql.as_str()), declared(b.sql.as_str()));
            assert_eq!(da, db, "migration {}", a.version);
            if a.version > RULE_SINCE {
                assert!(
                    da.is_some(),
                    "migration {} must start with `{ADDITIVE}` or `{BREAKING}`",
                    a.version
                );
            }
            assert_eq!(a.description.ends_with(ADDITIVE_MARK), da == Some(true));
        }
    }

    #[test]
    fn refusal_names_the_newer_migration() {
        let applied = |version, additive| Applied {
            version,
            description: format!("m{version}"),
            additive,
            success: true,
        };
        let mut s = SchemaStatus {
            known: (11, "key publication".into()),
            applied: (1..=11).map(|v| applied(v, false)).collect(),
            pending: vec![],
        };
        assert_eq!(s.problem(), None);
        s.applied.push(applied(12, true));
        assert_eq!(
            s.refusal(),
            None,
            "an additive newer migration is tolerated"
        );
        assert_eq!(s.problem(), None);
        s.applied.push(applied(13, false));
        let r = s.refusal().unwrap();
        assert!(
            r.starts_with(
                "the database schema is at migration 13 (m13), newer than this Writ knows \
                 (11, key publication), and it is not declared additive: upgrade Writ"
            ),
            "{r}"
        );
        s.applied.truncate(11);
        s.applied.extend([applied(12, false), applied(13, true)]);
        let r = s.refusal().unwrap();
        assert!(r.contains("migration 13 (m13), newer"), "{r}");
        assert!(
            r.contains("and migration 12 (m12) is not declared additive"),
            "{r}"
        );
    }
}
