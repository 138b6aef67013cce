//! Pure helpers of the store that need no database type: id generation, timestamps, JSON
//! column encoding/decoding, the mapping of unique and foreign-key violations, the statements
//! that bump authz versions, audit-log rows and filters. Nothing here touches a connection, so
//! both databases produce byte-identical ids, timestamps and JSON text (and this file is
//! compiled once, unlike `sql/`, which is compiled per database).

use rand::Rng;
use serde_json::{Map, Value};

use crate::{Result, StoreError};

/// The current time as RFC 3339 UTC text with milliseconds (sorts lexicographically).
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `prefix_` followed by 16 random alphanumerics, like Auth0's ids.
pub(crate) fn new_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let tail: String = (0..16)
        .map(|_| rng.sample(rand::distr::Alphanumeric) as char)
        .collect();
    format!("{prefix}_{tail}")
}

/// Maps a unique-constraint violation to `Conflict(msg)`, anything else to `Db`.
pub(crate) fn unique(msg: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(msg.into()),
        _ => StoreError::Db(e),
    }
}

/// Maps a foreign-key violation to `NotFound(what)` (a row the write refers to is missing),
/// anything else to `Db`.
pub(crate) fn missing(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => StoreError::NotFound(what),
        _ => StoreError::Db(e),
    }
}

