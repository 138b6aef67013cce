//! Mixed-workload load driver for `bench/mixed.sh` (issue 13 §6): refresh grants,
//! `client_credentials`, password logins and Management API permission changes against one
//! Writ server at the same time, while `GUARDS` writ-guard instances follow the authz event
//! feed; reports per-operation latency and rate, and how soon each guard saw each change.
//!
//! - Refresh: one task per refresh family (`REFRESH_TOKENS_FILE`, one token a line), each with
//!   one request in flight and presenting the rotated token next (closed loop). A family whose
//!   request fails is dead: counted as an error, its task stops.
//! - `client_credentials`: `CC_CONCURRENCY` closed-loop tasks over `CC_CLIENTS`
//!   (`id:secret:audience,…`).
//! - Password logins: `LOGIN_RATE` per second, open loop (each one its own task, latency from its
//!   scheduled start, so a slow server does not hide queueing), a random seeded user each.
//! - Management API changes: `MGMT_RATE` per second, open loop, each to a random user not
//!   changed before in the run, in turn: assign a role the user does not hold, remove one the
//!   user holds, assign a permission directly. Every one changes the user's permissions, so the
//!   server publishes a new authz version for that user.
//! - Freshness: before each change, each guard's known version for the user is read
//!   ([`writ_guard::Guard::known_version`]); after the change's 2xx arrives, each guard is
//!   polled (every ~0.25 ms, in practice about the timer's 1 ms) until it knows a higher
//!   version. Freshness = that moment − the 2xx (0 when the guard already had it). Unseen after
//!   `FRESH_TIMEOUT` seconds = a miss.
//!
//! Seeded data is named by `bench/mixed.sh`: user `i` (0-based) is `usr_b{i:015}` with email
//! `user{i}@bench.example` and holds roles `(7i) % ROLES`, `(13i + 1) % ROLES`,
//! `(31i + 2) % ROLES` (`rol_b{r:015}`); API `a` is `https://bench.example/api-{a:03}` with
//! permissions `p{k}:things`, `k < PERMS_PER_API`.
//!
//! Configuration is by environment (see `bench/mixed.sh`); prints one `key=value` line per
//! operation and per guard, then `errors=…`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use writ_guard::{EventFeed, Guard, GuardOptions};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{name}: cannot parse {v:?}")),
        Err(_) => default,
    }
}

/// A small xorshift generator: good enough to pick users, and no extra dependency.
struct Rng(u64);

