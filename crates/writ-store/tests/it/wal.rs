//! SQLite's write-ahead log: the store checkpoints it in the background, so that no commit
//! waits for a checkpoint (SQLite's own runs inside the commit that crosses its threshold), and
//! what is committed still reaches the database file promptly.

use std::time::{Duration, Instant};

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::TestStore;
use crate::login::{login_fixture, refresh};

/// The rows of `refresh_tokens` in the database file alone, without its WAL: a copy of the
/// file, opened where no WAL lies beside it. `None` while the copy cannot be read (the table not
/// checkpointed yet, or a copy taken half-way through a checkpoint's writes).
async fn rows_in_the_file(db: &std::path::Path, dir: &std::path::Path) -> Option<i64> {
    let copy = dir.join("copy.db");
    std::fs::copy(db, &copy).ok()?;
    let mut c = SqliteConnectOptions::new()
        .filename(&copy)
        .read_only(true)
        .connect()
        .await
        .ok()?;
    let n = sqlx::query_scalar("SELECT count(*) FROM refresh_tokens")
        .fetch_one(&mut c)
        .await
        .ok();
    c.close().await.ok()?;
    n
}

/// A hundred small commits (a few hundred WAL pages, under SQLite's default threshold of
/// 1,000, which would otherwise be the first checkpoint) reach the database file within
/// seconds.
#[tokio::test]
async fn sqlite_checkpoints_the_wal_in_the_background() {
    let t = TestStore::sqlite().await;
    let db = std::path::PathBuf::from(t.url.trim_start_matches("sqlite://"));
    let elsewhere = tempfile::tempdir().unwrap();
    let user = login_fixture(&t).await;
    for i in 0..100 {
        let id = format!("rt{i}");
        t.store
            .create_refresh(&refresh(&id, &id, None, &user))
            .await
            .unwrap();
    }
    let wal = db.with_extension("db-wal");
    assert!(wal.exists(), "the store writes through a WAL");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows = rows_in_the_file(&db, elsewhere.path()).await;
        if rows == Some(100) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the database file alone holds {rows:?} of the 100 rows"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