/// Decodes a JSON array-of-strings column.
pub(crate) fn json_vec(s: &str) -> Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Decodes a JSON object column (`app_metadata`, `user_metadata`).
pub(crate) fn json_obj(s: &str) -> Result<Map<String, Value>> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Encodes a value for a JSON text column.
pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Escapes `%`, `_` and `\` and wraps in `%…%`: a substring pattern for `LIKE … ESCAPE '\'`.
pub(crate) fn like_pattern(f: &str) -> String {
    format!(
        "%{}%",
        f.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

/// Whose authz version a bump raises.
#[derive(Clone, Copy)]
pub(crate) enum Affected<'a> {
    User(&'a str),
    /// Users holding this role directly, and the groups holding it with their subtrees.
    RoleHolders(&'a str),
    /// Users holding a permission of this API directly or through a direct role, and the
    /// groups holding a role with such a permission, with their subtrees.
    ApiHolders(&'a str),
    /// A machine client (by client_id): its event names `<client_id>@clients`.
    Client(&'a str),
    /// Every group of a subtree (a role added to or removed from its root, the root moved or
    /// renamed): one version and one event per group, whatever the number of members, whose
    /// effective versions follow their groups' (see the migration `0012_group_versions`).
    /// A deleted subtree's too: its members leave afterwards, see
    /// `GroupStore::sweep_deleted_groups`.
    GroupTree(&'a str),
}

/// The groups of the subtree rooted at `$1` (tree walks start from a table, so PostgreSQL
/// keeps the ids' collation).
pub(crate) const GROUP_TREE: &str = "WITH RECURSIVE tree(id) AS ( \
       SELECT id FROM groups WHERE id = $1 \
       UNION SELECT g.id FROM groups g JOIN tree t ON g.parent_id = t.id) \
     SELECT id FROM tree";

impl Affected<'_> {
    /// The id the bump is keyed by (`$1` of [`Affected::subjects`]).
    pub(crate) fn id(&self) -> &str {
        match self {
            Affected::User(id)
            | Affected::RoleHolders(id)
            | Affected::ApiHolders(id)
            | Affected::Client(id)
            | Affected::GroupTree(id) => id,
        }
    }

    /// Whose versions a bump raises: for each table, its rows and a subquery (over `$1`, the
    /// [`Affected::id`]) of their keys.
    pub(crate) fn subjects(&self) -> Vec<Subjects<'static>> {
        match self {
            Affected::User(_) => vec![Subjects::users("$1")],
            Affected::RoleHolders(_) => vec![
                Subjects::users("SELECT user_id FROM user_roles WHERE role_id = $1"),
                Subjects::groups(
                    "WITH RECURSIVE role_groups(id) AS ( \
                       SELECT group_id FROM group_roles WHERE role_id = $1 \
                       UNION SELECT g.id FROM groups g JOIN role_groups rg ON g.parent_id = rg.id) \
                     SELECT id FROM role_groups",
                ),
            ],
            Affected::ApiHolders(_) => vec![
                Subjects::users(
                    "SELECT user_id FROM user_permissions WHERE rs_id = $1 \
                     UNION SELECT ur.user_id FROM user_roles ur \
                       JOIN role_permissions rp ON rp.role_id = ur.role_id WHERE rp.rs_id = $1",
                ),
                Subjects::groups(
                    "WITH RECURSIVE api_groups(id) AS ( \
                       SELECT gr.group_id FROM group_roles gr \
                         JOIN role_permissions rp ON rp.role_id = gr.role_id WHERE rp.rs_id = $1 \
                       UNION SELECT g.id FROM groups g JOIN api_groups ag ON g.parent_id = ag.id) \
                     SELECT id FROM api_groups",
                ),
            ],
            Affected::GroupTree(_) => vec![Subjects::groups(GROUP_TREE)],
            Affected::Client(_) => vec![Subjects {
                table: "clients",
                key: "client_id",
                subject: "client_id || '@clients'",
                ids: "$1",
                members_of: false,
            }],
        }
    }
}

/// The subjects of one bump: the rows of `table` whose `key` is among `ids` (a subquery, or a
/// single value, over `$1`); `subject` names each in its authz event (a user id,
/// `<client_id>@clients`, or a group id). The dialect's `bump_and_log` sets each row's version
/// to the `seq` of the event it appends for it, without sending the rows to the client.
pub(crate) struct Subjects<'s> {
    pub(crate) table: &'static str,
    pub(crate) key: &'static str,
    pub(crate) subject: &'static str,
    pub(crate) ids: &'s str,
    /// The rows are groups: each event stands for the group's direct members (`members_of`),
    /// expanded when the feed is read.
    pub(crate) members_of: bool,
}

impl<'s> Subjects<'s> {
    /// Users whose id is among `ids`.
    pub(crate) fn users(ids: &'s str) -> Self {
        Subjects {
            table: "users",
            key: "id",
            subject: "id",
            ids,
            members_of: false,
        }
    }

    /// Groups whose id is among `ids`.
    pub(crate) fn groups(ids: &'s str) -> Self {
        Subjects {
            table: "groups",
            key: "id",
            subject: "id",
            ids,
            members_of: true,
        }
    }

    /// The value of an event's `members_of` column for these subjects (SQL).
    pub(crate) fn members_of_sql(&self) -> &'static str {
        if self.members_of { "subject" } else { "NULL" }
    }
}

/// The authz event kind for a client update, if it takes something away from what the
/// client's machine tokens may do (a new secret; a grant type removed); `None` otherwise. A
/// change that only adds leaves the tokens already issued as good as they were.
pub(crate) fn client_change(
    old: &writ_core::Client,
    new: &writ_core::Client,
) -> Option<&'static str> {
    if old.secret_hash != new.secret_hash {
        Some("client_secret_changed")
    } else if old.grant_types.iter().any(|g| !new.grant_types.contains(g)) {
        Some("client_grant_types_changed")
    } else {
        None
    }
}

/// Whether a client grant's new scopes take away any of the old ones (its tokens are then
/// stale; added scopes leave them valid).
pub(crate) fn scopes_removed(old: &[String], new: &[String]) -> bool {
    old.iter().any(|s| !new.contains(s))
}

/// `a ∪ b`, sorted, without duplicates (consented scopes).
pub(crate) fn union_sorted(a: &[String], b: &[String]) -> Vec<String> {
    let mut v: Vec<String> = a.iter().chain(b).cloned().collect();
    v.sort();
    v.dedup();
    v
}

/// Auth0's limit on roles per user.
pub(crate) const MAX_ROLES_PER_USER: i64 = 50;
/// Auth0's limit on permissions per role and direct permissions per user.
pub(crate) const MAX_PERMISSIONS: i64 = 1000;

/// Parses an RFC 3339 timestamp and returns it in the store's format (UTC, milliseconds, `Z`),
/// so that text comparison orders it correctly against stored dates.
pub(crate) fn normalize_time(field: &str, s: &str) -> Result<String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        })
        .map_err(|_| {
            StoreError::Invalid(writ_core::ValidationError::new(
                field,
                format!("'{s}' is not an RFC 3339 date-time"),
            ))
        })
}

/// A new audit log id: the entry's unix milliseconds (13 digits) then 11 random digits, so ids
/// are numeric strings like Auth0's and sort by time.
pub(crate) fn new_log_id(date: &str) -> String {
    let millis = chrono::DateTime::parse_from_rfc3339(date)
        .map(|t| t.timestamp_millis().max(0))
        .unwrap_or(0);
    let tail: u64 = rand::rng().random_range(0..100_000_000_000);
    format!("{millis:013}{tail:011}")
}

/// An `audit_log` row as both backends read it.
#[derive(sqlx::FromRow)]
pub(crate) struct LogRow {
    log_id: String,
    date: String,
    #[sqlx(rename = "type")]
    log_type: String,
    description: String,
    ip: Option<String>,
    user_agent: Option<String>,
    client_id: Option<String>,
    client_name: Option<String>,
    user_id: Option<String>,
    user_name: Option<String>,
    connection: Option<String>,
    details: String,
}

