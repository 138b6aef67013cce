//! The row codec: a backend's values to the dump's backend-neutral JSON and back. Export
//! selects each column in a form its kind decodes from ([`select_sql`]) and turns the row into
//! a JSON object ([`decode_row`]); import checks a dumped object against the table list and
//! turns it into values to bind ([`parse_row`]).

use base64::Engine;
use serde_json::{Map, Value};
use sqlx::Row;

use super::tables::{Kind, Table};
use super::{Dialect, DumpError, Result, quote};
use crate::Backend;

/// `SELECT` of every column of `table` in key order, each decodable as its kind.
pub(super) fn select_sql(table: &Table, backend: Backend) -> String {
    let columns: Vec<String> = table
        .columns
        .iter()
        .map(|&(column, kind)| match (backend, kind) {
            // PostgreSQL decodes by exact type: widen INTEGERs, read json/jsonb as text.
            (Backend::Postgres, Kind::Int) => format!("{}::bigint", quote(column)),
            (Backend::Postgres, Kind::Json) => format!("{}::text", quote(column)),
            _ => quote(column),
        })
        .collect();
    let key: Vec<String> = table
        .key
        .iter()
        .map(|key_column| {
            let text = table
                .columns
                .iter()
                .any(|(column, kind)| column == key_column && *kind != Kind::Int);
            match backend {
                // Byte order, as SQLite's BINARY collation, whatever the column's collation.
                Backend::Postgres if text => format!("{} COLLATE \"C\"", quote(key_column)),
                _ => quote(key_column),
            }
        })
        .collect();
    format!(
        "SELECT {} FROM {} ORDER BY {}",
        columns.join(", "),
        quote(table.name),
        key.join(", ")
    )
}

/// One row of `table` as the dump's JSON object, columns in table-list order.
pub(super) fn decode_row<DB>(row: &DB::Row, table: &Table) -> Result<Map<String, Value>>
where
    DB: Dialect,
    usize: sqlx::ColumnIndex<DB::Row>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    bool: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    String: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    Vec<u8>: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
{
    let mut object = Map::with_capacity(table.columns.len());
    for (i, &(column, kind)) in table.columns.iter().enumerate() {
        let value = match kind {
            Kind::Text => row.try_get::<Option<String>, _>(i)?.map(Value::String),
            Kind::Int => row.try_get::<Option<i64>, _>(i)?.map(Value::from),
            Kind::Bool => row.try_get::<Option<bool>, _>(i)?.map(Value::Bool),
            Kind::Json => match row.try_get::<Option<String>, _>(i)? {
                None => None,
                Some(s) => Some(serde_json::from_str::<Value>(&s).map_err(|e| {
                    DumpError::Invalid(format!(
                        "{}.{column} holds text that is not JSON ({e})",
                        table.name
                    ))
                })?),
            },
            Kind::Bytes => row
                .try_get::<Option<Vec<u8>>, _>(i)?
                .map(|b| Value::String(base64::engine::general_purpose::STANDARD.encode(b))),
        };
        object.insert(column.to_owned(), value.unwrap_or(Value::Null));
    }
    Ok(object)
}

/// One value ready to bind.
#[derive(Debug)]
pub(super) enum Cell {
    Text(Option<String>),
    Int(Option<i64>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

/// Checks a dumped row against `table` (exactly its columns, each of its kind) and converts
/// it; `line` is its line number, for error messages.
pub(super) fn parse_row(
    table: &Table,
    mut row: Map<String, Value>,
    line: usize,
) -> Result<Vec<Cell>> {
    let invalid = |column: &str, what: &str| {
        DumpError::Invalid(format!(
            "line {line}: {}.{column} must be {what} or null",
            table.name
        ))
    };
    let mut cells = Vec::with_capacity(table.columns.len());
    for &(column, kind) in table.columns {
        let Some(value) = row.remove(column) else {
            return Err(DumpError::Invalid(format!(
                "line {line}: the row of {} has no column {column}",
                table.name
            )));
        };
        let cell = match (kind, value) {
            (Kind::Text, Value::Null) => Cell::Text(None),
            (Kind::Text, Value::String(s)) => Cell::Text(Some(s)),
            (Kind::Text, _) => return Err(invalid(column, "a string")),
            (Kind::Int, Value::Null) => Cell::Int(None),
            (Kind::Int, Value::Number(n)) => Cell::Int(Some(
                n.as_i64().ok_or_else(|| invalid(column, "an integer"))?,
            )),
            (Kind::Int, _) => return Err(invalid(column, "an integer")),
            (Kind::Bool, Value::Null) => Cell::Bool(None),
            (Kind::Bool, Value::Bool(b)) => Cell::Bool(Some(b)),
            (Kind::Bool, _) => return Err(invalid(column, "true or false")),
            (Kind::Json, Value::Null) => Cell::Text(None),
            (Kind::Json, v) => Cell::Text(Some(v.to_string())),
            (Kind::Bytes, Value::Null) => Cell::Bytes(None),
            (Kind::Bytes, Value::String(s)) => Cell::Bytes(Some(
                base64::engine::general_purpose::STANDARD
                    .decode(s)
                    .map_err(|_| invalid(column, "base64"))?,
            )),
            (Kind::Bytes, _) => return Err(invalid(column, "a base64 string")),
        };
        cells.push(cell);
    }
    if let Some(extra) = row.keys().next() {
        return Err(DumpError::Invalid(format!(
            "line {line}: {}.{extra} is not a column this version of writ knows",
            table.name
        )));
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::tables;
    use super::*;

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
        let ok = json!({"id": "h", "sid": "s", "user_id": "u", "auth_time": 1, "last_seen": 2, "expires_at": 3, "amr": null});
        assert_eq!(parse_row(t, row(ok.clone()), 2).unwrap().len(), 7);
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
