//! Concurrency: racing writers over real connections. One winner for a unique email, a code or
//! a refresh token; role assignments and key rotations that queue instead of losing updates;
//! and an authz event log that a concurrent follower reads without gaps, in commit order.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use writ_core::*;
use writ_store::*;

use crate::login::{code, login_fixture, refresh};
use crate::{A, TestStore, conformance, page, perm, total};

conformance!(
    concurrent_creates_of_one_email_have_exactly_one_winner,
    concurrent_role_assignments_all_land_with_distinct_versions,
    concurrent_refresh_rotations_have_exactly_one_winner,
    concurrent_rotations_of_many_tokens_each_land_and_one_failure_fails_alone,
    concurrent_rotations_mixing_good_reused_unknown_and_foreign_tokens,
    rotations_racing_on_two_nodes_have_one_winner_per_token,
    a_rotation_waiting_on_a_locked_token_holds_up_no_other,
    concurrent_code_consumptions_have_exactly_one_fresh,
    concurrent_key_rotations_queue,
    authz_event_log_is_gapless_and_ordered_for_a_concurrent_follower,
    concurrent_changes_to_overlapping_users_neither_deadlock_nor_lose_bumps,
    racing_api_writes_leave_an_algorithm_in_use_published,
);

async fn concurrent_creates_of_one_email_have_exactly_one_winner(t: TestStore) {
    let mut tasks = Vec::new();
    // The same address, spelt in different cases.
    for i in 0..16 {
        let s = t.store.clone();
        let email = match i % 3 {
            0 => "race@example.com",
            1 => "Race@Example.com",
            _ => "RACE@EXAMPLE.COM",
        };
        tasks.push(tokio::spawn(async move {
            s.create_user(NewUser {
                email: email.into(),
                ..Default::default()
            })
            .await
        }));
    }
    let mut ok = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::Conflict(_)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(ok, 1);
    let users = t.store.list_users(None, page(0, 50)).await.unwrap();
    assert_eq!(users.total, 1);
    assert_eq!(users.items[0].email, "race@example.com");
}

async fn concurrent_role_assignments_all_land_with_distinct_versions(t: TestStore) {
    let u = t.user("many@example.com").await;
    let mut roles = Vec::new();
    for i in 0..20 {
        roles.push(
            t.store
                .create_role(&format!("role{i}"), "")
                .await
                .unwrap()
                .id,
        );
    }
    let v0 = t.version(&u.user_id).await;
    let mut tasks = Vec::new();
    for r in roles {
        let s = t.store.clone();
        let uid = u.user_id.clone();
        tasks.push(tokio::spawn(async move {
            s.assign_user_roles(&uid, &[r]).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert_eq!(total(t.store.user_roles(&u.user_id, page(0, 50)).await), 20);
    // Twenty bumps, none lost: twenty events, each version the event's seq, the last the
    // user's.
    let events = t.store.authz_events_after(0, 100).await.unwrap().events;
    let versions: Vec<i64> = events
        .iter()
        .filter(|e| e.subject == u.user_id && e.version > v0)
        .inspect(|e| assert_eq!(e.version, e.seq))
        .map(|e| e.version)
        .collect();
    assert_eq!(versions.len(), 20, "{versions:?}");
    assert!(versions.windows(2).all(|w| w[1] > w[0]), "{versions:?}");
    assert_eq!(t.version(&u.user_id).await, *versions.last().unwrap());
}

async fn concurrent_refresh_rotations_have_exactly_one_winner(t: TestStore) {
    let uid = login_fixture(&t).await;
    t.store
        .create_refresh(&refresh("r0", "f", None, &uid))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = t.store.clone();
        tasks.push(tokio::spawn(async move {
            let child_id = format!("r1-{i}");
            s.rotate_refresh(rotation("r0", &child_id, 100)).await
        }));
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap().unwrap());
    }
    let rotated = outcomes
        .iter()
        .filter(|o| matches!(o, RotateOutcome::Rotated(..)))
        .count();
    assert_eq!(rotated, 1, "{outcomes:?}");
    // The first loser saw the reuse and revoked the family, the winner's child included.
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, RotateOutcome::Reused(_))),
        "{outcomes:?}"
    );
    let children: Vec<RefreshToken> = {
        let mut v = Vec::new();
        for i in 0..12 {
            if let Some(c) = t.store.get_refresh(&format!("r1-{i}")).await.unwrap() {
                v.push(c);
            }
        }
        v
    };
    assert_eq!(children.len(), 1);
    assert!(children[0].revoked);
}

