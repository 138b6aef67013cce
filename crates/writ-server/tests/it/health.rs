//! The health probes: live answers without the database; ready follows the database, the
//! schema, the signing keys and (PostgreSQL) the notification connection, and a node that
//! loses its database turns not ready within 5 s and ready again once it is back.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

fn check_names(r: &Resp) -> Vec<String> {
    r.body["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn live_and_ready_answer_with_their_checks() {
    let app = TestApp::spawn().await;
    for path in ["/health/live", "/healthz"] {
        let r = app.get(path).await.assert(200);
        assert_eq!(r.body, json!({"status": "up", "checks": []}), "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
    }
    // A node just started may still be opening its LISTEN connection (PostgreSQL): not ready
    // until it is up.
    let (r, _) = ready_becomes(&app, 200, Duration::from_secs(10)).await;
    assert_eq!(r.body["status"], "up", "{}", r.body);
    let mut expected = vec!["database", "migrations", "signing_keys"];
    if backend() == "postgres" {
        expected.push("authz_feed");
    }
    assert_eq!(check_names(&r), expected);
    for c in r.body["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "up", "{c}");
        assert!(c.get("message").is_none(), "{c}");
    }
    // Public, and documented with the Management API's routes.
    let doc = app.get("/api/v2/openapi.json").await.assert(200).body;
    for path in ["/health/live", "/health/ready"] {
        let op = &doc["paths"][path]["get"];
        assert_eq!(op["tags"], json!(["health"]), "{path}");
        assert!(op.get("security").is_none(), "{path}");
    }
    assert!(doc["paths"]["/health/ready"]["get"]["responses"]["503"].is_object());
}

/// Polls `/health/ready` until it answers `status`, for at most `within`; the response and the
/// time it took.
async fn ready_becomes(app: &TestApp, status: u16, within: Duration) -> (Resp, Duration) {
    let start = Instant::now();
    loop {
        let r = app.get("/health/ready").await;
        if r.status.as_u16() == status {
            return (r, start.elapsed());
        }
        assert!(
            start.elapsed() < within,
            "/health/ready still {} after {within:?}: {}",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Cuts the node off its database for real, then gives it back. PostgreSQL: the database stops
/// accepting connections and the node's are terminated. SQLite: the database file is moved
/// away (open connections would go on reading the moved file and their caches, and writes
/// would land in a file nobody opens again), then moved back.
#[tokio::test]
async fn a_node_that_loses_its_database_turns_not_ready_then_ready_again() {
    let app = TestApp::spawn().await;
    ready_becomes(&app, 200, Duration::from_secs(10)).await;
    let db_file = app.dir.path().join("writ.db");
    let away = app.dir.path().join("writ.db.away");
    let pg = match app.pg_url() {
        Some(url) => {
            use sqlx::Connection;
            let name = url::Url::parse(url)
                .unwrap()
                .path()
                .trim_start_matches('/')
                .to_owned();
            let admin = std::env::var("WRIT_TEST_POSTGRES_URL").unwrap();
            let c = sqlx::PgConnection::connect(&admin).await.unwrap();
            Some((c, name))
        }
        None => None,
    };
    let mut pg = pg;
    match &mut pg {
        Some((c, name)) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {name} ALLOW_CONNECTIONS false"
            )))
            .execute(&mut *c)
            .await
            .unwrap();
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            )
            .bind(&*name)
            .execute(&mut *c)
            .await
            .unwrap();
        }
        None => std::fs::rename(&db_file, &away).unwrap(),
    }
    let (down, took) = ready_becomes(&app, 503, Duration::from_secs(5)).await;
    eprintln!(
        "{}: not ready {took:?} after losing the database",
        backend()
    );
    assert_eq!(down.body["status"], "down");
    let database = &down.body["checks"][0];
    assert_eq!(database["name"], "database");
    assert_eq!(database["status"], "down", "{}", down.body);
    assert!(database["message"].as_str().is_some(), "{}", down.body);
    if backend() == "postgres" {
        // The LISTEN connection was terminated too, and cannot reconnect: its check follows.
        let start = Instant::now();
        loop {
            let r = app.get("/health/ready").await.assert(503);
            let feed = r.body["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["name"] == "authz_feed")
                .unwrap()
                .clone();
            if feed["status"] == "down" {
                eprintln!(
                    "postgres: authz_feed down {:?} after",
                    took + start.elapsed()
                );
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(5), "{}", r.body);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    // It stays so while the database is gone, alive all along: nothing for an orchestrator
    // to restart.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        app.get("/health/ready").await.assert(503);
        app.get("/health/live").await.assert(200);
    }

    let back = Instant::now();
    match &mut pg {
        Some((c, name)) => {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "ALTER DATABASE {name} ALLOW_CONNECTIONS true"
            )))
            .execute(&mut *c)
            .await
            .unwrap();
        }
        None => std::fs::rename(&away, &db_file).unwrap(),
    }
    let (up, took) = ready_becomes(&app, 200, Duration::from_secs(20)).await;
    eprintln!(
        "{}: ready {took:?} after the database came back ({:?} since)",
        backend(),
        back.elapsed()
    );
    assert_eq!(up.body["status"], "up");
    // And serving: a token, which reads the catalog and signs.
    app.mgmt_token(ADMIN_ID, ADMIN_SECRET).await;
    app.api_get("/roles").await;
}