impl Rng {
    fn seeded(salt: u64) -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng((t ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Latencies (µs) and failures of one operation.
#[derive(Default)]
struct Stat {
    lat_us: Mutex<Vec<u64>>,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Stat {
    fn ok(&self, since: Instant) {
        let us = since.elapsed().as_micros() as u64;
        self.lat_us.lock().unwrap().push(us);
    }
    fn err(&self, what: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap();
        if first.is_none() {
            *first = Some(what);
        }
    }
    fn report(&self, name: &str, secs: f64) -> String {
        let mut v = self.lat_us.lock().unwrap().clone();
        v.sort_unstable();
        let errors = self.errors.load(Ordering::Relaxed);
        let mut line = format!(
            "op={name} ok={} rate={:.1}/s p50_ms={} p99_ms={} max_ms={} errors={errors}",
            v.len(),
            v.len() as f64 / secs,
            pct(&v, 0.50),
            pct(&v, 0.99),
            pct(&v, 1.0),
        );
        if let Some(e) = self.first_error.lock().unwrap().as_ref() {
            line.push_str(&format!(" first_error={e:?}"));
        }
        line
    }
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds with one decimal.
fn pct(sorted_us: &[u64], p: f64) -> String {
    if sorted_us.is_empty() {
        return "-".into();
    }
    let i = ((sorted_us.len() as f64 * p).ceil() as usize).clamp(1, sorted_us.len()) - 1;
    format!("{:.1}", sorted_us[i] as f64 / 1000.0)
}

async fn post_form(
    http: &reqwest::Client,
    url: &str,
    form: &[(&str, &str)],
) -> Result<Value, String> {
    let resp = http
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| format!("send: {e}"))?;
    let status = resp.status();
    let body = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("json: {e}"))
}

struct Cfg {
    issuer: String,
    token_url: String,
    users: u64,
    roles: u64,
    apis: u64,
    perms_per_api: u64,
}

fn user_id(i: u64) -> String {
    format!("usr_b{i:015}")
}

fn role_id(r: u64) -> String {
    format!("rol_b{r:015}")
}

fn held_roles(cfg: &Cfg, i: u64) -> [u64; 3] {
    [
        (7 * i) % cfg.roles,
        (13 * i + 1) % cfg.roles,
        (31 * i + 2) % cfg.roles,
    ]
}

#[tokio::main]
async fn main() {
    let issuer = env("ISSUER");
    let cfg = Arc::new(Cfg {
        token_url: format!("{issuer}oauth/token"),
        issuer: issuer.clone(),
        users: env_or("USERS", 1_000_000),
        roles: env_or("ROLES", 1000),
        apis: env_or("APIS", 100),
        perms_per_api: env_or("PERMS_PER_API", 10),
    });
    let duration = Duration::from_secs(env_or("DURATION", 60));
    let fresh_timeout = Duration::from_secs(env_or("FRESH_TIMEOUT", 10));
    let guards_n: usize = env_or("GUARDS", 3);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();

    // Management API token.
    let mgmt_aud = format!("{issuer}api/v2/");
    let admin = post_form(
        &http,
        &cfg.token_url,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &env("ADMIN_ID")),
            ("client_secret", &env("ADMIN_SECRET")),
            ("audience", &mgmt_aud),
        ],
    )
    .await
    .expect("management token")["access_token"]
        .as_str()
        .expect("management access token")
        .to_owned();

    // The guards, each with its own feed connection.
    let mut guards = Vec::new();
    for _ in 0..guards_n {
        let opts = GuardOptions {
            events: Some(EventFeed {
                client_id: env("FEED_ID"),
                client_secret: env("FEED_SECRET"),
                writ_url: None,
            }),
            ..Default::default()
        };
        guards.push(
            Guard::discover(&issuer, &env("GUARD_AUD"), opts)
                .await
                .expect("guard"),
        );
    }
    // Let the feeds connect (and replay whatever is there) before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let guards = Arc::new(guards);

    let refresh = Arc::new(Stat::default());
    let cc = Arc::new(Stat::default());
    let login = Arc::new(Stat::default());
    let mgmt = Arc::new(Stat::default());
    let fresh: Arc<Vec<Stat>> = Arc::new((0..guards_n).map(|_| Stat::default()).collect());
    let started = Instant::now();
    let end = started + duration;
    let mut tasks = Vec::new();

    // Refresh families, one request in flight each.
    let spa_id = env("SPA_ID");
    let tokens: Vec<String> = std::fs::read_to_string(env("REFRESH_TOKENS_FILE"))
        .expect("REFRESH_TOKENS_FILE")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    for mut token in tokens {
        let (http, cfg, stat, spa_id) =
            (http.clone(), cfg.clone(), refresh.clone(), spa_id.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let t0 = Instant::now();
                let r = post_form(
                    &http,
                    &cfg.token_url,
                    &[
                        ("grant_type", "refresh_token"),
                        ("client_id", &spa_id),
                        ("refresh_token", &token),
                    ],
                )
                .await;
                match r.map(|v| v["refresh_token"].as_str().map(str::to_owned)) {
                    Ok(Some(next)) => {
                        stat.ok(t0);
                        token = next;
                    }
                    Ok(None) => return stat.err("refresh: no rotated refresh_token".into()),
                    Err(e) => return stat.err(format!("refresh: {e}")),
                }
            }
        }));
    }

    // client_credentials.
    let cc_clients: Vec<(String, String, String)> = env("CC_CLIENTS")
        .split(',')
        .map(|c| {
            let mut p = c.splitn(3, ':');
            (
                p.next().unwrap().to_owned(),
                p.next().expect("CC_CLIENTS secret").to_owned(),
                p.next().expect("CC_CLIENTS audience").to_owned(),
            )
        })
        .collect();
    let cc_clients = Arc::new(cc_clients);
    for w in 0..env_or("CC_CONCURRENCY", 4usize) {
        let (http, cfg, stat, clients) =
            (http.clone(), cfg.clone(), cc.clone(), cc_clients.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = w;
            while Instant::now() < end {
                let (id, secret, aud) = &clients[n % clients.len()];
                n += 1;
                let t0 = Instant::now();
                match post_form(
                    &http,
                    &cfg.token_url,
                    &[
                        ("grant_type", "client_credentials"),
                        ("client_id", id),
                        ("client_secret", secret),
                        ("audience", aud),
                    ],
                )
                .await
                {
                    Ok(v) if v["access_token"].is_string() => stat.ok(t0),
                    Ok(v) => stat.err(format!("cc: no access_token: {v}")),
                    Err(e) => stat.err(format!("cc: {e}")),
                }
            }
        }));
    }

    // Password logins, open loop.
    let login_rate: f64 = env_or("LOGIN_RATE", 5.0);
    if login_rate > 0.0 {
        let (http, cfg, stat) = (http.clone(), cfg.clone(), login.clone());
        let (id, secret, aud, password) = (
            env("LOGIN_ID"),
            env("LOGIN_SECRET"),
            env("LOGIN_AUDIENCE"),
            env("PASSWORD"),
        );
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / login_rate));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut rng = Rng::seeded(1);
            let mut inflight = Vec::new();
            loop {
                let at = tick.tick().await.into_std();
                if at >= end {
                    break;
                }
                let email = format!("user{}@bench.example", rng.below(cfg.users));
                let (http, cfg, stat) = (http.clone(), cfg.clone(), stat.clone());
                let (id, secret, aud, password) =
                    (id.clone(), secret.clone(), aud.clone(), password.clone());
                inflight.push(tokio::spawn(async move {
                    match post_form(
                        &http,
                        &cfg.token_url,
                        &[
                            ("grant_type", "password"),
                            ("client_id", &id),
                            ("client_secret", &secret),
                            ("username", &email),
                            ("password", &password),
                            ("audience", &aud),
                            ("scope", "openid"),
                        ],
                    )
                    .await
                    {
                        Ok(v) if v["access_token"].is_string() => stat.ok(at),
                        Ok(v) => stat.err(format!("login: no access_token: {v}")),
                        Err(e) => stat.err(format!("login {email}: {e}")),
                    }
                }));
            }
            for t in inflight {
                let _ = t.await;
            }
        }));
    }

    // Management API changes, open loop, and the guards' freshness for each.
    let mgmt_rate: f64 = env_or("MGMT_RATE", 20.0);
    if mgmt_rate > 0.0 {
        let (http, cfg, stat, fresh, guards) = (
            http.clone(),
            cfg.clone(),
            mgmt.clone(),
            fresh.clone(),
            guards.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / mgmt_rate));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut rng = Rng::seeded(2);
            let mut touched = HashSet::new();
            let mut inflight = Vec::new();
            for n in 0u64.. {
                let at = tick.tick().await.into_std();
                if at >= end {
                    break;
                }
                let i = loop {
                    let i = rng.below(cfg.users);
                    if touched.insert(i) {
                        break i;
                    }
                };
                let uid = user_id(i);
                let held = held_roles(&cfg, i);
                let (method, path, body) = match n % 3 {
                    0 => {
                        let r = loop {
                            let r = rng.below(cfg.roles);
                            if !held.contains(&r) {
                                break r;
                            }
                        };
                        (
                            reqwest::Method::POST,
                            format!("users/{uid}/roles"),
                            json!({"roles": [role_id(r)]}),
                        )
                    }
                    1 => (
                        reqwest::Method::DELETE,
                        format!("users/{uid}/roles"),
                        json!({"roles": [role_id(held[rng.below(3) as usize])]}),
                    ),
                    _ => (
                        reqwest::Method::POST,
                        format!("users/{uid}/permissions"),
                        json!({"permissions": [{
                            "resource_server_identifier":
                                format!("https://bench.example/api-{:03}", rng.below(cfg.apis)),
                            "permission_name": format!("p{}:things", rng.below(cfg.perms_per_api)),
                        }]}),
                    ),
                };
                let (http, cfg, stat, fresh, guards, admin) = (
                    http.clone(),
                    cfg.clone(),
                    stat.clone(),
                    fresh.clone(),
                    guards.clone(),
                    admin.clone(),
                );
                inflight.push(tokio::spawn(async move {
                    let before: Vec<Option<i64>> =
                        guards.iter().map(|g| g.known_version(&uid)).collect();
                    let resp = http
                        .request(method, format!("{}api/v2/{path}", cfg.issuer))
                        .bearer_auth(&admin)
                        .json(&body)
                        .send()
                        .await;
                    match resp {
                        Ok(r) => {
                            let s = r.status();
                            let b = r.bytes().await.unwrap_or_default();
                            if !s.is_success() {
                                return stat.err(format!(
                                    "mgmt {path}: HTTP {s}: {}",
                                    String::from_utf8_lossy(&b[..b.len().min(200)])
                                ));
                            }
                        }
                        Err(e) => return stat.err(format!("mgmt {path}: {e}")),
                    }
                    let acked = Instant::now();
                    stat.ok(at);
                    // Each guard in turn would skew the later ones: poll them together.
                    let mut seen = vec![false; guards.len()];
                    loop {
                        for (k, g) in guards.iter().enumerate() {
                            if !seen[k] && g.known_version(&uid) > before[k] {
                                seen[k] = true;
                                fresh[k].ok(acked);
                            }
                        }
                        if seen.iter().all(|s| *s) {
                            break;
                        }
                        if acked.elapsed() > fresh_timeout {
                            for (k, s) in seen.iter().enumerate() {
                                if !s {
                                    fresh[k]
                                        .err(format!("{uid}: not seen within {fresh_timeout:?}"));
                                }
                            }
                            break;
                        }
                        tokio::time::sleep(Duration::from_micros(250)).await;
                    }
                }));
            }
            for t in inflight {
                let _ = t.await;
            }
        }));
    }

    for t in tasks {
        let _ = t.await;
    }
    let secs = duration.as_secs_f64();
    println!("duration_s={secs:.0}");
    println!("{}", refresh.report("refresh", secs));
    println!("{}", cc.report("client_credentials", secs));
    println!("{}", login.report("password_login", secs));
    println!("{}", mgmt.report("mgmt_change", secs));
    let mut errors = 0;
    for (k, f) in fresh.iter().enumerate() {
        println!("{}", f.report(&format!("freshness_guard{}", k + 1), secs));
        errors += f.errors.load(Ordering::Relaxed);
    }
    for s in [&refresh, &cc, &login, &mgmt] {
        errors += s.errors.load(Ordering::Relaxed);
    }
    println!("errors={errors}");
    println!("wall_s={:.1}", started.elapsed().as_secs_f64());
}