/// The columns [`LogRow`] reads, in a `SELECT`.
pub(crate) const LOG_COLUMNS: &str = "log_id, date, type, description, ip, user_agent, client_id, \
     client_name, user_id, user_name, connection, details";

impl TryFrom<LogRow> for crate::LogEntry {
    type Error = StoreError;
    fn try_from(r: LogRow) -> Result<Self> {
        Ok(crate::LogEntry {
            log_id: r.log_id,
            date: r.date,
            log_type: r.log_type,
            description: r.description,
            ip: r.ip,
            user_agent: r.user_agent,
            client_id: r.client_id,
            client_name: r.client_name,
            user_id: r.user_id,
            user_name: r.user_name,
            connection: r.connection,
            details: serde_json::from_str(&r.details)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
        })
    }
}

/// A new entry made ready to insert: its date normalized (now when unset) and its id made.
pub(crate) fn prepare_log(e: &crate::NewLogEntry) -> Result<crate::LogEntry> {
    let date = match &e.date {
        Some(d) => normalize_time("date", d)?,
        None => now_rfc3339(),
    };
    if e.log_type.is_empty() {
        return Err(StoreError::Invalid(writ_core::ValidationError::new(
            "type",
            "a log entry needs a type",
        )));
    }
    Ok(crate::LogEntry {
        log_id: new_log_id(&date),
        date,
        log_type: e.log_type.clone(),
        description: e.description.clone(),
        ip: e.ip.clone(),
        user_agent: e.user_agent.clone(),
        client_id: e.client_id.clone(),
        client_name: e.client_name.clone(),
        user_id: e.user_id.clone(),
        user_name: e.user_name.clone(),
        connection: e.connection.clone(),
        details: e.details.clone(),
    })
}

/// A log filter's date bounds in the store's format.
pub(crate) fn log_bounds(f: &crate::LogFilter) -> Result<(Option<String>, Option<String>)> {
    let norm = |field: &str, d: &Option<String>| {
        d.as_deref().map(|d| normalize_time(field, d)).transpose()
    };
    Ok((norm("from", &f.from)?, norm("to", &f.to)?))
}

/// Appends ` WHERE …` for a log filter (dates already normalized) to a query.
pub(crate) fn push_log_filter<DB>(
    qb: &mut sqlx::QueryBuilder<DB>,
    f: &crate::LogFilter,
    from: Option<String>,
    to: Option<String>,
) where
    DB: sqlx::Database,
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    qb.push(" WHERE 1 = 1");
    if !f.types.is_empty() {
        qb.push(" AND type IN (");
        let mut sep = qb.separated(", ");
        for t in &f.types {
            sep.push_bind(t.clone());
        }
        qb.push(")");
    }
    if let Some(u) = &f.user_id {
        qb.push(" AND user_id = ").push_bind(u.clone());
    }
    if let Some(c) = &f.client_id {
        qb.push(" AND client_id = ").push_bind(c.clone());
    }
    if let Some(d) = from {
        qb.push(" AND date >= ").push_bind(d);
    }
    if let Some(d) = to {
        qb.push(" AND date <= ").push_bind(d);
    }
}

/// How many rows one pruning statement deletes at most (short write locks on SQLite).
pub(crate) const PRUNE_BATCH: i64 = 5_000;

/// A refresh-token rotation waiting for the writer, with what it needs owned and where its
/// outcome goes.
pub(crate) struct QueuedRotation {
    id: String,
    client_id: String,
    child_id: String,
    now: i64,
    idle_lifetime: i64,
    leeway: i64,
    reply: tokio::sync::oneshot::Sender<Result<crate::RotateOutcome>>,
}

impl QueuedRotation {
    pub(crate) fn rotation(&self) -> crate::Rotation<'_> {
        crate::Rotation {
            id: &self.id,
            client_id: &self.client_id,
            child_id: &self.child_id,
            now: self.now,
            idle_lifetime: self.idle_lifetime,
            leeway: self.leeway,
        }
    }

    /// Hands the outcome to the request waiting for it (gone if that request was given up).
    pub(crate) fn reply(self, outcome: Result<crate::RotateOutcome>) {
        let _ = self.reply.send(outcome);
    }
}

/// Refresh-token rotations waiting for the writer: one task at a time (the server) takes the
/// writer's turn and rotates the tokens queued by then in one transaction (a group commit; see
/// the store's `rotate_refresh`). One per store, so one per node on PostgreSQL.
#[derive(Default)]
pub(crate) struct RotationQueue {
    queued: std::sync::Mutex<Vec<QueuedRotation>>,
    /// Whether a server task is running (or about to).
    serving: std::sync::atomic::AtomicBool,
}

/// The most rotations one transaction takes, so another writer waits behind a bounded batch.
pub(crate) const ROTATION_BATCH: usize = 64;