/// Many families refreshing at once (on SQLite they are committed together, in batches): each
/// rotation lands with its own child, and one that fails (its child's id is taken) fails
/// alone, leaving its token unused, while the others in its batch still rotate.
async fn concurrent_rotations_of_many_tokens_each_land_and_one_failure_fails_alone(t: TestStore) {
    let uid = login_fixture(&t).await;
    for i in 0..24 {
        let (id, family) = (format!("p{i}"), format!("f{i}"));
        let token = refresh(&id, &family, None, &uid);
        t.store.create_refresh(&token).await.unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..24 {
        let s = t.store.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("p{i}");
            // Token 7's child would take token 8's id: its insert fails.
            let child_id = if i == 7 {
                "p8".to_owned()
            } else {
                format!("c{i}")
            };
            s.rotate_refresh(rotation(&id, &child_id, 100)).await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let outcome = task.await.unwrap();
        if i == 7 {
            assert!(outcome.is_err(), "{outcome:?}");
            continue;
        }
        let RotateOutcome::Rotated(child, user) = outcome.unwrap() else {
            panic!("token {i} did not rotate");
        };
        // The batch read each token's user with it.
        assert_eq!(user.map(|u| u.user_id), Some(child.user_id.clone()));
        assert_eq!(child.id, format!("c{i}"));
        assert_eq!(child.family_id, format!("f{i}"));
        assert_eq!(child.parent_id.as_deref(), Some(format!("p{i}").as_str()));
        let stored = t.store.get_refresh(&child.id).await.unwrap().unwrap();
        assert_eq!(stored, child);
        let parent = t
            .store
            .get_refresh(&format!("p{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(parent.used_at, Some(100));
    }
    // The failed rotation wrote nothing: its token is unused, and rotates when retried.
    let p7 = t.store.get_refresh("p7").await.unwrap().unwrap();
    assert_eq!(p7.used_at, None);
    assert!(matches!(
        t.store
            .rotate_refresh(rotation("p7", "c7", 101))
            .await
            .unwrap(),
        RotateOutcome::Rotated(..)
    ));
}

/// A burst of rotations that SQLite commits together mixes the common case with every other:
/// a token presented twice, an unknown one, one presented by another client, an expired one.
/// Each gets the outcome it would get alone, in some order of arrival.
async fn concurrent_rotations_mixing_good_reused_unknown_and_foreign_tokens(t: TestStore) {
    let uid = login_fixture(&t).await;
    for i in 0..12 {
        let token = refresh(&format!("m{i}"), &format!("g{i}"), None, &uid);
        t.store.create_refresh(&token).await.unwrap();
    }
    let expired = RefreshToken {
        idle_expires_at: 50,
        ..refresh("old", "g-old", None, &uid)
    };
    t.store.create_refresh(&expired).await.unwrap();
    // (presented token, presenting client, child id)
    let mut burst: Vec<(String, &str, String)> = (0..12)
        .map(|i| (format!("m{i}"), "app", format!("n{i}")))
        .collect();
    burst.push(("m0".into(), "app", "n0-again".into()));
    burst.push(("unknown".into(), "app", "x-unknown".into()));
    burst.push(("m5".into(), "other", "x-foreign".into()));
    burst.push(("old".into(), "app", "x-old".into()));
    let tasks: Vec<_> = burst
        .iter()
        .cloned()
        .map(|(id, client, child)| {
            let s = t.store.clone();
            tokio::spawn(async move {
                let r = Rotation {
                    client_id: client,
                    ..rotation(&id, &child, 100)
                };
                s.rotate_refresh(r).await.unwrap()
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    // m0, presented twice without leeway: one rotation, one reuse that revokes the family.
    let m0: Vec<_> = [&outcomes[0], &outcomes[12]].into_iter().collect();
    assert_eq!(
        m0.iter()
            .filter(|o| matches!(o, RotateOutcome::Rotated(..)))
            .count(),
        1,
        "{m0:?}"
    );
    assert!(
        m0.iter().any(|o| matches!(o, RotateOutcome::Reused(_))),
        "{m0:?}"
    );
    for child in ["n0", "n0-again"] {
        if let Some(c) = t.store.get_refresh(child).await.unwrap() {
            assert!(c.revoked, "the reused family's child is live: {c:?}");
        }
    }
    for (i, outcome) in outcomes.iter().enumerate().take(12).skip(1) {
        let RotateOutcome::Rotated(child, user) = outcome else {
            panic!("m{i}: {outcome:?}");
        };
        assert_eq!(user.as_ref().map(|u| &u.user_id), Some(&child.user_id));
        assert_eq!(child.id, format!("n{i}"));
        assert_eq!(child.parent_id.as_deref(), Some(format!("m{i}").as_str()));
        assert_eq!(
            t.store.get_refresh(&child.id).await.unwrap().as_ref(),
            Some(child)
        );
        let parent = t
            .store
            .get_refresh(&format!("m{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((parent.used_at, parent.revoked), (Some(100), false));
    }
    for (i, what) in [(13, "unknown"), (14, "foreign"), (15, "expired")] {
        assert!(
            matches!(outcomes[i], RotateOutcome::Invalid),
            "{what}: {:?}",
            outcomes[i]
        );
    }
    for child in ["x-unknown", "x-foreign", "x-old"] {
        assert_eq!(t.store.get_refresh(child).await.unwrap(), None, "{child}");
    }
    let old = t.store.get_refresh("old").await.unwrap().unwrap();
    assert_eq!(old.used_at, None, "an expired token was marked used");
}

/// Two nodes (on PostgreSQL, two stores on one database, each batching its own rotations)
/// are handed the same tokens at once, in opposite orders, so their batches lock shared rows
/// crosswise: every token still has exactly one rotation, the other presentation is a reuse
/// that revokes the family, and no request fails (a batch PostgreSQL aborts as a deadlock is
/// retried one rotation at a time).
async fn rotations_racing_on_two_nodes_have_one_winner_per_token(t: TestStore) {
    let other: Arc<dyn Store> = match t.backend {
        Backend::Postgres => writ_store::open(&t.url).await.unwrap(),
        Backend::Sqlite => t.store.clone(),
    };
    let uid = login_fixture(&t).await;
    const N: usize = 16;
    for i in 0..N {
        let token = refresh(&format!("t{i}"), &format!("h{i}"), None, &uid);
        t.store.create_refresh(&token).await.unwrap();
    }
    let mut tasks = Vec::new();
    for step in 0..N {
        for (node, s) in [(0, t.store.clone()), (1, other.clone())] {
            let i = if node == 0 { step } else { N - 1 - step };
            tasks.push((
                i,
                tokio::spawn(async move {
                    let (id, child) = (format!("t{i}"), format!("t{i}-child-on-{node}"));
                    s.rotate_refresh(rotation(&id, &child, 100)).await
                }),
            ));
        }
    }
    let mut per_token: HashMap<usize, Vec<RotateOutcome>> = HashMap::new();
    for (i, task) in tasks {
        let outcome = task.await.unwrap().unwrap();
        per_token.entry(i).or_default().push(outcome);
    }
    for i in 0..N {
        let outcomes = &per_token[&i];
        let rotated = outcomes
            .iter()
            .filter(|o| matches!(o, RotateOutcome::Rotated(..)))
            .count();
        let reused = outcomes
            .iter()
            .filter(|o| matches!(o, RotateOutcome::Reused(_)))
            .count();
        assert_eq!((rotated, reused), (1, 1), "t{i}: {outcomes:?}");
        // The reuse revoked the family, the winner's child included.
        for node in 0..2 {
            if let Some(c) = t
                .store
                .get_refresh(&format!("t{i}-child-on-{node}"))
                .await
                .unwrap()
            {
                assert!(c.revoked, "t{i}: the reused family's child is live");
            }
        }
    }
}

/// On PostgreSQL another transaction (here a raw connection; in life a family revocation or
/// another node's batch) holds token `t0`'s row, and will not let go until the other tokens
/// have rotated: the batch that finds `t0` locked must give way and retry its rotations
/// one by one, each in its own task, rather than wait, holding up every rotation queued
/// behind it (and, if the holder in turn waited on one of the batch's rows, deadlocking).
/// SQLite has no row locks; there the rotations simply all land.
async fn a_rotation_waiting_on_a_locked_token_holds_up_no_other(t: TestStore) {
    use sqlx::Connection;
    let uid = login_fixture(&t).await;
    const N: usize = 8;
    for i in 0..N {
        let token = refresh(&format!("t{i}"), &format!("h{i}"), None, &uid);
        t.store.create_refresh(&token).await.unwrap();
    }
    let mut holder = match t.backend {
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&t.url).await.unwrap();
            sqlx::raw_sql("BEGIN; SELECT 1 FROM refresh_tokens WHERE id = 't0' FOR UPDATE")
                .execute(&mut c)
                .await
                .unwrap();
            Some(c)
        }
        Backend::Sqlite => None,
    };
    let rotate = |i: usize| {
        let s = t.store.clone();
        tokio::spawn(async move {
            let (id, child) = (format!("t{i}"), format!("t{i}-child"));
            s.rotate_refresh(rotation(&id, &child, 100)).await
        })
    };
    let first = rotate(0);
    if t.backend == Backend::Postgres {
        // Wait until t0's rotation is blocked on the row, so the others queue behind it.
        let mut watch = sqlx::PgConnection::connect(&t.url).await.unwrap();
        for tries in 0.. {
            assert!(
                tries < 12_000,
                "t0's rotation never waited on the locked row"
            );
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_one(&mut watch)
            .await
            .unwrap();
            if waiting > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    let rest: Vec<_> = (1..N).map(rotate).collect();
    // A guard, not a timing assertion: without giving way, these wait for the holder forever.
    let rest = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        let mut outcomes = Vec::new();
        for task in rest {
            outcomes.push(task.await.unwrap().unwrap());
        }
        outcomes
    })
    .await
    .expect("rotations queued behind a locked token never landed");
    for (i, o) in rest.iter().enumerate() {
        assert!(matches!(o, RotateOutcome::Rotated(..)), "t{}: {o:?}", i + 1);
    }
    // The holder, which might have been waiting on one of those rows, was not made to fail.
    if let Some(c) = &mut holder {
        sqlx::query("UPDATE refresh_tokens SET revoked = revoked WHERE id = 't1'")
            .execute(&mut *c)
            .await
            .unwrap();
        sqlx::raw_sql("COMMIT").execute(&mut *c).await.unwrap();
    }
    let first = first.await.unwrap().unwrap();
    assert!(matches!(first, RotateOutcome::Rotated(..)), "t0: {first:?}");
    assert!(
        t.store
            .get_refresh("t0")
            .await
            .unwrap()
            .unwrap()
            .used_at
            .is_some()
    );
}

/// Client `app` rotating token `id` into `child_id` at `now` (idle lifetime 900 s, no leeway).
fn rotation<'a>(id: &'a str, child_id: &'a str, now: i64) -> Rotation<'a> {
    Rotation {
        id,
        client_id: "app",
        child_id,
        now,
        idle_lifetime: 900,
        leeway: 0,
    }
}

async fn concurrent_code_consumptions_have_exactly_one_fresh(t: TestStore) {
    let uid = login_fixture(&t).await;
    t.store.create_code(&code("c", &uid)).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let s = t.store.clone();
        tasks.push(tokio::spawn(async move {
            s.consume_code("c", 100 + i, None).await
        }));
    }
    let mut fresh = Vec::new();
    let mut reused = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            CodeOutcome::Fresh(c) => fresh.push(c),
            CodeOutcome::Reused(_) => reused += 1,
            CodeOutcome::Missing => panic!("missing"),
        }
    }
    assert_eq!((fresh.len(), reused), (1, 11));
    // What the winner was told is what is stored.
    assert_eq!(
        t.store.consume_code("c", 999, None).await.unwrap(),
        CodeOutcome::Reused(fresh.pop().unwrap())
    );
}

async fn concurrent_key_rotations_queue(t: TestStore) {
    let key = |kid: &str, state: KeyState| SigningKey {
        kid: kid.into(),
        alg: SigningAlg::RS256,
        state,
        private_der: vec![1, 2, 3],
        public_jwk: serde_json::json!({ "kid": kid }),
        created_at: "2024-01-01T00:00:00.000Z".into(),
        current_since: None,
        current_until: None,
        revoked_at: None,
        retire_after: None,
    };
    t.store
        .insert_signing_key(&key("cur", KeyState::Current))
        .await
        .unwrap();
    t.store
        .insert_signing_key(&key("nxt", KeyState::Next))
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..6 {
        let s = t.store.clone();
        let k = key(&format!("new{i}"), KeyState::Next);
        tasks.push(tokio::spawn(async move {
            s.rotate_signing_keys(SigningAlg::RS256, &k, 0).await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let mut states: HashMap<&str, usize> = HashMap::new();
    for k in t.store.signing_keys().await.unwrap() {
        *states.entry(k.state.as_str()).or_default() += 1;
    }
    // Six rotations one after another: one current, one next, six rotated out.
    assert_eq!(
        states,
        HashMap::from([("current", 1), ("next", 1), ("previous", 6)])
    );
}

async fn authz_event_log_is_gapless_and_ordered_for_a_concurrent_follower(t: TestStore) {
    t.api(A, &["r", "w", "d"]).await;
    let mut users = Vec::new();
    for i in 0..6 {
        users.push(t.user(&format!("w{i}@example.com")).await.user_id);
    }
    let mut roles = Vec::new();
    for i in 0..3 {
        let r = t.role(&format!("r{i}")).await;
        t.grant_role(&r.id, &[perm(A, "r")]).await;
        roles.push(r.id);
    }
    let head0 = t.store.authz_head().await.unwrap();

    // A follower, reading as the writers commit: every batch must continue exactly where the
    // previous one ended (a later commit never carries a lower seq).
    let done = Arc::new(AtomicBool::new(false));
    let follower = {
        let s = t.store.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut last = head0;
            let mut seen = Vec::new();
            loop {
                let finished = done.load(Ordering::SeqCst);
                let batch = s.authz_events_after(last, 7).await.unwrap().events;
                for e in &batch {
                    assert_eq!(e.seq, last + 1, "the follower skipped an event");
                    last = e.seq;
                }
                let empty = batch.is_empty();
                seen.extend(batch);
                if finished && empty {
                    return seen;
                }
                if empty {
                    tokio::task::yield_now().await;
                }
            }
        })
    };

    let mut writers = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let s = t.store.clone();
        let (u, role) = (u.clone(), roles[i % roles.len()].clone());
        writers.push(tokio::spawn(async move {
            for _ in 0..8 {
                s.assign_user_roles(&u, std::slice::from_ref(&role))
                    .await
                    .unwrap();
                s.add_user_permissions(&u, &[perm(A, "d")]).await.unwrap();
                s.remove_user_roles(&u, std::slice::from_ref(&role))
                    .await
                    .unwrap();
                s.remove_user_permissions(&u, &[perm(A, "d")])
                    .await
                    .unwrap();
            }
        }));
    }
    // Fan-out writers: role permission changes reach every current holder.
    for role in roles.iter().take(2) {
        let s = t.store.clone();
        let role = role.clone();
        writers.push(tokio::spawn(async move {
            for _ in 0..8 {
                s.add_role_permissions(&role, &[perm(A, "w")])
                    .await
                    .unwrap();
                s.remove_role_permissions(&role, &[perm(A, "w")])
                    .await
                    .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let seen = follower.await.unwrap();

    let all = events_after(&t, head0).await;
    assert_eq!(seen, all, "the follower saw exactly the log");
    assert!(all.len() >= users.len() * 32, "{}", all.len());
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        ((head0 + 1)..=(head0 + all.len() as i64)).collect::<Vec<_>>()
    );
    assert_eq!(
        t.store.authz_head().await.unwrap(),
        head0 + all.len() as i64
    );
    // Per user, versions go up with every event (each is its event's seq), ending at the
    // user's version.
    assert!(all.iter().all(|e| e.version == e.seq));
    for u in &users {
        let vs: Vec<i64> = all
            .iter()
            .filter(|e| &e.subject == u)
            .map(|e| e.version)
            .collect();
        assert!(vs.windows(2).all(|w| w[1] > w[0]), "{u}: {vs:?}");
        assert_eq!(*vs.last().unwrap(), t.version(u).await);
        let (perms, v) = t.store.effective_permissions(u, A).await.unwrap();
        assert!(perms.is_empty(), "{perms:?}");
        assert_eq!(v, *vs.last().unwrap());
    }
    assert_eq!(total(t.store.list_roles(None, page(0, 10)).await), 3);
}

async fn concurrent_changes_to_overlapping_users_neither_deadlock_nor_lose_bumps(t: TestStore) {
    t.api(A, &["r"]).await;
    let mut users = Vec::new();
    for i in 0..5 {
        users.push(t.user(&format!("o{i}@example.com")).await.user_id);
    }
    let head0 = t.store.authz_head().await.unwrap();
    let mut tasks = Vec::new();
    // Each writer touches every user, in its own order, several users per transaction.
    for i in 0..5 {
        let s = t.store.clone();
        let mut order = users.clone();
        order.rotate_left(i);
        if i % 2 == 1 {
            order.reverse();
        }
        tasks.push(tokio::spawn(async move {
            for k in 0..4 {
                let role = s.create_role(&format!("t{i}-{k}"), "").await.unwrap();
                s.assign_role_users(&role.id, &order).await.unwrap();
                s.add_role_permissions(&role.id, &[perm(A, "r")])
                    .await
                    .unwrap();
                s.delete_role(&role.id).await.unwrap();
            }
        }));
    }
    // Profile writers: block and unblock (an update of the user row, then a bump).
    for u in users.iter().take(3) {
        let s = t.store.clone();
        let u = u.clone();
        tasks.push(tokio::spawn(async move {
            for k in 0..6 {
                let mut user = s.get_user(&u).await.unwrap();
                user.blocked = k % 2 == 0;
                s.update_user(&user, None).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // 5 writers x 4 rounds x 3 bumps (assign, permission added, role deleted) per user, plus
    // 6 blocks/unblocks for three of them.
    let all = events_after(&t, head0).await;
    assert_eq!(all.len(), 5 * 4 * 3 * 5 + 3 * 6);
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        ((head0 + 1)..=(head0 + all.len() as i64)).collect::<Vec<_>>()
    );
    for (i, u) in users.iter().enumerate() {
        let vs: Vec<i64> = all
            .iter()
            .filter(|e| &e.subject == u)
            .map(|e| e.version)
            .collect();
        assert_eq!(vs.len(), 60 + if i < 3 { 6 } else { 0 });
        assert!(vs.windows(2).all(|w| w[1] > w[0]), "{u}: {vs:?}");
        assert_eq!(*vs.last().unwrap(), t.version(u).await);
    }
}

/// One API leaves ES256 while another joins it, at the same time, through separate
/// connections: whatever the order, the record ends published (not retiring), since an API
/// uses ES256; and two APIs joining together start one publication.
async fn racing_api_writes_leave_an_algorithm_in_use_published(t: TestStore) {
    let api = |identifier: &str, alg: SigningAlg| ResourceServer {
        id: String::new(),
        identifier: identifier.into(),
        name: identifier.into(),
        scopes: vec![],
        signing_alg: alg,
        token_lifetime: 3600,
        enforce_policies: false,
        token_dialect: TokenDialect::AccessToken,
        allow_offline_access: false,
        is_system: false,
        token_claims: Default::default(),
    };
    for round in 0..8 {
        let leaving = t
            .store
            .create_resource_server(api(&format!("https://leave-{round}/"), SigningAlg::ES256))
            .await
            .unwrap();
        let joining = t
            .store
            .create_resource_server(api(&format!("https://join-{round}/"), SigningAlg::RS256))
            .await
            .unwrap();
        let (s1, s2) = (t.store.clone(), t.store.clone());
        let a = tokio::spawn(async move {
            let mut rs = leaving;
            rs.signing_alg = SigningAlg::RS256;
            s1.update_resource_server(&rs).await
        });
        let b = tokio::spawn(async move {
            let mut rs = joining;
            rs.signing_alg = SigningAlg::ES256;
            s2.update_resource_server(&rs).await
        });
        a.await.unwrap().unwrap();
        b.await.unwrap().unwrap();
        let records = t.store.key_publications().await.unwrap();
        let es: Vec<_> = records
            .iter()
            .filter(|p| p.alg == SigningAlg::ES256)
            .collect();
        assert_eq!(es.len(), 1, "{records:?}");
        assert_eq!(es[0].retire_after, None, "round {round}: {records:?}");
    }
    // Several APIs joining EdDSA at once: one record.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = t.store.clone();
        let rs = api(&format!("https://ed-{i}/"), SigningAlg::EdDSA);
        tasks.push(tokio::spawn(
            async move { s.create_resource_server(rs).await },
        ));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let records = t.store.key_publications().await.unwrap();
    assert_eq!(
        records
            .iter()
            .filter(|p| p.alg == SigningAlg::EdDSA)
            .count(),
        1
    );
}

/// Every event of the log after `seq`.
async fn events_after(t: &TestStore, seq: i64) -> Vec<AuthzEvent> {
    t.store
        .authz_events_after(seq, 100_000)
        .await
        .unwrap()
        .events
}
