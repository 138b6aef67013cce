//! The audit log: append and read back, filters (types, user, client, dates) and paging in both
//! orders, pruning by age, the append-only guarantee, and an entry riding its change's
//! transaction (`writ_store::riding`).

use serde_json::json;
use sqlx::Connection;
use writ_store::*;

use crate::{TestStore, conformance, oldest_first, page};

conformance!(
    entries_are_appended_and_read_back,
    lists_filter_and_page_newest_first,
    pruning_removes_only_older_entries,
    entries_cannot_be_updated,
    an_entry_rides_the_first_transaction_of_its_change,
);

fn entry(date: &str, log_type: &str, user: Option<&str>, client: Option<&str>) -> NewLogEntry {
    NewLogEntry {
        date: Some(date.into()),
        log_type: log_type.into(),
        description: format!("{log_type} at {date}"),
        ip: Some("203.0.113.7".into()),
        user_agent: Some("curl/8".into()),
        client_id: client.map(Into::into),
        client_name: client.map(|c| format!("{c} name")),
        user_id: user.map(Into::into),
        user_name: user.map(|u| format!("{u}@example.com")),
        connection: user.map(|_| "Username-Password-Authentication".into()),
        details: json!({ "request": { "method": "POST", "path": "/api/v2/roles" } }),
    }
}