impl RotationQueue {
    /// Queues `r`: the receiver gets its outcome; `Some` when no server is running, so the
    /// caller must start one with what it is given.
    pub(crate) fn push(
        self: &std::sync::Arc<Self>,
        r: crate::Rotation<'_>,
    ) -> (
        tokio::sync::oneshot::Receiver<Result<crate::RotateOutcome>>,
        Option<Serving>,
    ) {
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let queued = QueuedRotation {
            id: r.id.to_owned(),
            client_id: r.client_id.to_owned(),
            child_id: r.child_id.to_owned(),
            now: r.now,
            idle_lifetime: r.idle_lifetime,
            leeway: r.leeway,
            reply,
        };
        self.lock().push(queued);
        let start = !self.serving.swap(true, std::sync::atomic::Ordering::SeqCst);
        let server = start.then(|| Serving {
            queue: self.clone(),
            done: false,
        });
        (outcome, server)
    }

    /// The oldest [`ROTATION_BATCH`] rotations queued at most, in arrival order.
    pub(crate) fn take(&self) -> Vec<QueuedRotation> {
        let mut queued = self.lock();
        let n = queued.len().min(ROTATION_BATCH);
        queued.drain(..n).collect()
    }

    /// Whether nothing is queued now.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The server found the queue empty and stops, unless a rotation was queued meanwhile by
    /// a caller that saw it still running (then it carries on: `true`).
    fn stand_down(&self) -> bool {
        use std::sync::atomic::Ordering::SeqCst;
        self.serving.store(false, SeqCst);
        !self.is_empty() && !self.serving.swap(true, SeqCst)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<QueuedRotation>> {
        self.queued.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The server's standing: made when a rotation finds no server running, and moved into the
/// task it starts. Dropped without standing down (the task panicked, or was dropped by a
/// runtime shutting down, even before it first ran), it marks the server gone, so the next
/// rotation starts another instead of queueing for none.
pub(crate) struct Serving {
    queue: std::sync::Arc<RotationQueue>,
    done: bool,
}

impl Serving {
    pub(crate) fn queue(&self) -> &RotationQueue {
        &self.queue
    }

    /// The queue was found empty: `false` when the server stops (it then no longer runs),
    /// `true` when rotations were queued meanwhile and it carries on.
    pub(crate) fn stand_down(&mut self) -> bool {
        let carry_on = self.queue.stand_down();
        self.done = !carry_on;
        carry_on
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if !self.done {
            self.queue
                .serving
                .store(false, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

#[cfg(test)]
mod rotation_queue_tests {
    use super::*;

    fn rotation(id: &str) -> crate::Rotation<'_> {
        crate::Rotation {
            id,
            client_id: "app",
            child_id: "child",
            now: 1,
            idle_lifetime: 60,
            leeway: 0,
        }
    }

    #[test]
    fn one_server_at_a_time_and_none_lost() {
        let q = std::sync::Arc::new(RotationQueue::default());
        let (_a, server) = q.push(rotation("a"));
        let mut server = server.expect("the first rotation starts a server");
        let (_b, none) = q.push(rotation("b"));
        assert!(none.is_none(), "a second server while one runs");
        assert!(!q.is_empty());
        assert_eq!(q.take().len(), 2);
        assert!(q.is_empty());
        // Queued after the server found the queue empty but before it stood down: it carries on.
        let (_c, none) = q.push(rotation("c"));
        assert!(none.is_none());
        assert!(server.stand_down(), "a queued rotation left with no server");
        assert_eq!(q.take().len(), 1);
        assert!(!server.stand_down());
        drop(server);
        let (_d, next) = q.push(rotation("d"));
        assert!(next.is_some(), "no server after the last stood down");
    }

    #[test]
    fn a_server_gone_before_standing_down_is_replaced() {
        let q = std::sync::Arc::new(RotationQueue::default());
        let (_a, server) = q.push(rotation("a"));
        // The task that held it never ran (its runtime shut down) or panicked.
        drop(server);
        let (_b, next) = q.push(rotation("b"));
        assert!(
            next.is_some(),
            "rotations would wait for a server that is gone"
        );
        assert_eq!(q.take().len(), 2, "both still queued for the next server");
    }

    #[test]
    fn a_batch_is_bounded() {
        let q = std::sync::Arc::new(RotationQueue::default());
        let ids: Vec<String> = (0..ROTATION_BATCH + 5).map(|i| i.to_string()).collect();
        let _outcomes: Vec<_> = ids.iter().map(|id| q.push(rotation(id))).collect();
        assert_eq!(q.take().len(), ROTATION_BATCH);
        assert_eq!(q.take().len(), 5);
        assert!(q.take().is_empty());
    }
}
