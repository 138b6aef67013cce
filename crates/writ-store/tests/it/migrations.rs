//! The migration rule for rolling upgrades (`writ_store::migrate`), with real migrations on
//! both databases: a newer Writ's migrator applies one more migration; this build (the "old"
//! node) still opens the store and serves when that migration is declared additive, and
//! refuses, naming it, when it is not. A status read through an open store says the same.

use writ_store::migrate::{self, ADDITIVE, BREAKING};
use writ_store::*;

use crate::{TestStore, conformance};

conformance!(
    an_old_node_opens_a_database_with_a_newer_additive_migration,
    an_old_node_refuses_a_database_with_a_newer_breaking_migration,
    a_fresh_database_is_current,
    refresh_tokens_keep_one_index_per_lookup,
);

/// The newest migration this build knows.
fn known(t: &TestStore) -> i64 {
    migrate::embedded(t.backend)
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap()
}

async fn a_fresh_database_is_current(t: TestStore) {
    let status = t.store.schema_status().await.unwrap();
    assert_eq!(status.problem(), None);
    assert!(status.pending.is_empty());
    assert_eq!(status.latest().unwrap().version, known(&t));
    assert_eq!(status.unknown().count(), 0);
    // Applying again changes nothing.
    let again = migrate::apply(&t.url, migrate::embedded(t.backend))
        .await
        .unwrap();
    assert_eq!(again, status);
}

async fn an_old_node_opens_a_database_with_a_newer_additive_migration(t: TestStore) {
    let user = t.user("before@example.com").await;
    let next = known(&t) + 1;
    let sql = format!(
        "{ADDITIVE}\n-- A table the old node never reads, and a column with a default.\n\
         CREATE TABLE webauthn_credentials (id TEXT PRIMARY KEY, user_id TEXT NOT NULL);\n\
         ALTER TABLE users ADD COLUMN locale TEXT NOT NULL DEFAULT 'en';\n\
         ALTER TABLE clients ADD COLUMN logo_uri TEXT;\n"
    );
    let newer = migrate::embedded_with(t.backend, &[(next, "webauthn", &sql)]);
    let status = migrate::apply(&t.url, &newer).await.unwrap();
    assert_eq!(status.latest().unwrap().version, next);
    assert!(status.latest().unwrap().additive);

    // The old node: this build's migrator, on the newer schema, opens and serves.
    let old = writ_store::open(&t.url).await.unwrap();
    assert_eq!(old.get_user(&user.user_id).await.unwrap().email, user.email);
    let created = old
        .create_user(NewUser {
            email: "after@example.com".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        old.get_user(&created.user_id).await.unwrap().email,
        "after@example.com"
    );
    // Rows read whole (`SELECT *` into a row type) ignore the new column.
    old.all_clients().await.unwrap();
    let role = old.create_role("upgraded", "").await.unwrap();
    old.assign_user_roles(&created.user_id, std::slice::from_ref(&role.id))
        .await
        .unwrap();
    // Ready: everything it knows is applied, and the newer migration is additive.
    let s = old.schema_status().await.unwrap();
    assert_eq!(s.problem(), None, "{s:?}");
    assert_eq!(s.known.0, known(&t));
    let unknown: Vec<_> = s.unknown().collect();
    assert_eq!(unknown.len(), 1);
    assert_eq!(
        (unknown[0].version, unknown[0].description.as_str()),
        (next, "webauthn")
    );
    old.close().await;
    // The newer node still finds its migration applied and nothing to do.
    assert_eq!(
        migrate::apply(&t.url, &newer).await.unwrap().pending,
        Vec::<i64>::new()
    );
}

async fn an_old_node_refuses_a_database_with_a_newer_breaking_migration(t: TestStore) {
    let next = known(&t) + 1;
    let additive = format!("{ADDITIVE}\nCREATE TABLE future_things (id TEXT PRIMARY KEY);\n");
    let breaking = format!("{BREAKING}\nALTER TABLE future_things RENAME TO future_things_v2;\n");
    let newer = migrate::embedded_with(
        t.backend,
        &[
            (next, "future_things", &additive),
            (next + 1, "rename future_things", &breaking),
        ],
    );
    migrate::apply(&t.url, &newer).await.unwrap();

    let refused = match writ_store::open(&t.url).await {
        Ok(_) => panic!("an old node opened a database with a breaking newer migration"),
        Err(e) => e.to_string(),
    };
    let expected = format!(
        "the database schema is at migration {} (rename future_things), newer than this Writ knows \
         ({}, ",
        next + 1,
        known(&t)
    );
    assert!(refused.starts_with(&expected), "{refused}");
    assert!(
        refused.contains("and it is not declared additive: upgrade Writ"),
        "{refused}"
    );
    // Not sqlx's own words.
    assert!(!refused.contains("previously applied"), "{refused}");
    // A node that was already running turns not ready, for the same reason.
    let s = t.store.schema_status().await.unwrap();
    assert_eq!(s.problem(), s.refusal());
    assert!(s.problem().unwrap().starts_with(&expected));
    // And `writ migrate` of this build (the same rule) refuses too, changing nothing.
    let e = migrate::apply(&t.url, migrate::embedded(t.backend))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Schema(_)), "{e}");
}

