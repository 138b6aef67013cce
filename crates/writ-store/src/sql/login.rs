//! Sessions, authorization codes and refresh tokens, with their single-use and rotation
//! guarantees: the code or token is read with the dialect's `FOR_UPDATE` inside a write
//! transaction, so concurrent consumers or rotators queue (on the row on PostgreSQL, on the
//! writer lock on SQLite) and each sees what the previous one wrote: one winner. Refresh-token
//! rotations are also group-committed: queued, and rotated together in one
//! transaction by a single task, the batch's common case in one update and one insert, the
//! rest one by one after it (see `rotate_refresh` and `rotate_many`).

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use sqlx::{FromRow, QueryBuilder};

use super::{
    Conn, FOR_UPDATE, Store, WriteTx, WriterTurn, begin_write, limit_lock_waits, rotation_queue,
    writer_turn,
};
use crate::common::{QueuedRotation, Serving};
use crate::*;

#[derive(FromRow)]
struct SessionRow {
    id: String,
    sid: String,
    user_id: String,
    auth_time: i64,
    last_seen: i64,
    expires_at: i64,
    amr: Option<String>,
}

#[derive(FromRow)]
struct CodeRow {
    id: String,
    client_id: String,
    user_id: String,
    redirect_uri: String,
    scope: String,
    audience: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    sid: Option<String>,
    auth_time: i64,
    expires_at: i64,
    used_at: Option<i64>,
    family_id: Option<String>,
    amr: Option<String>,
}

impl From<CodeRow> for AuthCode {
    fn from(r: CodeRow) -> Self {
        AuthCode {
            id: r.id,
            client_id: r.client_id,
            user_id: r.user_id,
            redirect_uri: r.redirect_uri,
            scope: r.scope,
            audience: r.audience,
            nonce: r.nonce,
            code_challenge: r.code_challenge,
            sid: r.sid,
            auth_time: r.auth_time,
            expires_at: r.expires_at,
            used_at: r.used_at,
            family_id: r.family_id,
            amr: r.amr,
        }
    }
}

#[derive(FromRow)]
struct RefreshRow {
    id: String,
    family_id: String,
    parent_id: Option<String>,
    client_id: String,
    user_id: String,
    audience: Option<String>,
    scope: String,
    sid: Option<String>,
    auth_time: i64,
    created_at: i64,
    idle_expires_at: i64,
    family_expires_at: i64,
    used_at: Option<i64>,
    revoked: bool,
    amr: Option<String>,
}

impl From<RefreshRow> for RefreshToken {
    fn from(r: RefreshRow) -> Self {
        RefreshToken {
            id: r.id,
            family_id: r.family_id,
            parent_id: r.parent_id,
            client_id: r.client_id,
            user_id: r.user_id,
            audience: r.audience,
            scope: r.scope,
            sid: r.sid,
            auth_time: r.auth_time,
            created_at: r.created_at,
            idle_expires_at: r.idle_expires_at,
            family_expires_at: r.family_expires_at,
            used_at: r.used_at,
            revoked: r.revoked,
            amr: r.amr,
        }
    }
}

async fn insert_refresh(conn: &mut Conn, t: &RefreshToken) -> Result<()> {
    insert_refreshes(conn, &[t]).await
}

/// Inserts refresh tokens in one statement (none: nothing to do).
async fn insert_refreshes(conn: &mut Conn, ts: &[&RefreshToken]) -> Result<()> {
    if ts.is_empty() {
        return Ok(());
    }
    let mut q = QueryBuilder::<super::DB>::new(
        "INSERT INTO refresh_tokens (id, family_id, parent_id, client_id, user_id, audience, scope, sid, auth_time, \
         created_at, idle_expires_at, family_expires_at, used_at, revoked, amr) ",
    );
    q.push_values(ts, |mut row, t| {
        row.push_bind(&t.id)
            .push_bind(&t.family_id)
            .push_bind(&t.parent_id)
            .push_bind(&t.client_id)
            .push_bind(&t.user_id)
            .push_bind(&t.audience)
            .push_bind(&t.scope)
            .push_bind(&t.sid)
            .push_bind(t.auth_time)
            .push_bind(t.created_at)
            .push_bind(t.idle_expires_at)
            .push_bind(t.family_expires_at)
            .push_bind(t.used_at)
            .push_bind(t.revoked)
            .push_bind(&t.amr);
    });
    q.build().execute(&mut *conn).await?;
    Ok(())
}

