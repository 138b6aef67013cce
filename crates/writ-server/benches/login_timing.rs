//! Whether a failed password login takes the same time for every kind of user: unknown emails,
//! users with Writ's own argon2id hash, and users whose hash was imported with another algorithm
//! (PBKDF2 with few iterations, a salted SHA-256, bcrypt), both through the users-import job
//! (stored wrapped in argon2id) and as rows imported before wrapping existed (stored bare).
//!
//! Each request is one password-grant with a wrong password for a different user, sent one at a
//! time, the kinds interleaved; the bench prints the median and the 10th/90th percentiles per
//! kind. It makes no assertion (timings vary by machine): compare the medians.
//!
//! Run: `cargo bench -p writ-server --bench login_timing` (`TIMING_N` users per kind, default 40).

mod common;

use std::time::{Duration, Instant};

use serde_json::json;
use writ_core::SigningAlg;
use writ_store::NewUser;

const ADMIN: &str = "timing-admin";
const ADMIN_SECRET: &str = "timing-admin-secret-0123456789";
/// PBKDF2-HMAC-SHA256, 1,000 iterations ("correct horse"; Python's hashlib).
const PBKDF2: &str =
    "$pbkdf2-sha256$i=1000,l=32$TmFDbC1zYWx0LTEyMw$ua8Y0lZXyvXdWdEFG4AkWWcXpXgxWp9bD1eFos0o4L4";

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let at = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0;
    format!(
        "median {:6.1} ms   p10 {:6.1}   p90 {:6.1}",
        at(0.5),
        at(0.1),
        at(0.9)
    )
}

fn main() {
    let n: usize = std::env::var("TIMING_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40);
    common::multi_thread().block_on(async move {
        let local = common::local().await;
        let issuer = local.issuer.clone();
        let mut vars = local.vars("timing.db");
        vars.push(("WRIT_BOOTSTRAP_CLIENT_ID", ADMIN.into()));
        vars.push(("WRIT_BOOTSTRAP_CLIENT_SECRET", ADMIN_SECRET.into()));
        let state = common::prepare(&vars).await;
        let s = state.store.clone();
        s.create_resource_server(common::rbac_api("https://timing.example/", "timing", common::read_things(), SigningAlg::ES256, false))
        .await
        .unwrap();
        common::web_client(&state, ("timing-cli", "timing", "timing-secret-0123456789"), &["password"]).await;
        state.reload().await.unwrap();
        common::serve(local.listener, &state);
        let http = reqwest::Client::new();
        let token_url = format!("{issuer}oauth/token");

        // Users: argon2id (Writ's own), bare legacy rows, and the import job's users.
        let argon = state.hasher.hash("the-right-password").await.unwrap();
        for i in 0..n {
            for (kind, hash) in [("argon2", argon.as_str()), ("bare-pbkdf2", PBKDF2)] {
                s.create_user(NewUser { email: format!("{kind}-{i}@example.com"), password_hash: Some(hash.into()), ..Default::default() })
                    .await
                    .unwrap();
            }
        }
        let admin = common::machine_token(&http, &token_url, (ADMIN, ADMIN_SECRET), &format!("{issuer}api/v2/")).await;
        let bcrypt10 = bcrypt::hash("the-right-password", 10).unwrap();
        let mut users = vec![];
        for i in 0..n {
            users.push(json!({"email": format!("pbkdf2-{i}@example.com"), "custom_password_hash": {"algorithm": "pbkdf2", "hash": {"value": PBKDF2}}}));
            users.push(json!({"email": format!("sha256-{i}@example.com"), "custom_password_hash": {"algorithm": "sha256",
                "hash": {"value": "9972B132A172BE00B57558C5C49AE78854F53D86CC03B0AED888A853E65A3D17", "encoding": "hex"},
                "salt": {"value": "abc123", "position": "prefix"}}}));
            users.push(json!({"email": format!("bcrypt10-{i}@example.com"), "password_hash": bcrypt10}));
        }
        for chunk in users.chunks(60) {
            let form = reqwest::multipart::Form::new()
                .part("users", reqwest::multipart::Part::bytes(serde_json::to_vec(chunk).unwrap()).file_name("u.json").mime_str("application/json").unwrap())
                .text("connection_id", "Username-Password-Authentication");
            let r = http.post(format!("{issuer}api/v2/jobs/users-imports")).bearer_auth(&admin).multipart(form).send().await.unwrap();
            let job: serde_json::Value = r.json().await.unwrap();
            assert_eq!(job["summary"]["failed"], 0, "{job}");
        }
        let sample = |email: &str| {
            let email = email.to_owned();
            let (h, u) = (http.clone(), token_url.clone());
            async move {
                let t = Instant::now();
                let r = h
                    .post(&u)
                    .form(&[("grant_type", "password"), ("client_id", "timing-cli"), ("client_secret", "timing-secret-0123456789"),
                        ("username", email.as_str()), ("password", "a-wrong-password"), ("audience", "https://timing.example/")])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 400, "{email}");
                t.elapsed()
            }
        };
        let kinds = ["unknown", "argon2", "pbkdf2", "sha256", "bcrypt10", "bare-pbkdf2"];
        let mut times: Vec<Vec<Duration>> = vec![vec![]; kinds.len()];
        // Warm-up.
        for i in 0..5 {
            sample(&format!("warmup-{i}@example.com")).await;
        }
        for i in 0..n {
            for (k, kind) in kinds.iter().enumerate() {
                times[k].push(sample(&format!("{kind}-{i}@example.com")).await);
            }
        }
        println!("failed password-grant logins, {n} per kind, sequential, interleaved:");
        for (k, kind) in kinds.iter().enumerate() {
            let label = match *kind {
                "unknown" => "unknown email",
                "argon2" => "argon2id user",
                "pbkdf2" => "imported PBKDF2 (i=1000), import job",
                "sha256" => "imported salted SHA-256, import job",
                "bcrypt10" => "imported bcrypt cost 10, import job",
                _ => "PBKDF2 row stored before wrapping",
            };
            println!("  {label:<40} {}", stats(times[k].clone()));
        }
    });
}