async fn entries_are_appended_and_read_back(t: TestStore) {
    let e = entry(
        "2026-03-01T10:00:00+02:00",
        "sapi",
        Some("usr_1"),
        Some("ops"),
    );
    let stored = t.store.append_log(&e).await.unwrap();
    // The date is normalized to UTC with milliseconds; the id is numeric and starts with it.
    assert_eq!(stored.date, "2026-03-01T08:00:00.000Z");
    assert_eq!(stored.log_id.len(), 24);
    assert!(stored.log_id.bytes().all(|b| b.is_ascii_digit()));
    assert!(
        stored.log_id.starts_with("1772352000000"),
        "{}",
        stored.log_id
    );
    assert_eq!(stored.log_type, "sapi");
    assert_eq!(stored.details, e.details);
    assert_eq!(t.store.get_log(&stored.log_id).await.unwrap(), stored);
    assert!(matches!(
        t.store.get_log("123").await,
        Err(StoreError::NotFound(_))
    ));

    // Without a date, the entry is dated now; optional fields may all be empty.
    let bare = t
        .store
        .append_log(&NewLogEntry {
            log_type: "slo".into(),
            details: json!({}),
            ..Default::default()
        })
        .await
        .unwrap();
    let age = chrono::Utc::now()
        - chrono::DateTime::parse_from_rfc3339(&bare.date)
            .unwrap()
            .with_timezone(&chrono::Utc);
    assert!(age.num_seconds().abs() < 60, "{}", bare.date);
    assert_eq!(t.store.get_log(&bare.log_id).await.unwrap(), bare);

    // A type is required, and dates must be dates.
    assert!(matches!(
        t.store.append_log(&NewLogEntry::default()).await,
        Err(StoreError::Invalid(_))
    ));
    let mut bad = e.clone();
    bad.date = Some("yesterday".into());
    assert!(matches!(
        t.store.append_log(&bad).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn lists_filter_and_page_newest_first(t: TestStore) {
    let rows = [
        ("2026-01-01T00:00:00Z", "s", Some("usr_a"), Some("app")),
        ("2026-01-02T00:00:00Z", "fp", Some("usr_a"), Some("app")),
        (
            "2026-01-03T00:00:00Z",
            "sapi",
            Some("usr_b"),
            Some("console"),
        ),
        ("2026-01-04T00:00:00Z", "fu", None, Some("app")),
        ("2026-01-05T00:00:00Z", "sapi", None, Some("ops")),
        ("2026-01-06T00:00:00Z", "s", Some("usr_b"), Some("app")),
    ];
    let mut ids = vec![];
    for (d, ty, u, c) in rows {
        ids.push(
            t.store
                .append_log(&entry(d, ty, u, c))
                .await
                .unwrap()
                .log_id,
        );
    }
    let list = |f: LogFilter, p: Page| {
        let store = t.store.clone();
        async move {
            let got = store.list_logs(&f, p).await.unwrap();
            (
                got.items.into_iter().map(|e| e.log_id).collect::<Vec<_>>(),
                got.total,
            )
        }
    };
    let rev = |idx: &[usize]| idx.iter().map(|&i| ids[i].clone()).collect::<Vec<_>>();

    // Everything, newest first, and paged.
    assert_eq!(
        list(LogFilter::default(), page(0, 50)).await,
        (rev(&[5, 4, 3, 2, 1, 0]), 6)
    );
    assert_eq!(
        list(LogFilter::default(), page(1, 4)).await,
        (rev(&[1, 0]), 6)
    );
    assert_eq!(list(LogFilter::default(), page(3, 4)).await, (vec![], 6));
    // Oldest first.
    assert_eq!(list(oldest_first(), page(0, 2)).await, (rev(&[0, 1]), 6));

    // By type (one or several), user, client.
    let types = |ts: &[&str]| LogFilter {
        types: ts.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    };
    assert_eq!(list(types(&["s"]), page(0, 50)).await, (rev(&[5, 0]), 2));
    assert_eq!(
        list(types(&["fp", "fu"]), page(0, 50)).await,
        (rev(&[3, 1]), 2)
    );
    assert_eq!(list(types(&["nope"]), page(0, 50)).await, (vec![], 0));
    let by_user = LogFilter {
        user_id: Some("usr_a".into()),
        ..Default::default()
    };
    assert_eq!(list(by_user, page(0, 50)).await, (rev(&[1, 0]), 2));
    let by_client = LogFilter {
        client_id: Some("app".into()),
        types: vec!["s".into()],
        ..Default::default()
    };
    assert_eq!(list(by_client, page(0, 50)).await, (rev(&[5, 0]), 2));

    // By date, both bounds inclusive, in any RFC 3339 offset.
    let dates = LogFilter {
        from: Some("2026-01-02T00:00:00Z".into()),
        to: Some("2026-01-04T01:00:00+01:00".into()),
        ..Default::default()
    };
    assert_eq!(list(dates, page(0, 50)).await, (rev(&[3, 2, 1]), 3));
    let since = LogFilter {
        from: Some("2026-01-05T12:00:00.000Z".into()),
        ..Default::default()
    };
    assert_eq!(list(since, page(0, 50)).await, (rev(&[5]), 1));
    let bad = LogFilter {
        to: Some("2026-13-01".into()),
        ..Default::default()
    };
    assert!(matches!(
        t.store.list_logs(&bad, page(0, 10)).await,
        Err(StoreError::Invalid(_))
    ));

    // Entries of the same millisecond keep their insertion order.
    let same: Vec<String> = append_same_date(&t, 3).await;
    let newest = t
        .store
        .list_logs(&types(&["w"]), page(0, 10))
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.log_id)
        .collect::<Vec<_>>();
    assert_eq!(newest, same.into_iter().rev().collect::<Vec<_>>());
}

/// Appends `n` entries of type `w` with the same date, one after another.
async fn append_same_date(t: &TestStore, n: usize) -> Vec<String> {
    let mut out = vec![];
    for _ in 0..n {
        let e = entry("2026-02-01T00:00:00.000Z", "w", None, None);
        out.push(t.store.append_log(&e).await.unwrap().log_id);
    }
    out
}

async fn pruning_removes_only_older_entries(t: TestStore) {
    for day in 1..=9 {
        let d = format!("2026-01-0{day}T12:00:00Z");
        t.store
            .append_log(&entry(&d, "s", Some("usr_a"), None))
            .await
            .unwrap();
    }
    assert_eq!(t.store.prune_logs("2026-01-04T12:00:00Z").await.unwrap(), 3);
    let left = t
        .store
        .list_logs(&oldest_first(), page(0, 50))
        .await
        .unwrap();
    assert_eq!(left.total, 6);
    assert_eq!(left.items[0].date, "2026-01-04T12:00:00.000Z");
    assert_eq!(t.store.prune_logs("2026-01-04T12:00:00Z").await.unwrap(), 0);
    assert_eq!(t.store.prune_logs("2027-01-01T00:00:00Z").await.unwrap(), 6);
    assert!(matches!(
        t.store.prune_logs("soon").await,
        Err(StoreError::Invalid(_))
    ));
}

async fn entries_cannot_be_updated(t: TestStore) {
    let e = t
        .store
        .append_log(&entry("2026-01-01T00:00:00Z", "fp", Some("usr_a"), None))
        .await
        .unwrap();
    // The store has no update; the database refuses one made behind its back too.
    let sql = "UPDATE audit_log SET type = 's'";
    let refused = match t.backend {
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&t.url).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.err()
        }
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&t.url).await.unwrap();
            sqlx::query(sql).execute(&mut c).await.err()
        }
    };
    let msg = refused.expect("the update is refused").to_string();
    assert!(msg.contains("append-only"), "{msg}");
    assert_eq!(t.store.get_log(&e.log_id).await.unwrap().log_type, "fp");
}

