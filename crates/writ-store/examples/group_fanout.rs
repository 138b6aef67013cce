//! Measures the freshness fan-out of a group write: a three-level tree (one top group, 10
//! middle groups, 10 leaves under each) with `GROUP_FANOUT_USERS` members (default 100,000)
//! spread over the leaves, then times adding a role to the top group and removing it again:
//! each write raises the version of the subtree's 111 groups and appends one record each
//! (members' effective versions follow their groups'), in one transaction. Prints
//! p50/p99/max per write on each backend, and then deletes the tree `GROUP_FANOUT_RUNS` times
//! (growing a new one with the same members each time): the delete, O(groups) too, and the
//! sweep that then moves the members out in batches, raising each one's own version.
//!
//! A follower of the authz event feed runs beside the writes, as a node's feed does: woken by
//! the store's push signal where there is one (PostgreSQL `LISTEN`, with a one-second safety
//! poll), else polling the head every 25 ms, it reads `authz_events_after` in pages of
//! `GROUP_FANOUT_PAGE` records (default 500, the server's feed page; a group's record is one
//! event per member) until the log is exhausted, and checks that each write told every member
//! once. For each write it also prints how long after the write began the follower had read
//! the write's last event: the time until a guard following the feed has the whole change.
//!
//! `cargo run --release -p writ-store --example group_fanout` runs on SQLite (a temporary
//! file); with `WRIT_TEST_POSTGRES_URL` set it also runs on a fresh database of that server
//! (created and dropped). `GROUP_FANOUT_RUNS` (default 7) sets how many writes of each kind.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::Connection;
use writ_core::{Permission, ResourceServer, Scope, SigningAlg, TokenDialect};
use writ_store::*;

const LEAVES: usize = 100;

