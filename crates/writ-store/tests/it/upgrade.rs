//! Upgrading a database made before versions followed the log's `seq` (migration 0012): the
//! counters already handed out (in tokens and to guards) must stay below every later change,
//! so the migration moves the log's head past them with a record that tells no one.

use sqlx::Connection;

use crate::TestStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_versions_stay_above_every_counter_after_the_upgrade() {
    let t = TestStore::sqlite_after(|url| async move {
        let mut m = sqlx::migrate!("./migrations/sqlite");
        legacy_rows(&url, &mut m, false).await;
    })
    .await;
    versions_stay_above_every_counter(t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_versions_stay_above_every_counter_after_the_upgrade() {
    let Some(t) = TestStore::postgres_after(|url| async move {
        let mut m = sqlx::migrate!("./migrations/postgres");
        legacy_rows(&url, &mut m, true).await;
    })
    .await
    else {
        return;
    };
    versions_stay_above_every_counter(t).await;
}

/// Migrates `url` up to 0011 only, then writes what such a database holds: a user at counter 7
/// with no event left (pruned), and a user at 3 whose last event is seq 2 (the head).
async fn legacy_rows(url: &str, m: &mut sqlx::migrate::Migrator, postgres: bool) {
    m.migrations = std::borrow::Cow::Owned(
        m.migrations
            .iter()
            .filter(|x| x.version <= 11)
            .cloned()
            .collect(),
    );
    let sql = "INSERT INTO users (id, email, created_at, updated_at, authz_version) VALUES \
                 ('usr_seven', 'seven@example.com', '', '', 7), \
                 ('usr_three', 'three@example.com', '', '', 3); \
               INSERT INTO authz_events (seq, user_id, version, kind, at) VALUES \
                 (2, 'usr_three', 3, 'role_assigned', '2025-01-01T00:00:00.000Z');";
    if postgres {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        m.run(&mut c).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "{sql} UPDATE authz_log_head SET seq = 2 WHERE id = 1;"
        )))
        .execute(&mut c)
        .await
        .unwrap();
        c.close().await.unwrap();
    } else {
        let mut c = sqlx::SqliteConnection::connect(&format!("{url}?mode=rwc"))
            .await
            .unwrap();
        m.run(&mut c).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
    }
}

async fn versions_stay_above_every_counter(t: TestStore) {
    let s = &t.store;
    // The counters are kept, and the head is past them; the record that moved it tells no one.
    assert_eq!(s.authz_version("usr_seven").await.unwrap(), 7);
    assert_eq!(s.authz_version("usr_three").await.unwrap(), 3);
    assert_eq!(s.authz_head().await.unwrap(), 7);
    let page = s.authz_events_after(0, 10).await.unwrap();
    assert_eq!(page.next, 7);
    let told: Vec<(&str, i64)> = page
        .events
        .iter()
        .map(|e| (e.subject.as_str(), e.version))
        .collect();
    assert_eq!(told, [("usr_three", 3)]);
    // The next change to either is above what any of their tokens carries.
    let mut seven = s.get_user("usr_seven").await.unwrap();
    seven.blocked = true;
    assert_eq!(s.update_user(&seven, None).await.unwrap().authz_version, 8);
    // A group's change reaches a member whose own counter was the highest.
    let role = s.create_role("reader", "").await.unwrap();
    let g = s.create_group("team", "", None).await.unwrap();
    s.add_group_members(&g.id, &["usr_seven".into(), "usr_three".into()])
        .await
        .unwrap();
    let before = s.authz_version("usr_seven").await.unwrap();
    s.add_group_roles(&g.id, std::slice::from_ref(&role.id))
        .await
        .unwrap();
    assert!(s.authz_version("usr_seven").await.unwrap() > before);
}