/// How many entries the log holds.
async fn count(t: &TestStore) -> i64 {
    t.store
        .list_logs(&LogFilter::default(), page(0, 1))
        .await
        .unwrap()
        .total
}

async fn an_entry_rides_the_first_transaction_of_its_change(t: TestStore) {
    use writ_store::riding::with_entry;
    let e = |what: &str| NewLogEntry {
        log_type: "sapi".into(),
        description: what.into(),
        details: json!({}),
        ..Default::default()
    };

    // A change that commits carries its entry: both are there, the entry as returned.
    let (role, landed) = with_entry(&e("Create a role"), t.store.create_role("riders", "")).await;
    let role = role.unwrap();
    let landed = landed.expect("the role's transaction carried the entry");
    assert_eq!(landed.description, "Create a role");
    assert_eq!(t.store.get_log(&landed.log_id).await.unwrap(), landed);
    assert_eq!(count(&t).await, 1);

    // A change that fails commits nothing, its entry included: the caller records the failure.
    let (gone, landed) = with_entry(&e("Delete a role"), t.store.delete_role("rol_none")).await;
    assert!(matches!(gone, Err(StoreError::NotFound(_))), "{gone:?}");
    assert!(landed.is_none());
    assert_eq!(count(&t).await, 1);

    // A change of two transactions: the first carries the entry, the second nothing more.
    let (two, landed) = with_entry(&e("Two roles"), async {
        t.store.create_role("first", "").await?;
        t.store.create_role("second", "").await
    })
    .await;
    two.unwrap();
    let landed = landed.unwrap();
    assert_eq!(count(&t).await, 2);
    assert_eq!(
        t.store.get_log(&landed.log_id).await.unwrap().description,
        "Two roles"
    );

    // A write on another task does not carry it (a task-local does not cross a spawn); the
    // change's own write after it does.
    let store = t.store.clone();
    let (after, landed) = with_entry(&e("Spawned"), async {
        tokio::spawn(async move { store.create_role("spawned", "").await })
            .await
            .unwrap()
            .unwrap();
        assert_eq!(count(&t).await, 2, "the spawned write carried the entry");
        t.store.delete_role(&role.id).await
    })
    .await;
    after.unwrap();
    assert_eq!(landed.unwrap().description, "Spawned");
    assert_eq!(count(&t).await, 3);

    // Outside a scope, writes carry nothing.
    t.store.create_role("plain", "").await.unwrap();
    assert_eq!(count(&t).await, 3);
}
