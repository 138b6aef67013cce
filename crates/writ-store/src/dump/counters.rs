//! Generated keys (the authz event log's `seq`): an export reads the highest value each
//! table's counter ever handed out (for the trailer's `sequences`), an import moves the
//! target's counter past both the imported rows and that value (SQLite's `sqlite_sequence`,
//! PostgreSQL's counter rows and identity sequences with `setval`), so numbering continues.

use sqlx::AssertSqlSafe;

use super::tables::{Counter, PgCounter, Table};
use super::{Dialect, Result, quote};
use crate::Backend;

/// The highest value `table`'s counter ever handed out.
pub(super) async fn read_counter<DB>(
    conn: &mut DB::Connection,
    table: &Table,
    counter: Counter,
) -> Result<i64>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    String: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
{
    let query = match (DB::BACKEND, counter.postgres) {
        (Backend::Sqlite, _) => sqlx::query_scalar::<DB, i64>(
            "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = ?1), 0)",
        )
        .bind(table.name.to_owned()),
        (Backend::Postgres, PgCounter::Row { read, .. }) => sqlx::query_scalar::<DB, i64>(read),
        (Backend::Postgres, PgCounter::Sequence) => sqlx::query_scalar::<DB, i64>(
            "SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence($1, $2)::regclass), 0)",
        )
        .bind(table.name.to_owned())
        .bind(counter.column.to_owned()),
    };
    Ok(query.fetch_optional(&mut *conn).await?.unwrap_or(0))
}

/// Sets `table`'s counter so the next generated key follows both the imported rows and the
/// source's counter (`dumped`).
pub(super) async fn restore_counter<DB>(
    conn: &mut DB::Connection,
    table: &Table,
    counter: Counter,
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
        quote(counter.column),
        quote(table.name)
    )))
    .fetch_one(&mut *conn)
    .await?;
    let value = max.max(dumped);
    match (DB::BACKEND, counter.postgres) {
        (Backend::Sqlite, _) => {
            // sqlite_sequence has no unique key: update the table's row, or add it.
            for sql in [
                "UPDATE sqlite_sequence SET seq = ?2 WHERE name = ?1",
                "INSERT INTO sqlite_sequence (name, seq) SELECT ?1, ?2 \
                     WHERE ?2 > 0 AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?1)",
            ] {
                sqlx::query::<DB>(sql)
                    .bind(table.name.to_owned())
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
            .bind(table.name.to_owned())
            .bind(counter.column.to_owned())
            .bind(value)
            .execute(&mut *conn)
            .await?;
        }
    }
    Ok(())
}
