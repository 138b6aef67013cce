//! The store's implementation, written once for both databases: every statement's text exists
//! only here. This module is compiled twice, as the child `sql` of each dialect module
//! (`crate::dialect::sqlite`, `crate::dialect::postgres`), and takes from its parent (`super::`)
//! the database type, the store type and the few dialect items listed in `crate::dialect`:
//! how write transactions begin, how versions are bumped and authz events appended, row lock clauses, `LIKE`, the
//! string aggregate, the key-rotation lock and the wake-up channel.
//!
//! Here live what every capability shares: the write transactions, the authz version bump and
//! event append ([`bump`], only callable inside an [`AuthzTx`]), the authz event log, the end
//! of a user's sessions and refresh tokens (`end_user_sessions`, for a block or a password
//! reset), and the `Store` helpers for reading one row by key, one page of a listing, the
//! outboxes' leases (`mail`, `ssf`) and pruning in batches.
//! [`bump`] is the one place an authz version is incremented: every write that changes a
//! user's or a client's effective rights calls it inside its own transaction, so the version
//! and the event commit (or roll back) with the change.
//! Each capability has its file: `rbac` (roles, users, grants, effective permissions),
//! `catalog` (APIs, clients, client grants, signing keys), `groups` (the group tree, its
//! members and roles), `login` (sessions, codes, refresh
//! tokens), `consent`, `audit`, `mail` (the outbox and one-time links).

mod actions;
mod audit;
mod catalog;
mod consent;
mod groups;
mod login;
mod mail;
mod membership;
mod mfa;
mod passkeys;
pub(super) mod rbac;
mod ssf;

use std::ops::{Deref, DerefMut};
use std::sync::LazyLock;

use sqlx::Transaction;

use super::{
    DB, FOR_KEY_SHARE, FOR_UPDATE, LIKE, STRING_AGG, Store, WriterTurn, begin_authz_write,
    begin_write, bump_and_log, id_list, limit_lock_waits, lock_key_rotation, rotation_queue,
    write_pool, writer_turn,
};
use crate::common::{Affected, PRUNE_BATCH, Subjects, normalize_time, now_rfc3339};
use crate::{AuthzEvent, AuthzEventStore, AuthzPage, Lifecycle, Page, Paged, Result};

/// This database's connection type.
type Conn = <DB as sqlx::Database>::Connection;
/// A statement with its arguments, on this database.
type Query<'q> = sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments>;

impl Store {
    /// A write transaction for writes that cannot change effective permissions.
    async fn write(&self) -> Result<WriteTx> {
        let turn = writer_turn(self).await;
        Ok(WriteTx(begin_write(self).await?, turn))
    }

    /// Runs one write statement as a transaction of its own, as a writer: in this process's
    /// turn and on the writing connection (SQLite), so that it queues with the other writers
    /// instead of racing them for the database lock in the busy handler's sleeps; on
    /// PostgreSQL, like any statement on the pool. How many rows it changed; the database's
    /// error as it is, for the caller to tell a constraint's violation from the rest.
    async fn write_one(&self, q: Query<'_>) -> sqlx::Result<u64> {
        let _turn = writer_turn(self).await;
        Ok(q.execute(write_pool(self)).await?.rows_affected())
    }

    /// A write transaction that may change effective permissions (see [`AuthzTx`]).
    async fn authz_write(&self) -> Result<AuthzTx> {
        let turn = writer_turn(self).await;
        Ok(AuthzTx(WriteTx(begin_authz_write(self).await?, turn)))
    }

