//! What several benches share: their Criterion settings, the load loop of the HTTP benches,
//! the fixtures they seed through the store (an API, refresh-token families) and their token
//! requests. Each bench uses a part of it.
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use writ_core::{ResourceServer, Scope, SigningAlg, TokenDialect};
use writ_service::crypto::{random_token, sha256_hex};
use writ_store::RefreshToken;

/// `criterion_main!` with the short warm-up and measurement the Criterion benches use.
#[macro_export]
macro_rules! bench_main {
    ($($target:path),+ $(,)?) => {
        criterion::criterion_group! {
            name = benches;
            config = criterion::Criterion::default()
                .warm_up_time(std::time::Duration::from_secs(1))
                .measurement_time(std::time::Duration::from_secs(3))
                .sample_size(30);
            targets = $($target),+
        }
        criterion::criterion_main!(benches);
    };
}

/// The permissions of the token the signing and verification benches use.
pub fn todo_permissions() -> Vec<String> {
    [
        "read:todos",
        "write:todos",
        "delete:todos",
        "read:lists",
        "write:lists",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// The multi-threaded runtime the HTTP benches run in.
pub fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Where an HTTP bench runs its server: a temporary folder and a listener on 127.0.0.1.
pub struct Local {
    pub dir: tempfile::TempDir,
    pub listener: tokio::net::TcpListener,
    pub port: u16,
    /// `http://127.0.0.1:{port}/`
    pub issuer: String,
}

pub async fn local() -> Local {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let issuer = format!("http://127.0.0.1:{port}/");
    Local {
        dir,
        listener,
        port,
        issuer,
    }
}

impl Local {
    /// The settings of a server here: its issuer and listen address, and the SQLite file
    /// `db_file` in the folder.
    pub fn vars(&self, db_file: &str) -> Vec<(&'static str, String)> {
        vec![
            ("WRIT_ISSUER", self.issuer.clone()),
            (
                "WRIT_DATABASE_URL",
                format!("sqlite://{}/{db_file}", self.dir.path().display()),
            ),
            ("WRIT_LISTEN", format!("127.0.0.1:{}", self.port)),
        ]
    }
}

/// A server prepared with the settings `vars` (name, value) and no other, except that an
/// API's ES256 or EdDSA key signs from its first token (no JWKS warm-up) unless `vars` says.
pub async fn prepare(vars: &[(&str, String)]) -> writ_server::AppState {
    let config = writ_server::Config::load(None, |k| {
        vars.iter()
            .find(|(a, _)| *a == k)
            .map(|(_, b)| b.clone())
            .or_else(|| (k == "WRIT_JWKS_WARMUP_SECS").then(|| "0".into()))
    })
    .unwrap();
    writ_server::prepare(config).await.unwrap().0
}

/// Serves `state` on `listener` in the background, for as long as the bench runs.
pub fn serve(listener: tokio::net::TcpListener, state: &writ_server::AppState) {
    let st = state.clone();
    tokio::spawn(async move {
        writ_server::run(listener, st, std::future::pending())
            .await
            .unwrap()
    });
}

/// Stores a confidential regular-web client allowed `grant_types`.
pub async fn web_client(
    state: &writ_server::AppState,
    (id, name, secret): (&str, &str, &str),
    grant_types: &[&str],
) {
    let mut client = writ_service::bootstrap::machine_client(id, name, secret);
    client.app_type = writ_core::AppType::RegularWeb;
    client.grant_types = grant_types.iter().map(|g| g.to_string()).collect();
    state.store.create_client(&client).await.unwrap();
}

/// One current key per algorithm, sealed with a fixed key-encryption key: the cipher, the
/// records and the ring that signs with them (every algorithm in use).
pub fn key_ring() -> (
    writ_service::crypto::KeyCipher,
    Vec<writ_core::SigningKey>,
    writ_service::signing_keys::KeyRing,
) {
    use writ_service::signing_keys;
    let cipher = writ_service::crypto::KeyCipher::new(&[7u8; 32]);
    let records: Vec<_> = SigningAlg::ALL
        .iter()
        .map(|&a| {
            signing_keys::new_record(a, writ_core::KeyState::Current, &cipher)
                .expect("key generation")
        })
        .collect();
    let in_use = SigningAlg::ALL.into_iter().collect();
    let ring = signing_keys::KeyRing::build(&records, &cipher, &in_use).expect("key ring");
    (cipher, records, ring)
}

/// `claims` signed as an access token by the ring's key for `alg` (Writ's server path).
pub fn sign_access(
    ring: &writ_service::signing_keys::KeyRing,
    alg: SigningAlg,
    claims: &writ_core::claims::AccessClaims,
) -> String {
    ring.signer(alg)
        .expect("signer")
        .sign("at+jwt", claims)
        .expect("sign")
}

/// The stock `jsonwebtoken` check of a key's tokens: its public key, and a validation of the
/// signature and expiry (not the audience).
pub fn raw_check(
    key: &writ_core::SigningKey,
) -> (jsonwebtoken::DecodingKey, jsonwebtoken::Validation) {
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(key.public_jwk.clone()).expect("jwk");
    let mut validation =
        jsonwebtoken::Validation::new(writ_service::signing_keys::jwt_alg(key.alg));
    validation.validate_aud = false;
    (
        jsonwebtoken::DecodingKey::from_jwk(&jwk).expect("decoding key"),
        validation,
    )
}

/// Seconds per load phase: `BENCH_SECS`, default 6.
pub fn secs() -> u64 {
    std::env::var("BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

/// `BENCH_COUNT`: when set, each load phase makes exactly this many calls, one at a time, and
/// reports them instead of a rate, so that a run can be measured in instructions (a fixed
/// amount of work) rather than in seconds on a shared machine.
pub fn fixed_count() -> Option<u64> {
    std::env::var("BENCH_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// Called as a [`fixed_count`] phase starts and ends, so that an instruction counter can
/// count only the phase (e.g. valgrind's callgrind with `--zero-before=writ_bench_count_start
/// --dump-before=writ_bench_count_end`): the setup before (key generation) varies from run to
/// run.
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn writ_bench_count_start() {
    // Distinct bodies, so that the linker does not fold the two markers into one.
    std::hint::black_box(1u8);
}

/// See [`writ_bench_count_start`].
#[unsafe(no_mangle)]
#[inline(never)]
pub extern "C" fn writ_bench_count_end() {
    std::hint::black_box(2u8);
}

/// Whether the phase `name` runs: `BENCH_PHASES` (names separated by spaces or commas) lists
/// the phases to run, all when unset.
pub fn phase(name: &str) -> bool {
    std::env::var("BENCH_PHASES").map_or(true, |v| v.split([' ', ',']).any(|p| p == name))
}

/// Runs `f(worker, n)` (`n` counting each worker's calls from 1) on `concurrency` workers for
/// [`secs`]; returns the successes per second and the failures. With [`fixed_count`], one
/// worker makes that many calls and the successes themselves are returned.
pub async fn run_load<F, Fut>(concurrency: usize, f: F) -> (f64, u64)
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    if let Some(count) = fixed_count() {
        let (mut ok, mut failed) = (0, 0);
        writ_bench_count_start();
        for n in 1..=count {
            if f(0, n).await {
                ok += 1;
            } else {
                failed += 1;
            }
        }
        writ_bench_count_end();
        return (ok as f64, failed);
    }
    let f = Arc::new(f);
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs());
    let start = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..concurrency {
        let (f, ok, failed) = (f.clone(), ok.clone(), failed.clone());
        set.spawn(async move {
            let mut n = 0;
            while Instant::now() < until {
                n += 1;
                if f(i, n).await {
                    ok.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    (
        ok.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64(),
        failed.load(Ordering::Relaxed),
    )
}

/// An RBAC API (`permissions` claim) signing with `alg`, with `scopes`.
pub fn rbac_api(
    identifier: &str,
    name: &str,
    scopes: Vec<Scope>,
    alg: SigningAlg,
    allow_offline_access: bool,
) -> ResourceServer {
    ResourceServer {
        id: String::new(),
        identifier: identifier.into(),
        name: name.into(),
        scopes,
        signing_alg: alg,
        token_lifetime: 3600,
        enforce_policies: true,
        token_dialect: TokenDialect::AccessTokenAuthz,
        allow_offline_access,
        is_system: false,
        token_claims: Default::default(),
    }
}

/// The one scope the HTTP benches' APIs define.
pub fn read_things() -> Vec<Scope> {
    vec![Scope {
        value: "read:things".into(),
        description: String::new(),
    }]
}

/// `n` fresh refresh-token families of `client_id` for `user_id`, stored; returns the tokens.
pub async fn refresh_families(
    state: &writ_server::AppState,
    n: usize,
    client_id: &str,
    user_id: &str,
    audience: &str,
    scope: &str,
) -> Vec<String> {
    let now = chrono::Utc::now().timestamp();
    let mut tokens = Vec::new();
    for _ in 0..n {
        let t = random_token(32);
        state
            .store
            .create_refresh(&RefreshToken {
                id: sha256_hex(&t),
                family_id: random_token(16),
                parent_id: None,
                client_id: client_id.into(),
                user_id: user_id.into(),
                audience: Some(audience.into()),
                scope: scope.into(),
                sid: None,
                auth_time: now,
                created_at: now,
                idle_expires_at: now + 86_400,
                family_expires_at: now + 86_400,
                used_at: None,
                revoked: false,
                amr: None,
            })
            .await
            .unwrap();
        tokens.push(t);
    }
    tokens
}

/// One refresh grant at `token_url`, rotating `cur` to the new refresh token; whether it
/// succeeded.
pub async fn rotate(
    http: &reqwest::Client,
    token_url: &str,
    client: (&str, &str),
    cur: &mut String,
) -> bool {
    let r = http
        .post(token_url)
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", client.0),
            ("client_secret", client.1),
            ("refresh_token", cur.as_str()),
        ])
        .send()
        .await;
    match r {
        Ok(r) if r.status() == 200 => {
            let v: serde_json::Value = r.json().await.unwrap();
            *cur = v["refresh_token"].as_str().unwrap().to_owned();
            true
        }
        _ => false,
    }
}

/// A client-credentials access token from `token_url`.
pub async fn machine_token(
    http: &reqwest::Client,
    token_url: &str,
    client: (&str, &str),
    audience: &str,
) -> String {
    let r = json_of(http.post(token_url).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", client.0),
        ("client_secret", client.1),
        ("audience", audience),
    ]))
    .await;
    r["access_token"].as_str().unwrap().to_owned()
}

/// Sends the request; its response's JSON body.
pub async fn json_of(req: reqwest::RequestBuilder) -> serde_json::Value {
    req.send().await.unwrap().json().await.unwrap()
}