/// SQLite: only the store's first open creates the database file. With the file moved away
/// (a volume unmounted, a careless restore), new connections fail rather than create an empty
/// database at the path, so once the file is back no connection of the pool serves an empty
/// database ("migrations not applied") in its place.
#[tokio::test]
async fn sqlite_reconnects_never_create_the_file_again() {
    let t = TestStore::sqlite().await;
    let path = std::path::PathBuf::from(t.url.trim_start_matches("sqlite://"));
    let away = path.with_extension("away");
    std::fs::rename(&path, &away).unwrap();
    // More readers at once than the pool has open connections: the pool must connect anew.
    let reads = (0..16).map(|_| t.store.authz_head());
    let results = futures_util::future::join_all(reads).await;
    assert!(
        results.iter().any(|r| r.is_err()),
        "some needed a new connection"
    );
    assert!(t.store.schema_status().await.is_err(), "the file is gone");
    assert!(
        !path.exists(),
        "no empty database created at {}",
        path.display()
    );
    std::fs::rename(&away, &path).unwrap();
    // Back: every connection the pool hands out reads the real database.
    for _ in 0..16 {
        let status = t.store.schema_status().await.unwrap();
        assert_eq!(status.problem(), None);
    }
    let reads = (0..16).map(|_| t.store.authz_head());
    for r in futures_util::future::join_all(reads).await {
        r.unwrap();
    }
}

/// Every refresh-token rotation inserts a row into each index of `refresh_tokens`, so the
/// table keeps one per lookup and none that another's prefix serves (0021 dropped
/// PostgreSQL's `refresh_tokens_by_client`, the prefix of `refresh_tokens_by_client_user`).
async fn refresh_tokens_keep_one_index_per_lookup(t: TestStore) {
    use sqlx::Connection;
    let mut names: Vec<String> = match t.backend {
        Backend::Postgres => {
            let mut c = sqlx::PgConnection::connect(&t.url).await.unwrap();
            sqlx::query_scalar(
                "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() \
                 AND tablename = 'refresh_tokens' AND indexname <> 'refresh_tokens_pkey'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap()
        }
        Backend::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&t.url).await.unwrap();
            sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'index' \
                 AND tbl_name = 'refresh_tokens' AND name NOT LIKE 'sqlite_autoindex_%'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap()
        }
    };
    names.sort();
    assert_eq!(
        names,
        [
            "refresh_tokens_by_client_user",
            "refresh_tokens_by_family",
            "refresh_tokens_by_parent",
            "refresh_tokens_by_user",
        ]
    );
}
