//! Two `writ serve` processes on one PostgreSQL database (a fresh database on the server at
//! `WRIT_TEST_POSTGRES_URL`): one is killed with SIGKILL in the middle of a write load; the
//! other keeps serving, no write that was acknowledged with a 2xx is lost, and the killed node,
//! restarted, serves everything written meanwhile.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::{PgTestDb, Server, client_credentials, free_port, json_of, node_env};

const KEK: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const ADMIN: (&str, &str) = ("mn-admin", "mn-admin-secret-0123456789abcdef");

fn start(dir: &std::path::Path, port: u16, issuer: &str, db: &str, log: &str) -> Server {
    let env = node_env(db, KEK, ADMIN);
    Server::start(dir, port, issuer, &env, log)
}

async fn admin_token(http: &reqwest::Client, base: &str, issuer: &str) -> String {
    let aud = format!("{issuer}api/v2/");
    let r: Value = json_of(client_credentials(http, base, ADMIN, &aud)).await;
    r["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_killed_node_loses_no_acknowledged_write_and_catches_up() {
    let pg = PgTestDb::create("writ_kill").await;
    let db = pg.url.clone();

    let dir = tempfile::tempdir().unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let issuer = format!("http://127.0.0.1:{port_a}/");
    let a = start(dir.path(), port_a, &issuer, &db, "a.log");
    let b = start(dir.path(), port_b, &issuer, &db, "b.log");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let token = admin_token(&http, &a.base, &issuer).await;
    let call = |method: reqwest::Method, url: String, body: Value| {
        http.request(method, url)
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    // One user per writer, whose direct permission the writer toggles: authz events.
    let api = "https://load.example/api";
    let r = call(
        reqwest::Method::POST,
        format!("{}/api/v2/resource-servers", a.base),
        json!({"identifier": api, "name": "load", "scopes": [{"value": "p", "description": "p"}]}),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 201);
    let mut users = Vec::new();
    for w in 0..4 {
        let r = call(
            reqwest::Method::POST,
            format!("{}/api/v2/users", a.base),
            json!({"email": format!("w{w}@example.com"), "password": "load-password-1",
                   "connection": "Username-Password-Authentication"}),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        users.push(v["user_id"].as_str().unwrap().to_owned());
    }

    // Write load on both nodes: roles, and grants or revocations of a user's permission, each
    // acknowledged one remembered.
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let toggles = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut writers = Vec::new();
    for (w, base) in [
        (0, a.base.clone()),
        (1, b.base.clone()),
        (2, a.base.clone()),
        (3, b.base.clone()),
    ] {
        let (http, token, acked, stop, toggles) = (
            http.clone(),
            token.clone(),
            acked.clone(),
            stop.clone(),
            toggles.clone(),
        );
        let user = users[w].clone();
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            let mut errors = 0;
            let mut granted = false;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let toggle = i % 2 == 0;
                let r = if toggle {
                    let method = if granted {
                        reqwest::Method::DELETE
                    } else {
                        reqwest::Method::POST
                    };
                    http.request(method, format!("{base}/api/v2/users/{user}/permissions"))
                        .bearer_auth(&token)
                        .json(&json!({"permissions": [{"resource_server_identifier": api, "permission_name": "p"}]}))
                        .send()
                        .await
                } else {
                    http.post(format!("{base}/api/v2/roles"))
                        .bearer_auth(&token)
                        .json(&json!({"name": format!("w{w}-{i}"), "description": "load"}))
                        .send()
                        .await
                };
                match r {
                    Ok(r) if r.status().is_success() && toggle => {
                        granted = !granted;
                        toggles.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(r) if r.status().is_success() => {
                        let v: Value = r.json().await.unwrap();
                        acked
                            .lock()
                            .unwrap()
                            .push(v["id"].as_str().unwrap().to_owned());
                    }
                    Ok(r) => panic!("{base}: {}", r.status()),
                    // The killed node: connection refused or reset; nothing was acknowledged.
                    Err(_) => {
                        errors += 1;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
            errors
        }));
    }
    // Kill A under load (however slow the machine: a count, not a time), then let B take
    // more acknowledged writes.
    let acked_past = |n: usize| {
        let acked = acked.clone();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while acked.lock().unwrap().len() <= n && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    acked_past(10).await;
    let mut a = a;
    a.child.kill().unwrap(); // SIGKILL
    a.child.wait().unwrap();
    let before_kill = acked.lock().unwrap().len();
    acked_past(before_kill + 10).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut errors = 0;
    for w in writers {
        errors += w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        before_kill > 10,
        "too little load before the kill: {before_kill}"
    );
    assert!(
        acked.len() > before_kill,
        "node B stopped serving after A was killed"
    );
    assert!(errors > 0, "the writers never noticed A was gone");

    // Every acknowledged write is there, read through B…
    let count = |base: String| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let v: Value = json_of(
                http.get(format!(
                    "{base}/api/v2/roles?include_totals=true&per_page=1"
                ))
                .bearer_auth(&token),
            )
            .await;
            v["total"].as_u64().unwrap() as usize
        }
    };
    for id in &acked {
        let r = http
            .get(format!("{}/api/v2/roles/{id}", b.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "acknowledged role {id} is missing");
    }
    let total = count(b.base.clone()).await;
    assert!(total >= acked.len());

    // Every acknowledged grant or revocation left its event in the durable log.
    let feed = |base: String| {
        let (http, token) = (http.clone(), token.clone());
        async move {
            let mut events = Vec::new();
            let mut from = 0;
            loop {
                let v: Value = json_of(
                    http.get(format!("{base}/api/v2/authz-events?from={from}"))
                        .bearer_auth(&token),
                )
                .await;
                let batch = v["events"].as_array().unwrap().clone();
                if batch.is_empty() {
                    return events;
                }
                from = v["next"].as_i64().unwrap();
                events.extend(batch);
            }
        }
    };
    let on_b = feed(b.base.clone()).await;
    let toggled = on_b
        .iter()
        .filter(|e| users.iter().any(|u| e["user_id"] == u.as_str()))
        .count();
    let acked_toggles = toggles.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        acked_toggles > 4,
        "too few grants under load: {acked_toggles}"
    );
    assert!(
        toggled >= acked_toggles,
        "{acked_toggles} acknowledged permission changes, {toggled} events"
    );

    // …and A, restarted on the same port, catches up: the same data, the same event log (a
    // guard following A resumes where it was), the same keys, the same tokens accepted.
    let a = start(dir.path(), port_a, &issuer, &db, "a2.log");
    assert_eq!(count(a.base.clone()).await, total);
    assert_eq!(feed(a.base.clone()).await, on_b);
    let jwks = |base: String| {
        let http = http.clone();
        async move { json_of(http.get(format!("{base}/.well-known/jwks.json"))).await }
    };
    assert_eq!(jwks(a.base.clone()).await, jwks(b.base.clone()).await);
    drop((a, b));
}
