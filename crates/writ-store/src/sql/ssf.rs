//! The Shared Signals transmitter's records: streams, subjects and the per-stream outbox of
//! Security Event Tokens.
//!
//! Claiming pushed SETs is the mail outbox's lease (see `mail`): one
//! `UPDATE … WHERE jti IN (due, unleased) AND <still unleased>`, so of racing nodes one holds a
//! SET at a time. Turning the authz log into SETs advances `ssf_state.authz_seq` with a
//! compare-and-set in the transaction that inserts the SETs: a racing node's update matches no
//! row (on PostgreSQL it waits for the row lock, then re-reads the committed cursor), and it
//! rolls back, so each event becomes SETs once. Signals (`ssf_signals`: logouts and MFA changes,
//! written in the transaction of their change) are deleted by the transaction that queues
//! their SETs, with the same outcome for a racing node: its delete matches no row.

use async_trait::async_trait;
use sqlx::FromRow;

use super::{Conn, Query, Store};
use crate::common::to_json;
use crate::*;

#[derive(FromRow)]
struct StreamRow {
    id: String,
    client_id: String,
    method: String,
    config: String,
    auth_header: Option<Vec<u8>>,
    status: String,
    reason: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<StreamRow> for SsfStream {
    type Error = StoreError;
    fn try_from(r: StreamRow) -> Result<Self> {
        Ok(SsfStream {
            id: r.id,
            client_id: r.client_id,
            method: r.method,
            config: serde_json::from_str(&r.config)
                .map_err(|e| StoreError::Corrupt(format!("ssf stream config: {e}")))?,
            auth_header: r.auth_header,
            status: r.status,
            reason: r.reason,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const STREAM_COLUMNS: &str =
    "id, client_id, method, config, auth_header, status, reason, created_at, updated_at";

#[derive(FromRow)]
struct QueuedRow {
    jti: String,
    stream_id: String,
    set_jwt: String,
    attempts: i64,
}

impl From<QueuedRow> for SsfQueued {
    fn from(r: QueuedRow) -> Self {
        SsfQueued {
            jti: r.jti,
            stream_id: r.stream_id,
            set: r.set_jwt,
            attempts: r.attempts,
        }
    }
}

/// Queues `sets` (due at `now_ms`) for their streams, unless a stream is gone or disabled.
async fn insert_sets(conn: &mut Conn, sets: &[SsfNewSet], now_ms: i64) -> Result<()> {
    let base = chrono::Utc::now().timestamp_micros();
    for (i, s) in sets.iter().enumerate() {
        sqlx::query(
            "INSERT INTO ssf_outbox (jti, stream_id, ord, set_jwt, created_at, attempts, \
             next_attempt_at) \
             SELECT $1, $2, $3, $4, $5, 0, $5 WHERE EXISTS \
             (SELECT 1 FROM ssf_streams WHERE id = $2 AND status <> 'disabled')",
        )
        .bind(&s.jti)
        .bind(&s.stream_id)
        .bind(base + i as i64)
        .bind(&s.set)
        .bind(now_ms)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Writes `signals` in the caller's transaction (the write they report).
pub(super) async fn insert_signals(conn: &mut Conn, signals: &[SsfSignal]) -> Result<()> {
    let base = chrono::Utc::now().timestamp_micros();
    for (i, s) in signals.iter().enumerate() {
        sqlx::query(
            "INSERT INTO ssf_signals (txn, ord, subject, event_type, event, at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&s.txn)
        .bind(base + i as i64)
        .bind(&s.subject)
        .bind(&s.event_type)
        .bind(to_json(&s.event))
        .bind(s.at)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// Runs `change` in a write transaction and, when it changed a row, writes `signals` with it;
/// `true` when it did.
pub(super) async fn signalled(
    store: &Store,
    change: Query<'_>,
    signals: &[SsfSignal],
) -> Result<bool> {
    let mut tx = store.write().await?;
    let n = change.execute(&mut *tx).await?.rows_affected();
    if n == 1 {
        insert_signals(&mut tx, signals).await?;
    }
    tx.commit().await?;
    Ok(n == 1)
}

/// In one write transaction: every statement of `claims` must change exactly one row (else
/// another caller got there first, and nothing is queued: `false`); then `sets` are queued.
async fn claim_and_queue(
    store: &Store,
    claims: Vec<Query<'_>>,
    sets: &[SsfNewSet],
    now_ms: i64,
) -> Result<bool> {
    let mut tx = store.write().await?;
    for claim in claims {
        if claim.execute(&mut *tx).await?.rows_affected() != 1 {
            return Ok(false);
        }
    }
    insert_sets(&mut tx, sets, now_ms).await?;
    tx.commit().await?;
    Ok(true)
}

#[derive(FromRow)]
struct SignalRow {
    txn: String,
    subject: String,
    event_type: String,
    event: String,
    at: i64,
}

impl TryFrom<SignalRow> for SsfSignal {
    type Error = StoreError;
    fn try_from(r: SignalRow) -> Result<Self> {
        Ok(SsfSignal {
            txn: r.txn,
            subject: r.subject,
            event_type: r.event_type,
            event: serde_json::from_str(&r.event)
                .map_err(|e| StoreError::Corrupt(format!("ssf signal event: {e}")))?,
            at: r.at,
        })
    }
}

#[async_trait]
impl SsfStore for Store {
    async fn create_ssf_stream(&self, s: &SsfStream, max_per_client: i64) -> Result<()> {
        let mut tx = self.write().await?;
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ssf_streams WHERE client_id = $1")
            .bind(&s.client_id)
            .fetch_one(&mut *tx)
            .await?;
        if n >= max_per_client {
            return Err(StoreError::Conflict(format!(
                "a receiver may have at most {max_per_client} streams"
            )));
        }
        sqlx::query(
            "INSERT INTO ssf_streams (id, client_id, method, config, auth_header, status, \
             reason, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&s.id)
        .bind(&s.client_id)
        .bind(&s.method)
        .bind(to_json(&s.config))
        .bind(&s.auth_header)
        .bind(&s.status)
        .bind(&s.reason)
        .bind(s.created_at)
        .bind(s.updated_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn ssf_stream(&self, id: &str) -> Result<Option<SsfStream>> {
        let select = sqlx::AssertSqlSafe(format!(
            "SELECT {STREAM_COLUMNS} FROM ssf_streams WHERE id = $1"
        ));
        let row: Option<StreamRow> = self.by_key(select, id).await?;
        row.map(SsfStream::try_from).transpose()
    }

    async fn ssf_streams(&self, client_id: Option<&str>) -> Result<Vec<SsfStream>> {
        let rows: Vec<StreamRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {STREAM_COLUMNS} FROM ssf_streams \
             WHERE $1 IS NULL OR client_id = $1 ORDER BY created_at, id"
        )))
        .bind(client_id)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(SsfStream::try_from).collect()
    }

    async fn update_ssf_stream(&self, s: &SsfStream) -> Result<bool> {
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "UPDATE ssf_streams SET method = $2, config = $3, auth_header = $4, status = $5, \
             reason = $6, updated_at = $7 WHERE id = $1",
        )
        .bind(&s.id)
        .bind(&s.method)
        .bind(to_json(&s.config))
        .bind(&s.auth_header)
        .bind(&s.status)
        .bind(&s.reason)
        .bind(s.updated_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 && s.status == "disabled" {
            sqlx::query("DELETE FROM ssf_outbox WHERE stream_id = $1")
                .bind(&s.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn delete_ssf_stream(&self, id: &str) -> Result<bool> {
        let mut tx = self.write().await?;
        for sql in [
            "DELETE FROM ssf_outbox WHERE stream_id = $1",
            "DELETE FROM ssf_subjects WHERE stream_id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        let n = sqlx::query("DELETE FROM ssf_streams WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn set_ssf_subject(&self, stream_id: &str, user_id: &str, included: bool) -> Result<()> {
        self.write_one(
            sqlx::query(
                "INSERT INTO ssf_subjects (stream_id, user_id, included) VALUES ($1, $2, $3) \
             ON CONFLICT (stream_id, user_id) DO UPDATE SET included = $3",
            )
            .bind(stream_id)
            .bind(user_id)
            .bind(included),
        )
        .await?;
        Ok(())
    }

    async fn ssf_subjects(&self) -> Result<Vec<SsfSubject>> {
        let rows: Vec<(String, String, bool)> =
            sqlx::query_as("SELECT stream_id, user_id, included FROM ssf_subjects")
                .fetch_all(&self.pool)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(stream_id, user_id, included)| SsfSubject {
                stream_id,
                user_id,
                included,
            })
            .collect())
    }

    async fn ssf_cursor(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT authz_seq FROM ssf_state WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn ssf_enqueue(
        &self,
        advance: Option<(i64, i64)>,
        sets: &[SsfNewSet],
        now_ms: i64,
    ) -> Result<bool> {
        let advance = advance.map(|(from, to)| {
            sqlx::query("UPDATE ssf_state SET authz_seq = $2 WHERE id = 1 AND authz_seq = $1")
                .bind(from)
                .bind(to)
        });
        claim_and_queue(self, advance.into_iter().collect(), sets, now_ms).await
    }

    async fn claim_ssf_push(
        &self,
        worker: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<SsfQueued>> {
        let rows: Vec<QueuedRow> = self
            .claim(
                "UPDATE ssf_outbox SET claimed_by = $1, claimed_until = $2 + $3, \
                 attempts = attempts + 1 \
                 WHERE jti IN (SELECT o.jti FROM ssf_outbox o JOIN ssf_streams s ON s.id = o.stream_id \
                     WHERE s.status = 'enabled' AND s.method = 'push' AND o.next_attempt_at <= $2 \
                     AND (o.claimed_until IS NULL OR o.claimed_until <= $2) \
                     ORDER BY o.ord LIMIT $4) \
                 AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until <= $2) \
                 RETURNING jti, stream_id, set_jwt, attempts",
                worker,
                now_ms,
                lease_ms,
                limit,
            )
            .await?;
        Ok(rows.into_iter().map(SsfQueued::from).collect())
    }

    async fn ssf_pushed(&self, jti: &str, worker: &str) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query("DELETE FROM ssf_outbox WHERE jti = $1 AND claimed_by = $2")
                    .bind(jti)
                    .bind(worker),
            )
            .await?;
        Ok(n == 1)
    }

    async fn ssf_push_failed(
        &self,
        jti: &str,
        worker: &str,
        error: &str,
        retry_at: i64,
    ) -> Result<bool> {
        self.release_failed(
            "UPDATE ssf_outbox SET last_error = $3, next_attempt_at = $4, claimed_by = NULL, \
             claimed_until = NULL WHERE jti = $1 AND claimed_by = $2",
            jti,
            worker,
            error,
            Some(retry_at),
        )
        .await
    }

    async fn ssf_poll(
        &self,
        stream_id: &str,
        ack: &[String],
        max: i64,
    ) -> Result<(Vec<SsfQueued>, bool)> {
        if !ack.is_empty() {
            let mut tx = self.write().await?;
            for jti in ack {
                sqlx::query("DELETE FROM ssf_outbox WHERE jti = $1 AND stream_id = $2")
                    .bind(jti)
                    .bind(stream_id)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        }
        let mut rows: Vec<QueuedRow> = sqlx::query_as(
            "SELECT jti, stream_id, set_jwt, attempts FROM ssf_outbox WHERE stream_id = $1 \
             ORDER BY ord LIMIT $2",
        )
        .bind(stream_id)
        .bind(max + 1)
        .fetch_all(&self.pool)
        .await?;
        let more = rows.len() as i64 > max;
        rows.truncate(usize::try_from(max).unwrap_or(0));
        Ok((rows.into_iter().map(SsfQueued::from).collect(), more))
    }

    async fn next_ssf_due(&self) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(o.next_attempt_at) FROM ssf_outbox o JOIN ssf_streams s \
             ON s.id = o.stream_id WHERE s.status = 'enabled' AND s.method = 'push'",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    async fn ssf_signals(&self, limit: i64) -> Result<Vec<SsfSignal>> {
        let rows: Vec<SignalRow> = sqlx::query_as(
            "SELECT txn, subject, event_type, event, at FROM ssf_signals ORDER BY ord, txn LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(SsfSignal::try_from).collect()
    }

    async fn ssf_take_signals(
        &self,
        txns: &[String],
        sets: &[SsfNewSet],
        now_ms: i64,
    ) -> Result<bool> {
        // A signal another node took is that node's to turn into SETs.
        let deletes = txns
            .iter()
            .map(|t| sqlx::query("DELETE FROM ssf_signals WHERE txn = $1").bind(t))
            .collect();
        claim_and_queue(self, deletes, sets, now_ms).await
    }

    async fn ssf_verification_due(
        &self,
        id: &str,
        now_ms: i64,
        min_interval_ms: i64,
    ) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE ssf_streams SET verified_at = $2 \
             WHERE id = $1 AND (verified_at IS NULL OR verified_at <= $2 - $3)",
                )
                .bind(id)
                .bind(now_ms)
                .bind(min_interval_ms),
            )
            .await?;
        Ok(n == 1)
    }
}