    /// Deletes a user, role, API or client (`delete`, keyed by `$1` = the id of `who`), bumping
    /// `who` first in the same transaction so the tokens already issued to them are refused;
    /// `NotFound(what)` when no row went.
    async fn delete_bumping(
        &self,
        who: Affected<'_>,
        kind: &str,
        delete: &'static str,
        what: &'static str,
    ) -> Result<()> {
        let mut tx = self.authz_write().await?;
        bump(&mut tx, who, kind).await?;
        let n = sqlx::query(delete)
            .bind(who.id())
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(crate::StoreError::NotFound(what));
        }
        tx.commit().await
    }

    /// The row `select` (a `SELECT` keyed by `$1` = `key`) reads, if there is one.
    async fn by_key<R>(&self, select: impl sqlx::SqlSafeStr, key: &str) -> Result<Option<R>>
    where
        R: for<'r> sqlx::FromRow<'r, <DB as sqlx::Database>::Row> + Send + Unpin,
    {
        Ok(sqlx::query_as(select)
            .bind(key)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// One page of a listing and the count of all its rows: `list` (ending in `LIMIT $n+1
    /// OFFSET $n+2`) and `count` (a `SELECT COUNT(*)` with the same conditions) both bind the
    /// `n` `keys` as `$1` … `$n`; `item` makes each row an item.
    async fn paged<R, T>(
        &self,
        list: impl sqlx::SqlSafeStr,
        count: impl sqlx::SqlSafeStr,
        keys: &[Option<&str>],
        page: Page,
        item: impl FnMut(R) -> Result<T>,
    ) -> Result<Paged<T>>
    where
        R: for<'r> sqlx::FromRow<'r, <DB as sqlx::Database>::Row> + Send + Unpin,
    {
        let mut rows = sqlx::query_as::<_, R>(list);
        for key in keys {
            rows = rows.bind(*key);
        }
        let rows = rows
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await?;
        let mut total = sqlx::query_scalar::<_, i64>(count);
        for key in keys {
            total = total.bind(*key);
        }
        let total = total.fetch_one(&self.pool).await?;
        Ok(Paged {
            items: rows.into_iter().map(item).collect::<Result<_>>()?,
            total,
        })
    }

    /// Leases up to `limit` due messages of an outbox (the mail's or the SETs') to `worker`, in
    /// a write transaction: `claim` is an `UPDATE … RETURNING` binding `$1` = `worker`, `$2` =
    /// `now`, `$3` = `lease` and `$4` = `limit`; the rows it returns are the claimed ones.
    async fn claim<R>(
        &self,
        claim: impl sqlx::SqlSafeStr,
        worker: &str,
        now: i64,
        lease: i64,
        limit: i64,
    ) -> Result<Vec<R>>
    where
        R: for<'r> sqlx::FromRow<'r, <DB as sqlx::Database>::Row> + Send + Unpin,
    {
        let mut tx = self.write().await?;
        let rows = sqlx::query_as(claim)
            .bind(worker)
            .bind(now)
            .bind(lease)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// Records a failed delivery of the outbox message `key` that `worker` holds: `release` is
    /// an `UPDATE … WHERE <key> = $1 AND claimed_by = $2` binding the error (its first 1,000
    /// characters) as `$3` and `retry_at` as `$4`; `false` when `worker` no longer held it.
    async fn release_failed(
        &self,
        release: &'static str,
        key: &str,
        worker: &str,
        error: &str,
        retry_at: Option<i64>,
    ) -> Result<bool> {
        let error: String = error.chars().take(1000).collect();
        let n = self
            .write_one(
                sqlx::query(release)
                    .bind(key)
                    .bind(worker)
                    .bind(&error)
                    .bind(retry_at),
            )
            .await?;
        Ok(n == 1)
    }

    /// Runs `delete` (a `DELETE` of at most `$2` rows dated before `$1`) in batches of
    /// [`PRUNE_BATCH`] until one deletes fewer, so no batch holds locks for long; returns how
    /// many rows went.
    async fn prune(&self, delete: &'static str, before: &str) -> Result<u64> {
        let mut total = 0;
        loop {
            let n = self
                .write_one(sqlx::query(delete).bind(before).bind(PRUNE_BATCH))
                .await?;
            total += n;
            if n < PRUNE_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}

/// A write transaction begun by the dialect's `begin_write`, with the writer turn the dialect
/// holds for it (SQLite: this process's writers queue in order; see `writer_turn`), released
/// after the transaction ends (fields drop in order).
pub(crate) struct WriteTx(Transaction<'static, DB>, #[allow(dead_code)] WriterTurn);

impl WriteTx {
    /// Commits, with the audit entry waiting to ride a transaction on this task, if any
    /// (`crate::riding`): the entry and the change land together or not at all.
    async fn commit(mut self) -> Result<()> {
        let Some(entry) = crate::riding::take() else {
            return Ok(self.0.commit().await?);
        };
        let done = match audit::insert(&entry).execute(&mut *self.0).await {
            Ok(_) => self.0.commit().await,
            Err(e) => Err(e),
        };
        crate::riding::settle(entry, done.is_ok());
        Ok(done?)
    }
}

impl Deref for WriteTx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.0
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.0
    }
}

/// A write transaction begun by the dialect's `begin_authz_write` (on PostgreSQL it holds the
/// authz log head lock from the start): the only kind [`bump`] accepts, so every version bump
/// and event append happens inside one.
pub(crate) struct AuthzTx(WriteTx);

impl AuthzTx {
    async fn commit(self) -> Result<()> {
        self.0.commit().await
    }
}

impl Deref for AuthzTx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        &self.0
    }
}

impl DerefMut for AuthzTx {
    fn deref_mut(&mut self) -> &mut Conn {
        &mut self.0
    }
}

/// Raises the authz version of every affected subject (users, groups or a client) and appends
/// one event each, inside `tx`: one or two statements per table whatever their number (the
/// dialect's `bump_and_log`).
pub(crate) async fn bump(tx: &mut AuthzTx, who: Affected<'_>, kind: &str) -> Result<()> {
    let at = now_rfc3339();
    for s in who.subjects() {
        bump_and_log(tx, &s, who.id(), kind, &at).await?;
    }
    Ok(())
}

/// Raises the authz version of each listed user (`ids`, a JSON array of user ids) and
/// appends one event each, inside `tx`, as [`bump`] does.
pub(crate) async fn bump_users(tx: &mut AuthzTx, ids: &str, kind: &str) -> Result<()> {
    static LISTED: LazyLock<String> = LazyLock::new(|| id_list("$1"));
    bump_and_log(tx, &Subjects::users(&LISTED), ids, kind, &now_rfc3339()).await
}

/// Ends everything that speaks for a user without a new login: SSO sessions, console sessions
/// and refresh tokens (revoked, kept for reuse detection), inside the caller's transaction
/// (a block, a password reset: `rbac`, `mail`).
async fn end_user_sessions(conn: &mut Conn, user_id: &str) -> Result<()> {
    for sql in [
        "DELETE FROM sessions WHERE user_id = $1",
        "DELETE FROM console_sessions WHERE user_id = $1",
        "UPDATE refresh_tokens SET revoked = TRUE WHERE user_id = $1 AND NOT revoked",
    ] {
        sqlx::query(sql).bind(user_id).execute(&mut *conn).await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl AuthzEventStore for Store {
    async fn authz_events_after(&self, after: i64, limit: i64) -> Result<AuthzPage> {
        // A group's record (`members_of`) becomes one event per direct member, read now: a
        // member who joined since got a newer version of their own, one who left got one too,
        // so the expansion never tells a follower less than the members' versions (see the
        // migration `0012_group_versions`). A group without members yields no event, but its
        // record still moves `next`. The page stops before a group's record once `limit`
        // events are read, so it holds at most `limit` events plus one group's members.
        type Record = (i64, String, i64, String, String, Option<String>);
        let records: Vec<Record> = sqlx::query_as(
            "SELECT seq, user_id, version, kind, at, members_of FROM authz_events \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let full = usize::try_from(limit).unwrap_or(0).max(1);
        let mut page = AuthzPage {
            events: Vec::new(),
            next: after,
        };
        for (seq, subject, version, kind, at, group) in records {
            let event = |subject| AuthzEvent {
                seq,
                subject,
                version,
                kind: kind.clone(),
                at: at.clone(),
            };
            match group {
                None => page.events.push(event(subject)),
                Some(_) if page.events.len() >= full => break,
                Some(group) => {
                    let members: Vec<String> = sqlx::query_scalar(
                        "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id",
                    )
                    .bind(&group)
                    .fetch_all(&self.pool)
                    .await?;
                    page.events.extend(members.into_iter().map(event));
                }
            }
            page.next = seq;
        }
        Ok(page)
    }

    async fn authz_events_of(
        &self,
        subject: &str,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<AuthzEvent>> {
        // A group's record names the group in `user_id`: the subject's groups are read now,
        // as the feed's expansion reads the members now.
        let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
            "SELECT seq, version, kind, at FROM authz_events \
             WHERE seq > $1 AND seq <= $2 AND ( \
               (members_of IS NULL AND user_id = $3) OR \
               (members_of IS NOT NULL AND user_id IN \
                 (SELECT group_id FROM group_members WHERE user_id = $3))) \
             ORDER BY seq LIMIT $4",
        )
        .bind(after)
        .bind(upto)
        .bind(subject)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, version, kind, at)| AuthzEvent {
                seq,
                subject: subject.to_owned(),
                version,
                kind,
                at,
            })
            .collect())
    }

    async fn authz_head(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM authz_events")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn prune_authz_events(&self, older_than: &str) -> Result<u64> {
        let before = normalize_time("older_than", older_than)?;
        self.prune(
            "DELETE FROM authz_events WHERE seq IN \
             (SELECT seq FROM authz_events WHERE at < $1 \
              AND seq < (SELECT MAX(seq) FROM authz_events) ORDER BY seq LIMIT $2)",
            &before,
        )
        .await
    }

    async fn catalog_version(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT version FROM catalog_state WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    fn wakeups(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        super::wakeups(self)
    }
}

#[async_trait::async_trait]
impl Lifecycle for Store {
    /// Closes every connection (SQLite: checkpointing the WAL).
    async fn close(&self) {
        super::close(self).await;
    }

    async fn schema_status(&self) -> Result<crate::migrate::SchemaStatus> {
        super::check_file(self)?;
        let mut conn = self.pool.acquire().await?;
        crate::migrate::status::<DB>(
            &mut *conn,
            super::BACKEND,
            crate::migrate::embedded(super::BACKEND),
        )
        .await
    }

    fn wakeups_connected(&self) -> Option<bool> {
        super::wakeups_connected(self)
    }

    fn pool_use(&self) -> crate::PoolUse {
        crate::PoolUse {
            size: self.pool.size(),
            idle: self.pool.num_idle() as u32,
        }
    }
}
