//! Propagation of a permission change, measured from outside: the time from the Management
//! API's 2xx for a change to alice's roles to the first `401` for her previous token at an API
//! protected by `writ gate` (auth_request endpoint) following the event feed.
//!
//! Per change: a fresh token for alice (password grant), checked to pass at the gate; then
//! alternately unassign/assign a role that grants nothing else (so each change bumps her authz
//! version); then ask the gate every ~0.5 ms until it refuses the token. Prints p50/p90/p99/max.
//!
//! Run through `bench/propagation.sh` (it starts Writ and the gate); by hand:
//! `cargo run --release -p writ-gate --example propagation -- ISSUER GATE_URL ADMIN_ID ADMIN_SECRET [CHANGES]`.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

const TODOS_API: &str = "https://todos.example/api";

struct Bench {
    http: reqwest::Client,
    issuer: String,
    gate: String,
    admin: String,
}

impl Bench {
    async fn token(&self, form: &[(&str, &str)]) -> String {
        let r: Value = self
            .http
            .post(format!("{}oauth/token", self.issuer))
            .form(form)
            .send()
            .await
            .expect("token endpoint")
            .json()
            .await
            .expect("token json");
        r["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access token: {r}"))
            .to_owned()
    }

    async fn mgmt(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}api/v2/{path}", self.issuer))
            .bearer_auth(&self.admin);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("management api");
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap_or(Value::Null)
    }

    async fn gate_status(&self, token: &str) -> u16 {
        self.http
            .get(format!("{}/auth", self.gate))
            .header("x-original-method", "GET")
            .header("x-original-uri", "/api/todos")
            .bearer_auth(token)
            .send()
            .await
            .expect("gate")
            .status()
            .as_u16()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [issuer, gate, admin_id, admin_secret, rest @ ..] = args.as_slice() else {
        eprintln!("usage: propagation ISSUER GATE_URL ADMIN_ID ADMIN_SECRET [CHANGES]");
        std::process::exit(2);
    };
    let changes: usize = rest.first().map_or(1000, |n| n.parse().expect("CHANGES"));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .build()
        .unwrap();
    let mut b = Bench {
        http,
        issuer: issuer.clone(),
        gate: gate.trim_end_matches('/').to_owned(),
        admin: String::new(),
    };
    let aud = format!("{issuer}api/v2/");
    b.admin = b
        .token(&[
            ("grant_type", "client_credentials"),
            ("client_id", admin_id),
            ("client_secret", admin_secret),
            ("audience", &aud),
        ])
        .await;
    let alice = b
        .mgmt(
            reqwest::Method::GET,
            "users-by-email?email=alice@example.com",
            None,
        )
        .await[0]["user_id"]
        .as_str()
        .expect("alice")
        .to_owned();
    // A role that grants nothing: assigning and unassigning it changes alice's authz version
    // and nothing else.
    let role = b
        .mgmt(
            reqwest::Method::POST,
            "roles",
            Some(json!({"name": format!("propagation-{}", std::process::id()), "description": "bench"})),
        )
        .await["id"]
        .as_str()
        .expect("role id")
        .to_owned();

    let mut latencies = Vec::with_capacity(changes);
    let started = Instant::now();
    for i in 0..changes {
        let token = b
            .token(&[
                ("grant_type", "password"),
                ("client_id", "demo-cli"),
                ("client_secret", "demo-cli-secret-change-me"),
                ("username", "alice@example.com"),
                ("password", "alice-password-1"),
                ("audience", TODOS_API),
            ])
            .await;
        assert_eq!(b.gate_status(&token).await, 200, "fresh token refused");
        let method = if i % 2 == 0 {
            reqwest::Method::POST
        } else {
            reqwest::Method::DELETE
        };
        b.mgmt(
            method,
            &format!("users/{alice}/roles"),
            Some(json!({"roles": [role]})),
        )
        .await;
        let acked = Instant::now();
        loop {
            match b.gate_status(&token).await {
                200 => {}
                401 => break,
                other => panic!("gate answered {other}"),
            }
            if acked.elapsed() > Duration::from_secs(10) {
                panic!("change {i} not seen by the gate within 10 s");
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        latencies.push(acked.elapsed());
    }
    b.mgmt(reqwest::Method::DELETE, &format!("roles/{role}"), None)
        .await;
    latencies.sort();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        latencies[i].as_secs_f64() * 1000.0
    };
    println!(
        "propagation over {changes} changes ({:.0} s): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        started.elapsed().as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        pct(1.0)
    );
}
