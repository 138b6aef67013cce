//! The copy loops behind [`export`](super::export) and [`import`](super::import), written once
//! over sqlx's database traits for both backends: the export streams every table in order
//! inside the caller's read transaction; the import refuses a non-empty target, restores the
//! rows with multi-row `INSERT`s inside the caller's write transaction, checks the trailer's
//! counts and moves the counters on.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use futures_util::TryStreamExt;
use sqlx::AssertSqlSafe;

use super::codec::{self, Cell};
use super::counters::{read_counter, restore_counter};
use super::format::{self, BodyLine, Header, Lines};
use super::schema::{self, ColumnTypes};
use super::tables::{self, TABLES, Table};
use super::{Dialect, DumpError, Result, Summary, current_schema, quote};
use crate::Backend;

/// Rows per multi-row `INSERT` are bounded by this many bound parameters: far under SQLite's
/// 32,766 and PostgreSQL's 65,535 limits, and measured fastest for SQLite (250 rather than
/// 1,000 or 4,000 halves a 300,000-row import; PostgreSQL does not care).
const MAX_BIND_PARAMETERS: usize = 250;

/// The i-th bind placeholder (1-based).
fn placeholder(backend: Backend, i: usize) -> String {
    match backend {
        Backend::Sqlite => format!("?{i}"),
        Backend::Postgres => format!("${i}"),
    }
}