/// Sends `signal` to each process of `pids`.
fn signal(pids: &[i32], signal: &str) {
    for pid in pids {
        let ok = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {signal} {pid}");
    }
}

/// Continues stopped processes when dropped, even if the test fails.
struct Resume(Vec<i32>);

impl Drop for Resume {
    fn drop(&mut self) {
        for pid in &self.0 {
            let _ = std::process::Command::new("kill")
                .args(["-CONT", &pid.to_string()])
                .status();
        }
    }
}

/// A database that hangs rather than refuses (the server's processes for this database
/// stopped, as in a network partition or a stalled disk): the readiness query times out, so
/// the node turns not ready within the 2 s bound, and ready again once the database goes on.
/// PostgreSQL only (SQLite has no server to stall); needs permission to signal PostgreSQL's
/// processes (the test runs where the server is local).
#[tokio::test]
async fn a_node_whose_database_hangs_turns_not_ready_then_ready_again() {
    if backend() != "postgres" {
        eprintln!("PostgreSQL only");
        return;
    }
    let app = TestApp::spawn().await;
    ready_becomes(&app, 200, Duration::from_secs(10)).await;
    let url = app.pg_url().unwrap();
    let name = url::Url::parse(url)
        .unwrap()
        .path()
        .trim_start_matches('/')
        .to_owned();
    let pids: Vec<i32> = {
        use sqlx::Connection;
        let admin = std::env::var("WRIT_TEST_POSTGRES_URL").unwrap();
        let mut c = sqlx::PgConnection::connect(&admin).await.unwrap();
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE datname = $1")
            .bind(&name)
            .fetch_all(&mut c)
            .await
            .unwrap()
    };
    assert!(!pids.is_empty());
    let resume = Resume(pids.clone());
    signal(&pids, "-STOP");
    let (down, took) = ready_becomes(&app, 503, Duration::from_secs(5)).await;
    eprintln!("postgres: not ready {took:?} after its database hung");
    assert_eq!(down.body["checks"][0]["name"], "database");
    assert_eq!(
        down.body["checks"][0]["message"], "no answer within 2 s",
        "{}",
        down.body
    );
    app.get("/health/live").await.assert(200);
    drop(resume);
    let (_, took) = ready_becomes(&app, 200, Duration::from_secs(20)).await;
    eprintln!("postgres: ready {took:?} after its database went on");
    app.mgmt_token(ADMIN_ID, ADMIN_SECRET).await;
}