async fn revoke_family(conn: &mut Conn, family: &str) -> Result<()> {
    sqlx::query("UPDATE refresh_tokens SET revoked = TRUE WHERE family_id = $1")
        .bind(family)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[async_trait]
impl LoginStore for Store {
    async fn create_session(&self, s: &Session) -> Result<()> {
        self.write_one(sqlx::query("INSERT INTO sessions (id, sid, user_id, auth_time, last_seen, expires_at, amr) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(&s.id)
            .bind(&s.sid)
            .bind(&s.user_id)
            .bind(s.auth_time)
            .bind(s.last_seen)
            .bind(s.expires_at)
            .bind(&s.amr))
            .await?;
        Ok(())
    }

    async fn get_session(&self, id: &str) -> Result<Option<Session>> {
        let r: Option<SessionRow> = self
            .by_key("SELECT * FROM sessions WHERE id = $1", id)
            .await?;
        Ok(r.map(|r| Session {
            id: r.id,
            sid: r.sid,
            user_id: r.user_id,
            auth_time: r.auth_time,
            last_seen: r.last_seen,
            expires_at: r.expires_at,
            amr: r.amr,
        }))
    }

    async fn touch_session(&self, id: &str, now: i64) -> Result<()> {
        self.write_one(
            sqlx::query("UPDATE sessions SET last_seen = $2 WHERE id = $1")
                .bind(id)
                .bind(now),
        )
        .await?;
        Ok(())
    }

    async fn delete_session(&self, id: &str) -> Result<()> {
        self.write_one(sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id))
            .await?;
        Ok(())
    }

    async fn end_session(&self, id: &str, signals: &[SsfSignal]) -> Result<bool> {
        let delete = sqlx::query("DELETE FROM sessions WHERE id = $1").bind(id);
        super::ssf::signalled(self, delete, signals).await
    }

    async fn create_code(&self, c: &AuthCode) -> Result<()> {
        self.write_one(sqlx::query(
            "INSERT INTO authorization_codes (id, client_id, user_id, redirect_uri, scope, audience, nonce, code_challenge, sid, \
             auth_time, expires_at, amr) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(&c.id)
        .bind(&c.client_id)
        .bind(&c.user_id)
        .bind(&c.redirect_uri)
        .bind(&c.scope)
        .bind(&c.audience)
        .bind(&c.nonce)
        .bind(&c.code_challenge)
        .bind(&c.sid)
        .bind(c.auth_time)
        .bind(c.expires_at)
        .bind(&c.amr))
        .await?;
        Ok(())
    }

    async fn get_code(&self, id: &str) -> Result<Option<AuthCode>> {
        let row: Option<CodeRow> = self
            .by_key("SELECT * FROM authorization_codes WHERE id = $1", id)
            .await?;
        Ok(row.map(AuthCode::from))
    }

    async fn consume_code(
        &self,
        id: &str,
        now: i64,
        refresh: Option<&RefreshToken>,
    ) -> Result<CodeOutcome> {
        let mut tx = self.write().await?;
        let row: Option<CodeRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT * FROM authorization_codes WHERE id = $1{FOR_UPDATE}"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(CodeOutcome::Missing);
        };
        let code = AuthCode::from(row);
        if code.used_at.is_some() {
            if let Some(f) = &code.family_id {
                revoke_family(&mut tx, f).await?;
            }
            tx.commit().await?;
            return Ok(CodeOutcome::Reused(code));
        }
        let family = refresh.map(|r| r.family_id.clone());
        sqlx::query("UPDATE authorization_codes SET used_at = $2, family_id = $3 WHERE id = $1")
            .bind(id)
            .bind(now)
            .bind(&family)
            .execute(&mut *tx)
            .await?;
        if let Some(r) = refresh {
            insert_refresh(&mut tx, r).await?;
        }
        tx.commit().await?;
        Ok(CodeOutcome::Fresh(AuthCode {
            used_at: Some(now),
            family_id: family,
            ..code
        }))
    }

    async fn create_refresh(&self, t: &RefreshToken) -> Result<()> {
        let mut tx = self.write().await?;
        insert_refresh(&mut tx, t).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_refresh(&self, id: &str) -> Result<Option<RefreshToken>> {
        let r: Option<RefreshRow> = self
            .by_key("SELECT * FROM refresh_tokens WHERE id = $1", id)
            .await?;
        Ok(r.map(RefreshToken::from))
    }

    async fn rotate_refresh(&self, r: Rotation<'_>) -> Result<RotateOutcome> {
        // Rotations queue, and one task rotates every token queued when it gets the writer's
        // turn in one transaction, so a burst of refreshes pays for one BEGIN, two statements,
        // one COMMIT and one WAL flush instead of one each (SQLite has one writer at a time
        // anyway; on PostgreSQL, each node batches its own, and the rows are still locked). That
        // task is started by the first rotation to find none running, and runs on its own, so
        // a request given up half-way (a client gone) neither strands its queued rotation nor
        // takes the others' with it.
        let (outcome, server) = rotation_queue(self).push(r);
        if let Some(serving) = server {
            let store = self.clone();
            tokio::spawn(async move { store.serve_rotations(serving).await });
        }
        outcome
            .await
            .map_err(|_| StoreError::Db(sqlx::Error::WorkerCrashed))?
    }

    async fn revoke_refresh_family(&self, family_id: &str) -> Result<()> {
        let mut tx = self.write().await?;
        revoke_family(&mut tx, family_id).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn prune_logins(&self, now: i64, session_idle: i64) -> Result<u64> {
        let sessions = self
            .write_one(
                sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen <= $1 - $2")
                    .bind(now)
                    .bind(session_idle),
            )
            .await?;
        let mut n = sessions;
        for sql in [
            "DELETE FROM console_sessions WHERE expires_at <= $1",
            "DELETE FROM authorization_codes WHERE expires_at <= $1 - 86400",
            "DELETE FROM refresh_tokens WHERE family_expires_at <= $1",
            "DELETE FROM mfa_logins WHERE expires_at <= $1",
            "DELETE FROM passkey_challenges WHERE expires_at <= $1",
        ] {
            n += self.write_one(sqlx::query(sql).bind(now)).await?;
        }
        Ok(n)
    }

    async fn create_console_session(&self, s: &ConsoleSession) -> Result<()> {
        self.write_one(sqlx::query(
            "INSERT INTO console_sessions (id, user_id, token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&s.id)
        .bind(&s.user_id)
        .bind(&s.token)
        .bind(s.created_at)
        .bind(s.expires_at))
        .await?;
        Ok(())
    }

    async fn get_console_session(&self, id: &str) -> Result<Option<ConsoleSession>> {
        let r: Option<(String, String, Vec<u8>, i64, i64)> = self
            .by_key(
                "SELECT id, user_id, token, created_at, expires_at FROM console_sessions WHERE id = $1",
                id,
            )
            .await?;
        Ok(r.map(
            |(id, user_id, token, created_at, expires_at)| ConsoleSession {
                id,
                user_id,
                token,
                created_at,
                expires_at,
            },
        ))
    }

    async fn delete_console_session(&self, id: &str) -> Result<()> {
        self.write_one(sqlx::query("DELETE FROM console_sessions WHERE id = $1").bind(id))
            .await?;
        Ok(())
    }
}

impl Store {
    /// The rotation task: batch after batch until the queue stays empty. Only this task waits
    /// for the writer's turn on the rotations' behalf, so another writer (a Management API
    /// change) waits behind at most one batch, however many refreshes are in flight. (A turn
    /// taken per request instead made each such change wait behind a queue of them: 1.3 s at
    /// 1,200 refreshes/s in the mixed bench.)
    async fn serve_rotations(&self, mut serving: Serving) {
        loop {
            if !self.rotate_queued(serving.queue()).await && !serving.stand_down() {
                return;
            }
        }
    }

    /// Waits for the writer's turn and rotates what is queued by then (one bounded batch);
    /// `false` when nothing was (then without taking the turn, which another writer may want).
    async fn rotate_queued(&self, queue: &crate::common::RotationQueue) -> bool {
        if queue.is_empty() {
            return false;
        }
        let turn = writer_turn(self).await;
        let batch = queue.take();
        if batch.is_empty() {
            return false;
        }
        self.rotate_batch(batch, turn).await;
        true
    }

    /// Rotates `batch` in one transaction, holding the writer's `turn`, and replies to each.
    /// If anything fails (on PostgreSQL, a lock the batch gave way on: see `limit_lock_waits`),
    /// each is retried in a transaction of its own, so only a rotation that fails alone gets an
    /// error. The retries run as tasks of their own, so one waiting on a row lock holds up
    /// neither the others nor the next batch.
    async fn rotate_batch(&self, batch: Vec<QueuedRotation>, turn: WriterTurn) {
        match self.rotate_together(&batch, turn).await {
            Ok(outcomes) => {
                for (q, outcome) in batch.into_iter().zip(outcomes) {
                    q.reply(Ok(outcome));
                }
            }
            Err(_) => {
                for q in batch {
                    let store = self.clone();
                    tokio::spawn(async move {
                        let outcome = store.rotate_alone(q.rotation()).await;
                        q.reply(outcome);
                    });
                }
            }
        }
    }

    /// One rotation in a write transaction of its own.
    async fn rotate_alone(&self, r: Rotation<'_>) -> Result<RotateOutcome> {
        let mut tx = self.write().await?;
        let mut outcome = rotate(&mut tx, r).await?;
        with_users(&mut tx, std::slice::from_mut(&mut outcome)).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn rotate_together(
        &self,
        batch: &[QueuedRotation],
        turn: WriterTurn,
    ) -> Result<Vec<RotateOutcome>> {
        let mut tx = WriteTx(begin_write(self).await?, turn);
        limit_lock_waits(&mut tx).await?;
        let rotations: Vec<Rotation<'_>> = batch.iter().map(QueuedRotation::rotation).collect();
        let outcomes = rotate_many(&mut tx, &rotations).await?;
        tx.commit().await?;
        Ok(outcomes)
    }
}

/// Reads the user of every rotated token in `outcomes` (one statement) into its outcome.
async fn with_users(conn: &mut Conn, outcomes: &mut [RotateOutcome]) -> Result<()> {
    let ids: Vec<&str> = outcomes
        .iter()
        .filter_map(|o| match o {
            RotateOutcome::Rotated(child, _) => Some(child.user_id.as_str()),
            _ => None,
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let users: HashMap<String, User> = super::rbac::users_in(conn, &ids)
        .await?
        .into_iter()
        .map(|u| (u.user_id.clone(), u))
        .collect();
    for o in outcomes {
        if let RotateOutcome::Rotated(child, user) = o {
            *user = users.get(&child.user_id).cloned();
        }
    }
    Ok(())
}

/// Rotates the refresh token `r` presents, inside the caller's write transaction (which
/// commits whatever the outcome: a reuse revokes the family, an invalid token writes nothing).
/// A rotated outcome's user is left to [`with_users`].
async fn rotate(conn: &mut Conn, r: Rotation<'_>) -> Result<RotateOutcome> {
    // The common case in one statement: the token is this client's, unused, unrevoked and
    // unexpired; it is marked used and read at once (racers on PostgreSQL wait on the row
    // and then no longer match; on SQLite the writer lock already orders them).
    let used: Option<RefreshRow> = sqlx::query_as(
            "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND client_id = $3 \
             AND used_at IS NULL AND NOT revoked AND family_expires_at > $2 AND idle_expires_at > $2 \
             RETURNING *",
        )
        .bind(r.id)
        .bind(r.now)
        .bind(r.client_id)
        .fetch_optional(&mut *conn)
        .await?;
    let cur = match used {
        Some(row) => RefreshToken::from(row),
        None => {
            // Not that: find out why, under the same lock.
            let row: Option<RefreshRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT * FROM refresh_tokens WHERE id = $1{FOR_UPDATE}"
            )))
            .bind(r.id)
            .fetch_optional(&mut *conn)
            .await?;
            let Some(cur) = row.map(RefreshToken::from) else {
                return Ok(RotateOutcome::Invalid);
            };
            if cur.client_id != r.client_id
                || cur.revoked
                || r.now >= cur.family_expires_at
                || r.now >= cur.idle_expires_at
            {
                return Ok(RotateOutcome::Invalid);
            }
            // Unused, valid and this client's would have matched the update.
            let Some(used) = cur.used_at else {
                return Ok(RotateOutcome::Invalid);
            };
            // Only the immediately previous token may be reused, and only within the
            // leeway: its child must still be the family's newest, unused token.
            let newest_unused = sqlx::query(
                    "SELECT 1 FROM refresh_tokens WHERE parent_id = $1 AND used_at IS NULL AND NOT revoked LIMIT 1",
                )
                .bind(r.id)
                .fetch_optional(&mut *conn)
                .await?;
            if r.now - used >= r.leeway || newest_unused.is_none() {
                revoke_family(conn, &cur.family_id).await?;
                return Ok(RotateOutcome::Reused(cur));
            }
            cur
        }
    };
    let child = child_of(cur, &r);
    insert_refresh(conn, &child).await?;
    Ok(RotateOutcome::Rotated(child, None))
}

/// The token that replaces `cur` (just marked used) in rotation `r`: the same grant and family.
fn child_of(cur: RefreshToken, r: &Rotation<'_>) -> RefreshToken {
    RefreshToken {
        id: r.child_id.to_owned(),
        parent_id: Some(cur.id),
        created_at: r.now,
        idle_expires_at: (r.now + r.idle_lifetime).min(cur.family_expires_at),
        used_at: None,
        revoked: false,
        ..cur
    }
}

/// Rotates the tokens of `rs` inside the caller's write transaction, with the outcome
/// [`rotate`] would give each if they ran one after another: the common case (a token
/// unused, unrevoked, unexpired and presented by its own client) for the whole batch in two
/// statements, one update and one insert; the rest (a token presented twice in the batch, an
/// unknown, used or revoked one) then one by one, in the order given, each seeing what went
/// before it. The batch's rotations are concurrent requests, so running the common ones first
/// is an order they could have arrived in.
async fn rotate_many(conn: &mut Conn, rs: &[Rotation<'_>]) -> Result<Vec<RotateOutcome>> {
    if rs.is_empty() {
        return Ok(Vec::new());
    }
    // Each token's first presentation joins the batched update; a second waits its turn.
    let mut seen = HashSet::with_capacity(rs.len());
    let first: Vec<bool> = rs.iter().map(|r| seen.insert(r.id)).collect();
    let batched = rs.iter().zip(&first).filter(|(_, f)| **f).map(|(r, _)| r);
    let mut q =
        QueryBuilder::<super::DB>::new("UPDATE refresh_tokens SET used_at = v.column3 FROM (");
    q.push_values(batched, |mut row, r| {
        row.push_bind(r.id).push_bind(r.client_id).push_bind(r.now);
    });
    q.push(
        ") AS v WHERE refresh_tokens.id = v.column1 AND refresh_tokens.client_id = v.column2 \
         AND refresh_tokens.used_at IS NULL AND NOT refresh_tokens.revoked \
         AND refresh_tokens.family_expires_at > v.column3 AND refresh_tokens.idle_expires_at > v.column3 \
         RETURNING *",
    );
    let rows: Vec<RefreshRow> = q.build_query_as().fetch_all(&mut *conn).await?;
    let mut used: HashMap<String, RefreshRow> =
        rows.into_iter().map(|row| (row.id.clone(), row)).collect();
    let outcomes: Vec<Option<RotateOutcome>> = rs
        .iter()
        .zip(&first)
        .map(|(r, &first)| {
            let cur = if first { used.remove(r.id) } else { None };
            cur.map(|row| RotateOutcome::Rotated(child_of(row.into(), r), None))
        })
        .collect();
    let children: Vec<&RefreshToken> = outcomes
        .iter()
        .filter_map(|o| match o {
            Some(RotateOutcome::Rotated(child, _)) => Some(child),
            _ => None,
        })
        .collect();
    insert_refreshes(conn, &children).await?;
    let mut done = Vec::with_capacity(rs.len());
    for (r, outcome) in rs.iter().zip(outcomes) {
        done.push(match outcome {
            Some(o) => o,
            None => rotate(conn, *r).await?,
        });
    }
    with_users(conn, &mut done).await?;
    Ok(done)
}