/// A closure running one SQL text on a store's pool (either database).
macro_rules! exec {
    ($store:expr) => {
        |sql: String| {
            let pool = $store.pool().clone();
            async move {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        }
    };
}

/// A closure reading a user's own `authz_version` column (what the store read before group
/// versions), on a store's pool (either database).
macro_rules! plain {
    ($store:expr) => {
        |id: String| {
            let pool = $store.pool().clone();
            async move {
                sqlx::query_scalar::<_, i64>("SELECT authz_version FROM users WHERE id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .unwrap()
            }
        }
    };
}

/// What the token path pays for group versions: a user's version read as the store reads it
/// (their own or their newest group's, [`UserStore::authz_version`]) against the plain column
/// read, alternated in batches on one connection pool, for a member of a leaf and for a user
/// in no group. Prints microseconds per read and the ratio.
async fn version_reads<S, E, EF, P, PF>(backend: &str, store: &S, exec: E, plain: P)
where
    S: UserStore,
    E: Fn(String) -> EF,
    EF: std::future::Future<Output = ()>,
    P: Fn(String) -> PF,
    PF: std::future::Future<Output = i64>,
{
    exec(
        "INSERT INTO users (id, email, created_at, updated_at) \
         VALUES ('usr_alone', 'alone@example.com', '', '')"
            .into(),
    )
    .await;
    const BATCH: usize = 1_000;
    for (who, id) in [
        ("a leaf's member", "usr_fan0"),
        ("a user in no group", "usr_alone"),
    ] {
        let (mut effective, mut own) = (Duration::ZERO, Duration::ZERO);
        for _ in 0..10 {
            let t = Instant::now();
            for _ in 0..BATCH {
                std::hint::black_box(store.authz_version(id).await.unwrap());
            }
            effective += t.elapsed();
            let t = Instant::now();
            for _ in 0..BATCH {
                std::hint::black_box(plain(id.to_owned()).await);
            }
            own += t.elapsed();
        }
        let per = |d: Duration| d.as_secs_f64() * 1e6 / (10 * BATCH) as f64;
        println!(
            "{backend}: version read for {who}: {:.1} µs (own or groups') vs {:.1} µs (own column): {:.2}×",
            per(effective),
            per(own),
            per(effective) / per(own)
        );
    }
}

#[tokio::main]
async fn main() {
    let users: usize = env("GROUP_FANOUT_USERS", 100_000);
    let runs: usize = env("GROUP_FANOUT_RUNS", 7);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/fanout.db", dir.path().display());
    let sqlite = SqliteStore::open(&url).await.unwrap();
    let tree = fill(&sqlite, users, exec!(sqlite)).await;
    version_reads("sqlite", &sqlite, exec!(sqlite), plain!(sqlite)).await;
    tree.report("sqlite", &sqlite, runs, exec!(sqlite)).await;

    let Ok(base) = std::env::var("WRIT_TEST_POSTGRES_URL") else {
        eprintln!("WRIT_TEST_POSTGRES_URL is not set: PostgreSQL skipped");
        return;
    };
    let admin = sqlx::postgres::PgConnectOptions::from_str(&base).unwrap();
    let name = format!("writ_fanout_{:08x}", rand_u32());
    let mut c = sqlx::PgConnection::connect_with(&admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut c)
        .await
        .unwrap();
    let pg = PgStore::open_with(admin.clone().database(&name))
        .await
        .unwrap();
    let tree = fill(&pg, users, exec!(pg)).await;
    version_reads("postgres", &pg, exec!(pg), plain!(pg)).await;
    tree.report("postgres", &pg, runs, exec!(pg)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (hot, all): (i64, i64) = sqlx::query_as(
        "SELECT n_tup_hot_upd, n_tup_upd FROM pg_stat_user_tables WHERE relname = 'users'",
    )
    .fetch_one(pg.pool())
    .await
    .unwrap();
    println!("postgres: {hot} of {all} user row updates were heap-only (no index writes)");
    pg.pool().close().await;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut c)
    .await
    .unwrap();
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn rand_u32() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
}

/// The tree made by [`fill`]: its top group and the role to add to it.
struct Tree {
    top: String,
    role: String,
    /// How many users are in the tree (each in one leaf).
    members: usize,
}

/// Creates the tree through the store, and the users and memberships in bulk through `exec`
/// (plain SQL, the same on both databases).
async fn fill<S, F, Fut>(store: &S, users: usize, exec: F) -> Tree
where
    S: GroupStore + RoleStore + ResourceServerStore,
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let api = store
        .create_resource_server(ResourceServer {
            is_system: false,
            token_claims: Default::default(),
            allow_offline_access: false,
            token_dialect: TokenDialect::AccessTokenAuthz,
            enforce_policies: true,
            token_lifetime: 3600,
            signing_alg: SigningAlg::RS256,
            scopes: vec![Scope {
                description: "read".into(),
                value: "read".into(),
            }],
            name: "fanout".into(),
            identifier: "https://fanout.example/".into(),
            id: String::new(),
        })
        .await
        .unwrap();
    let role = store.create_role("reader", "").await.unwrap();
    store
        .add_role_permissions(
            &role.id,
            &[Permission {
                resource_server_identifier: api.identifier.clone(),
                permission_name: "read".into(),
            }],
        )
        .await
        .unwrap();
    let started = Instant::now();
    exec(format!(
        "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {users}) \
         INSERT INTO users (id, email, created_at, updated_at) \
         SELECT 'usr_fan' || i, 'fan' || i || '@example.com', '', '' FROM n"
    ))
    .await;
    let top = grow(store, users, &exec).await;
    eprintln!(
        "{users} members in {LEAVES} leaves, filled in {:?}",
        started.elapsed()
    );
    Tree {
        top,
        role: role.id,
        members: users,
    }
}

/// Creates a tree (`top`, 10 middle groups, 10 leaves under each) through the store and puts
/// the `users` made by [`fill`] in its leaves in bulk; returns the top group's id.
async fn grow<S, F, Fut>(store: &S, users: usize, exec: &F) -> String
where
    S: GroupStore,
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let top = store.create_group("top", "", None).await.unwrap();
    let mut leaves = Vec::new();
    for m in 0..LEAVES / 10 {
        let mid = store
            .create_group(&format!("mid{m}"), "", Some(&top.id))
            .await
            .unwrap();
        for l in 0..10 {
            let leaf = store
                .create_group(&format!("leaf{l}"), "", Some(&mid.id))
                .await
                .unwrap();
            leaves.push(leaf.id);
        }
    }
    for (k, leaf) in leaves.iter().enumerate() {
        exec(format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {users}) \
             INSERT INTO group_members (group_id, user_id) \
             SELECT '{leaf}', 'usr_fan' || i FROM n WHERE i % {LEAVES} = {k}"
        ))
        .await;
    }
    top.id
}

