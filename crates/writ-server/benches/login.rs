//! Login and refresh throughput over HTTP against a real server on SQLite, side by side with
//! the raw cost that bounds each (one run, same process, same machine).
//!
//! - Logins: password-grant logins/s (each one argon2id verification) at 8 concurrent clients,
//!   against the raw argon2id verification rate on all cores at the same parameters.
//!   Target: logins/s ≥ 90% of the raw rate.
//! - Refresh grants: 16 concurrent refreshers, each rotating its own family, ES256 and RS256
//!   access tokens, and ES256 with `openid` (an RS256 ID token signed on every refresh, as
//!   auth0-spa-js asks). Targets: ES256 ≥ 2,400/s; RS256 ≥ 80% of the RS256 signing rate (the
//!   `tokens` bench); every rotation accounted for (no lost or duplicated token).
//!
//! Run: `cargo bench -p writ-server --bench login` (about 40 s; `BENCH_SECS` per phase, default 6).
//! `BENCH_PHASES` picks phases (`login es256 es256-openid rs256`); `BENCH_COUNT=N` makes N
//! sequential requests per phase instead of a timed load, for counting instructions, e.g.
//! `BENCH_COUNT=200 BENCH_PHASES=es256 valgrind --tool=callgrind target/release/deps/login-… --bench`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use writ_core::SigningAlg;
use writ_store::NewUser;

/// Raw argon2id verifications per second on every core.
fn raw_argon2_rate() -> f64 {
    let phc = argon2::Argon2::default()
        .hash_password(b"correct horse battery")
        .unwrap()
        .to_string();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(common::secs());
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            let (done, phc) = (done.clone(), phc.clone());
            s.spawn(move || {
                let h = PasswordHash::new(&phc).unwrap();
                while Instant::now() < until {
                    assert!(
                        argon2::Argon2::default()
                            .verify_password(b"correct horse battery", &h)
                            .is_ok()
                    );
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let raw = if common::fixed_count().is_some() {
        f64::NAN
    } else {
        raw_argon2_rate()
    };
    common::multi_thread().block_on(async move {
        let local = common::local().await;
        let issuer = local.issuer.clone();
        let mut vars = local.vars("bench.db");
        // `HASH_CONC` overrides the server's argon2 concurrency for experiments.
        if let Ok(conc) = std::env::var("HASH_CONC") {
            vars.push(("WRIT_PASSWORD_HASH_CONCURRENCY", conc));
        }
        let state = common::prepare(&vars).await;
        let s = state.store.clone();
        for alg in [SigningAlg::ES256, SigningAlg::RS256] {
            s.create_resource_server(common::rbac_api(&format!("https://bench.example/{}", alg.as_str()), "bench", common::read_things(), alg, true))
            .await
            .unwrap();
        }
        let hash = state.hasher.hash("bench-password-1").await.unwrap();
        let user = s.create_user(NewUser { email: "bench@example.com".into(), password_hash: Some(hash), ..Default::default() }).await.unwrap();
        common::web_client(&state, ("bench-spa", "bench", "bench-secret-0123456789"), &["password", "refresh_token"]).await;
        state.reload().await.unwrap();
        common::serve(local.listener, &state);
        let http = reqwest::Client::new();
        let token_url = format!("{issuer}oauth/token");

        // Logins (password grant: one argon2id verification each).
        if common::phase("login") {
        let (h, u) = (http.clone(), token_url.clone());
        let (logins, login_fail) = common::run_load(8, move |_, _| {
            let (h, u) = (h.clone(), u.clone());
            async move {
                let r = h
                    .post(&u)
                    .form(&[
                        ("grant_type", "password"),
                        ("client_id", "bench-spa"),
                        ("client_secret", "bench-secret-0123456789"),
                        ("username", "bench@example.com"),
                        ("password", "bench-password-1"),
                        ("audience", "https://bench.example/ES256"),
                    ])
                    .send()
                    .await;
                matches!(r, Ok(r) if r.status() == 200)
            }
        })
        .await;
        println!("argon2id raw verify (all cores): {raw:.1}/s");
        println!("password logins over HTTP (8 clients): {logins:.1}/s  ({:.0}% of raw; {login_fail} failed)", 100.0 * logins / raw);
        }

        // Refresh grants: 16 families rotating concurrently.
        for (name, alg, scope) in [
            ("es256", "ES256", "offline_access read:things"),
            ("es256-openid", "ES256", "openid offline_access read:things"),
            ("rs256", "RS256", "offline_access read:things"),
        ] {
            if !common::phase(name) {
                continue;
            }
            let tokens = common::refresh_families(&state, 16, "bench-spa", &user.user_id, &format!("https://bench.example/{alg}"), scope).await;
            let chains: Arc<Vec<tokio::sync::Mutex<String>>> = Arc::new(tokens.into_iter().map(tokio::sync::Mutex::new).collect());
            let (h, u, c) = (http.clone(), token_url.clone(), chains.clone());
            let (rate, fail) = common::run_load(16, move |i, _| {
                let (h, u, c) = (h.clone(), u.clone(), c.clone());
                async move { common::rotate(&h, &u, ("bench-spa", "bench-secret-0123456789"), &mut *c[i].lock().await).await }
            })
            .await;
            let id = if scope.contains("openid") { " + RS256 ID token" } else { "" };
            println!("refresh grants over HTTP, {alg} access token{id} (16 families): {rate:.1}/s  ({fail} failed)");
        }
    });
}
