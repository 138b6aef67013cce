//! SQLite vs PostgreSQL, one node vs two, over HTTP in one run (issue 5's numbers):
//!
//! - `client_credentials` grants/s (ES256, 16 concurrent clients);
//! - refresh grants/s (ES256, 16 families rotating concurrently; with two nodes, successive
//!   rotations of one family alternate between the nodes);
//! - with two nodes: authz-event propagation across nodes — from the Management API's 2xx on
//!   node A to the event arriving on an SSE stream from node B, over `CHANGES` changes
//!   (target p99 ≤ 250 ms).
//!
//! Nodes are `writ_server` instances in this process (own state, catalog, watcher and
//! PostgreSQL LISTEN connection each) on their own ports; the load generator shares the
//! machine. PostgreSQL: a fresh database on `WRIT_TEST_POSTGRES_URL` (default
//! postgres://postgres@127.0.0.1:5432/test), dropped at the end.
//!
//! Run: `cargo bench -p writ-server --bench backends` (`BENCH_SECS` per phase, default 6;
//! `CHANGES`, default 200).

mod common;
#[allow(dead_code)]
#[path = "../tests/it/pg.rs"]
mod pg;
#[allow(dead_code)]
#[path = "../tests/it/web.rs"]
mod web;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use writ_core::SigningAlg;
use writ_service::crypto::random_alnum;
use writ_store::NewUser;

const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const API: &str = "https://bench.example/ES256";

/// Starts `n` nodes on `db` sharing the first node's issuer; returns their base URLs (with
/// trailing slash) and the first node's state.
async fn nodes(db: &str, n: usize) -> (Vec<String>, writ_server::AppState, String) {
    let mut bases = Vec::new();
    let mut first = None;
    let mut issuer = String::new();
    for i in 0..n {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        if i == 0 {
            issuer = format!("http://127.0.0.1:{port}/");
        }
        let vars = [
            ("WRIT_ISSUER", issuer.clone()),
            ("WRIT_DATABASE_URL", db.to_owned()),
            ("WRIT_LISTEN", format!("127.0.0.1:{port}")),
            ("WRIT_KEY_ENCRYPTION_KEY", KEK.to_owned()),
            ("WRIT_BOOTSTRAP_CLIENT_ID", "bench-admin".to_owned()),
            (
                "WRIT_BOOTSTRAP_CLIENT_SECRET",
                "bench-admin-secret-0123456789".to_owned(),
            ),
        ];
        let state = common::prepare(&vars).await;
        common::serve(listener, &state);
        bases.push(format!("http://127.0.0.1:{port}/"));
        first.get_or_insert(state);
    }
    (bases, first.unwrap(), issuer)
}

async fn seed(state: &writ_server::AppState) -> String {
    let s = &state.store;
    s.create_resource_server(common::rbac_api(
        API,
        "bench",
        common::read_things(),
        SigningAlg::ES256,
        true,
    ))
    .await
    .unwrap();
    let user = s
        .create_user(NewUser {
            email: "bench@example.com".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    common::web_client(
        state,
        ("bench-app", "bench", "bench-secret-0123456789"),
        &["client_credentials", "refresh_token"],
    )
    .await;
    s.create_client_grant("bench-app", API, &["read:things".into()])
        .await
        .unwrap();
    state.reload().await.unwrap();
    user.user_id
}

async fn measure(label: &str, db: &str, n: usize) {
    let (bases, state, issuer) = nodes(db, n).await;
    let user = seed(&state).await;
    // Let the other nodes see the catalog (their watcher reloads it).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let http = reqwest::Client::new();
    let bases = Arc::new(bases);

    let (h, b) = (http.clone(), bases.clone());
    let (cc, cc_fail) = common::run_load(16, move |i, k| {
        let (h, u) = (
            h.clone(),
            format!("{}oauth/token", b[(i + k as usize) % b.len()]),
        );
        async move {
            let r = h
                .post(&u)
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", "bench-app"),
                    ("client_secret", "bench-secret-0123456789"),
                    ("audience", API),
                ])
                .send()
                .await;
            matches!(r, Ok(r) if r.status() == 200)
        }
    })
    .await;

    let tokens = common::refresh_families(
        &state,
        16,
        "bench-app",
        &user,
        API,
        "offline_access read:things",
    )
    .await
    .into_iter()
    .map(tokio::sync::Mutex::new)
    .collect::<Vec<_>>();
    let chains = Arc::new(tokens);
    let (h, b) = (http.clone(), bases.clone());
    let (rf, rf_fail) = common::run_load(16, move |i, k| {
        let (h, b, c) = (h.clone(), b.clone(), chains.clone());
        async move {
            let u = format!("{}oauth/token", b[(i + k as usize) % b.len()]);
            common::rotate(
                &h,
                &u,
                ("bench-app", "bench-secret-0123456789"),
                &mut *c[i].lock().await,
            )
            .await
        }
    })
    .await;
    println!(
        "{label:<22} client_credentials {cc:>8.0}/s ({cc_fail} failed)   refresh {rf:>7.0}/s ({rf_fail} failed)"
    );

    if n > 1 {
        propagation(&http, &bases, &issuer, &user).await;
    }
}

/// Management API change on node A → the event on node B's SSE stream.
async fn propagation(http: &reqwest::Client, bases: &[String], issuer: &str, user: &str) {
    let changes: usize = std::env::var("CHANGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let admin = common::machine_token(
        http,
        &format!("{}oauth/token", bases[0]),
        ("bench-admin", "bench-admin-secret-0123456789"),
        &format!("{issuer}api/v2/"),
    )
    .await;
    let role: serde_json::Value = common::json_of(
        http.post(format!("{}api/v2/roles", bases[0]))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"name": format!("p-{}", random_alnum(8))})),
    )
    .await;
    let role = role["id"].as_str().unwrap().to_owned();
    let head: serde_json::Value = common::json_of(
        http.get(format!("{}api/v2/authz-events?from=0&limit=500", bases[1]))
            .bearer_auth(&admin),
    )
    .await;
    let mut resp = http
        .get(format!("{}api/v2/authz-events", bases[1]))
        .bearer_auth(&admin)
        .header("accept", "text/event-stream")
        .header(
            "last-event-id",
            head["next"].as_i64().unwrap_or(0).to_string(),
        )
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    let mut latencies = Vec::new();
    for i in 0..changes {
        let method = if i % 2 == 0 {
            reqwest::Method::POST
        } else {
            reqwest::Method::DELETE
        };
        let r = http
            .request(method, format!("{}api/v2/users/{user}/roles", bases[0]))
            .bearer_auth(&admin)
            .json(&serde_json::json!({"roles": [role]}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        let acked = Instant::now();
        // Wait for one `event: authz` frame on B's stream.
        web::next_event(&mut resp, &mut buf, Duration::from_secs(10)).await;
        latencies.push(acked.elapsed());
    }
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    println!(
        "{:<22} propagation A → B over {changes} changes: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        "",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}

fn main() {
    common::multi_thread().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = format!("sqlite://{}/bench.db", dir.path().display());
        measure("SQLite, 1 node", &sqlite, 1).await;

        let admin_url = std::env::var("WRIT_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        for (label, n) in [("PostgreSQL, 1 node", 1), ("PostgreSQL, 2 nodes", 2)] {
            let db = pg::PgTestDb::create_on(admin_url.clone(), "writ_bench").await;
            measure(label, &db.url, n).await;
        }
    });
}
