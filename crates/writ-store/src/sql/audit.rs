//! The audit log: plain inserts (one statement is atomic, and no lock is needed: the log has
//! no counter to keep gapless), filtered pages over the `audit_log` indexes, and pruning in
//! short batches so retention never holds the write lock (SQLite) or row locks for long.

use async_trait::async_trait;
use sqlx::QueryBuilder;

use super::{DB, Store};
use crate::common::{
    LOG_COLUMNS, LogRow, log_bounds, normalize_time, prepare_log, push_log_filter, to_json,
};
use crate::*;

#[async_trait]
impl AuditStore for Store {
    async fn append_log(&self, e: &NewLogEntry) -> Result<LogEntry> {
        let entry = prepare_log(e)?;
        self.write_one(insert(&entry)).await?;
        Ok(entry)
    }

    async fn list_logs(&self, filter: &LogFilter, page: Page) -> Result<Paged<LogEntry>> {
        let (from, to) = log_bounds(filter)?;
        let mut count = QueryBuilder::<DB>::new("SELECT COUNT(*) FROM audit_log");
        push_log_filter(&mut count, filter, from.clone(), to.clone());
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut q = QueryBuilder::<DB>::new(format!("SELECT {LOG_COLUMNS} FROM audit_log"));
        push_log_filter(&mut q, filter, from, to);
        q.push(if filter.oldest_first {
            " ORDER BY date, seq"
        } else {
            " ORDER BY date DESC, seq DESC"
        });
        q.push(" LIMIT ")
            .push_bind(page.limit())
            .push(" OFFSET ")
            .push_bind(page.offset());
        let rows: Vec<LogRow> = q.build_query_as().fetch_all(&self.pool).await?;
        Ok(Paged {
            items: rows
                .into_iter()
                .map(LogEntry::try_from)
                .collect::<Result<_>>()?,
            total,
        })
    }

    async fn get_log(&self, log_id: &str) -> Result<LogEntry> {
        let select = sqlx::AssertSqlSafe(format!(
            "SELECT {LOG_COLUMNS} FROM audit_log WHERE log_id = $1"
        ));
        let row: Option<LogRow> = self.by_key(select, log_id).await?;
        row.ok_or(StoreError::NotFound("log entry"))?.try_into()
    }

    async fn prune_logs(&self, older_than: &str) -> Result<u64> {
        let before = normalize_time("older_than", older_than)?;
        self.prune(
            "DELETE FROM audit_log WHERE seq IN \
             (SELECT seq FROM audit_log WHERE date < $1 ORDER BY date LIMIT $2)",
            &before,
        )
        .await
    }
}

/// The statement appending `entry`: alone ([`AuditStore::append_log`]) or riding a change's
/// transaction (`crate::riding`).
pub(super) fn insert(entry: &LogEntry) -> super::Query<'_> {
    sqlx::query(
        "INSERT INTO audit_log (log_id, date, type, description, ip, user_agent, client_id, \
         client_name, user_id, user_name, connection, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&entry.log_id)
    .bind(&entry.date)
    .bind(&entry.log_type)
    .bind(&entry.description)
    .bind(&entry.ip)
    .bind(&entry.user_agent)
    .bind(&entry.client_id)
    .bind(&entry.client_name)
    .bind(&entry.user_id)
    .bind(&entry.user_name)
    .bind(&entry.connection)
    .bind(to_json(&entry.details))
}