/// Writes the whole dump of the database `conn` reads from: header, every row, trailer.
pub(super) async fn export_from<DB>(
    conn: &mut DB::Connection,
    out: &mut impl Write,
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
{
    let backend = DB::BACKEND;
    let schema = schema::schema_version::<DB>(conn).await?;
    let known = current_schema(backend);
    if schema != known {
        return Err(DumpError::Schema(format!(
            "the database is at schema version {schema}, this writ's is {known}: export with \
                 the writ version that runs this database"
        )));
    }
    schema::check_schema::<DB>(conn).await?;
    format::write_header(out, backend, schema)?;
    let mut counts = BTreeMap::new();
    for table in TABLES.iter().filter(|t| t.exists_on(backend)) {
        let sql = codec::select_sql(table, backend);
        let mut rows = sqlx::query::<DB>(AssertSqlSafe(sql)).fetch(&mut *conn);
        let mut written = 0u64;
        while let Some(row) = rows.try_next().await? {
            let values = codec::decode_row::<DB>(&row, table)?;
            format::write_row(out, table.name, &values)?;
            written += 1;
        }
        counts.insert(table.name.to_owned(), written);
    }
    let mut sequences = BTreeMap::new();
    for table in TABLES.iter().filter(|t| t.exists_on(backend)) {
        if let Some(counter) = table.counter {
            sequences.insert(
                table.name.to_owned(),
                read_counter::<DB>(conn, table, counter).await?,
            );
        }
    }
    format::write_trailer(out, &counts, &sequences)?;
    Ok(Summary {
        source: backend,
        schema,
        counts,
    })
}

/// Restores the rows after `header` into the empty database `conn` writes to.
pub(super) async fn import_into<DB>(
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
    let schema = schema::schema_version::<DB>(conn).await?;
    if header.schema != schema {
        return Err(DumpError::Schema(format!(
            "the dump is at schema version {}, the target database at {schema}: import with the \
                 writ version that made the dump, then start the newer writ (it migrates)",
            header.schema
        )));
    }
    let column_types = schema::check_schema::<DB>(conn).await?;
    let mut tables_with_rows = Vec::new();
    for table in TABLES.iter().filter(|t| t.exists_on(backend) && !t.seeded) {
        let sql = format!("SELECT 1 FROM {} LIMIT 1", quote(table.name));
        if sqlx::query::<DB>(AssertSqlSafe(sql))
            .fetch_optional(&mut *conn)
            .await?
            .is_some()
        {
            tables_with_rows.push(table.name);
        }
    }
    if !tables_with_rows.is_empty() {
        return Err(DumpError::NotEmpty(tables_with_rows.join(", ")));
    }

    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut batch = Batch::default();
    let mut last_table_index = 0usize;
    let trailer = loop {
        let (name, row) = match lines.next_body_line()? {
            BodyLine::Trailer(trailer) => break trailer,
            BodyLine::Row { table, row } => (table, row),
        };
        let line_number = lines.number();
        let Some((table_index, table)) = tables::find(&name) else {
            return Err(DumpError::Invalid(format!(
                "line {line_number}: table '{name}' is unknown to this version of writ"
            )));
        };
        if table_index < last_table_index {
            return Err(DumpError::Invalid(format!(
                "line {line_number}: a row of {name} after rows of {}: rows must come in table \
                 order",
                TABLES[last_table_index].name
            )));
        }
        if batch.table.is_some_and(|b| b.name != table.name) {
            batch.flush::<DB>(conn, &column_types).await?;
        }
        let count = counts.entry(table.name.to_owned()).or_insert(0);
        *count += 1;
        let first = *count == 1;
        last_table_index = table_index;
        let cells = codec::parse_row(table, row, line_number)?;
        if !table.exists_on(backend) {
            continue; // e.g. PostgreSQL's authz log head: re-derived below.
        }
        if table.seeded && first {
            sqlx::query::<DB>(AssertSqlSafe(format!("DELETE FROM {}", quote(table.name))))
                .execute(&mut *conn)
                .await?;
        }
        batch.table = Some(table);
        batch.last_line = line_number;
        batch.rows.push(cells);
        if batch.rows.len() >= (MAX_BIND_PARAMETERS / table.columns.len()).max(1) {
            batch.flush::<DB>(conn, &column_types).await?;
        }
    };
    batch.flush::<DB>(conn, &column_types).await?;
    lines.expect_end()?;
    trailer.check_counts(&counts)?;
    for table in TABLES.iter().filter(|t| t.exists_on(backend)) {
        if let Some(counter) = table.counter {
            let dumped = trailer.sequences.get(table.name).copied().unwrap_or(0);
            restore_counter::<DB>(conn, table, counter, dumped).await?;
        }
    }
    Ok(Summary {
        source: header.source,
        schema: header.schema,
        counts: trailer.counts,
    })
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
    async fn flush<DB>(
        &mut self,
        conn: &mut DB::Connection,
        column_types: &ColumnTypes,
    ) -> Result<()>
    where
        DB: Dialect,
        for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
        DB::Arguments: sqlx::IntoArguments<DB>,
        Option<i64>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
        Option<bool>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
        Option<String>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
        Option<Vec<u8>>: sqlx::Type<DB> + for<'q> sqlx::Encode<'q, DB>,
    {
        let Some(table) = self.table else {
            return Ok(());
        };
        if self.rows.is_empty() {
            return Ok(());
        }
        let backend = DB::BACKEND;
        let mut sql = format!(
            "INSERT INTO {} ({}) VALUES ",
            quote(table.name),
            table
                .columns
                .iter()
                .map(|(column, _)| quote(column))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut parameter = 0;
        for (row_index, _) in self.rows.iter().enumerate() {
            if row_index > 0 {
                sql.push_str(", ");
            }
            sql.push('(');
            for (column_index, &(column, _)) in table.columns.iter().enumerate() {
                parameter += 1;
                if column_index > 0 {
                    sql.push_str(", ");
                }
                sql.push_str(&placeholder(backend, parameter));
                // A JSON value bound as text goes into a json/jsonb column by a cast.
                if backend == Backend::Postgres
                    && let Some(ty @ ("json" | "jsonb")) = column_types
                        .get(&(table.name.to_owned(), column.to_owned()))
                        .map(String::as_str)
                {
                    sql.push_str("::");
                    sql.push_str(ty);
                }
            }
            sql.push(')');
        }
        let mut query = sqlx::query::<DB>(AssertSqlSafe(sql));
        for row in self.rows.drain(..) {
            for cell in row {
                query = match cell {
                    Cell::Text(v) => query.bind(v),
                    Cell::Int(v) => query.bind(v),
                    Cell::Bool(v) => query.bind(v),
                    Cell::Bytes(v) => query.bind(v),
                };
            }
        }
        query.execute(&mut *conn).await.map_err(|e| match e {
            // The dump does not fit the schema (a foreign key, a constraint): say where.
            sqlx::Error::Database(d) => DumpError::Invalid(format!(
                "the rows of {} (up to line {}) cannot be restored: {}",
                table.name,
                self.last_line,
                d.message()
            )),
            e => DumpError::Db(e),
        })?;
        Ok(())
    }
}