impl Tree {
    /// Adds and removes the role on the top group `runs` times each, and prints the latencies.
    async fn report<S, F, Fut>(&self, backend: &str, store: &S, runs: usize, exec: F)
    where
        S: GroupStore + AuthzEventStore + Clone + 'static,
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let role = std::slice::from_ref(&self.role);
        let follower = Follower::start(store.clone()).await;
        let (mut add, mut remove) = (Vec::new(), Vec::new());
        let (mut add_seen, mut remove_seen) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            for adding in [true, false] {
                let read_before = follower.events();
                let t = Instant::now();
                if adding {
                    store.add_group_roles(&self.top, role).await.unwrap();
                } else {
                    store.remove_group_roles(&self.top, role).await.unwrap();
                }
                let took = t.elapsed();
                let seen = follower.seen(store.authz_head().await.unwrap(), t).await;
                // Every member was told, once (one record per group, expanded when read).
                assert_eq!(follower.events() - read_before, self.members);
                let (w, s) = if adding {
                    (&mut add, &mut add_seen)
                } else {
                    (&mut remove, &mut remove_seen)
                };
                w.push(took);
                s.push(seen);
            }
        }
        let head = store.authz_head().await.unwrap();
        println!("{backend}: authz log head {head} after {runs} adds and {runs} removes");
        print(backend, "add role to top group", add);
        print(backend, "  follower has its last event", add_seen);
        print(backend, "remove role from top group", remove);
        print(backend, "  follower has its last event", remove_seen);
        // Deleting the tree: O(groups) as well (the subtree is marked deleted and its groups
        // bumped, one record each); the members leave afterwards, in batches, as the server's
        // sweep does, each with a version and an event of their own. Each run deletes the tree
        // and grows a new one with the same members.
        let (mut delete, mut delete_seen, mut sweep, mut sweep_seen) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut top = self.top.clone();
        for run in 0..runs {
            let read_before = follower.events();
            let t = Instant::now();
            store.delete_group(&top).await.unwrap();
            delete.push(t.elapsed());
            delete_seen.push(follower.seen(store.authz_head().await.unwrap(), t).await);
            let t = Instant::now();
            let mut left = 0;
            loop {
                match store.sweep_deleted_groups(SWEEP_BATCH).await.unwrap() {
                    0 => break,
                    n => left += n as usize,
                }
            }
            sweep.push(t.elapsed());
            sweep_seen.push(follower.seen(store.authz_head().await.unwrap(), t).await);
            assert_eq!(left, self.members);
            // Told twice: by the groups' records, then by each member's own event.
            assert_eq!(follower.events() - read_before, 2 * self.members);
            if run + 1 < runs {
                top = grow(store, self.members, &exec).await;
            }
        }
        follower.task.abort();
        print(backend, "delete the top group", delete);
        print(backend, "  follower has its last event", delete_seen);
        print(
            backend,
            "  then the members leave (sweep, all batches)",
            sweep,
        );
        print(backend, "  follower has the sweep's last event", sweep_seen);
    }
}

/// Members leaving deleted groups per transaction, as the server's sweep does.
const SWEEP_BATCH: u32 = 2_000;

/// A follower of the authz event log, in its own task: what it has read so far (the seq of the
/// last record, the events read, and when it read it).
struct Follower {
    read: tokio::sync::watch::Receiver<(i64, usize, Instant)>,
    task: tokio::task::JoinHandle<()>,
}

impl Follower {
    async fn start<S: AuthzEventStore + Clone + 'static>(store: S) -> Self {
        let start = store.authz_head().await.unwrap();
        // The server's SSE stream reads 500 events at a time.
        let page_size = env("GROUP_FANOUT_PAGE", 500) as i64;
        let (tx, read) = tokio::sync::watch::channel((start, 0, Instant::now()));
        let task = tokio::spawn(async move {
            let mut wakeups = store.wakeups();
            let mut cursor = start;
            let mut events = 0;
            loop {
                loop {
                    let page = store.authz_events_after(cursor, page_size).await.unwrap();
                    if page.next == cursor {
                        break;
                    }
                    cursor = page.next;
                    events += page.events.len();
                    tx.send_replace((cursor, events, Instant::now()));
                }
                match &mut wakeups {
                    Some(rx) => {
                        let _ = tokio::time::timeout(Duration::from_secs(1), rx.changed()).await;
                    }
                    None => tokio::time::sleep(Duration::from_millis(25)).await,
                }
            }
        });
        Follower { read, task }
    }

    /// How long after `began` the follower had read up to `seq`.
    async fn seen(&self, seq: i64, began: Instant) -> Duration {
        let mut read = self.read.clone();
        let (_, _, at) = *read.wait_for(|(c, _, _)| *c >= seq).await.unwrap();
        at.duration_since(began)
    }

    /// How many events (one per member for a group's record) the follower has read so far.
    fn events(&self) -> usize {
        self.read.borrow().1
    }
}

fn print(backend: &str, what: &str, mut times: Vec<Duration>) {
    times.sort();
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{backend}: {what}: p50 {:?} p99 {:?} max {:?} (n = {})",
        at(0.5),
        at(0.99),
        times[times.len() - 1],
        times.len()
    );
}
