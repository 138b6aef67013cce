//! Many open live streams (`GET /me/authz-events`) against one Writ node, measured from
//! outside: the server's memory (RSS) and CPU while the streams sit open and idle, and the
//! delivery time of a change to one user's streams with all of them open.
//!
//! Set-up through the Management API: an API with one scope, a role granting it, a client
//! allowed the password grant, `USERS` users, each logged in once (a real token each). Then
//! `STREAMS` streams spread evenly over the users (at most `WRIT_LIVE_STREAMS_PER_USER` each),
//! each waiting for its `ready` frame. Idle: RSS and CPU of the server process (from /proc) over
//! `IDLE_SECS`. Delivery: `CHANGES` times, assign or unassign the role of one user and time
//! from the Management API's 2xx to the first `authz` frame on each of that user's streams.
//!
//! Run through `bench/live-streams.sh` (it starts a release `writ serve` on SQLite); by hand:
//! `cargo run --release -p writ-server --example live_streams -- ISSUER ADMIN_ID ADMIN_SECRET SERVER_PID`
//! with `USERS`, `STREAMS`, `IDLE_SECS`, `CHANGES` in the environment. Prints one JSON object.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::mpsc;

const API: &str = "https://live-bench.example/api";

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Bench {
    http: reqwest::Client,
    issuer: String,
    admin: String,
}

impl Bench {
    async fn mgmt(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut r = self
            .http
            .request(method.clone(), format!("{}api/v2{path}", self.issuer))
            .bearer_auth(&self.admin);
        if let Some(b) = body {
            r = r.json(&b);
        }
        let resp = r.send().await.expect("management API");
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

/// The server's resident memory (kB) and CPU time (clock ticks, user + system).
fn proc_stats(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let after = stat.rsplit_once(')').map(|(_, s)| s).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (rss, ticks)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
const TICKS: f64 = 100.0;

fn quantile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    if s.is_empty() {
        return f64::NAN;
    }
    let i = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    s[i]
}

/// One stream: reads frames, reports its `ready` and each `authz` frame's arrival.
async fn stream(
    http: reqwest::Client,
    url: String,
    token: String,
    user: usize,
    ready: mpsc::UnboundedSender<Result<(), String>>,
    events: mpsc::UnboundedSender<(usize, Instant)>,
) {
    let mut resp = match http
        .get(&url)
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            let _ = ready.send(Err(format!("status {}", r.status())));
            return;
        }
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let mut buf = String::new();
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            _ => return,
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            if frame.contains("event: ready") {
                let _ = ready.send(Ok(()));
            } else if frame.contains("event: authz") {
                let _ = events.send((user, Instant::now()));
            }
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(
        args.len() >= 5,
        "usage: live_streams ISSUER ADMIN_ID ADMIN_SECRET SERVER_PID"
    );
    let (issuer, admin_id, admin_secret) = (args[1].clone(), &args[2], &args[3]);
    let pid: u32 = args[4].parse().expect("SERVER_PID");
    let users = env_num("USERS", 1000);
    let streams = env_num("STREAMS", 10_000);
    let idle_secs = env_num("IDLE_SECS", 20) as u64;
    let changes = env_num("CHANGES", 20);
    let concurrency = env_num("CONCURRENCY", 4);

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let t: Value = http
        .post(format!("{issuer}oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", admin_id),
            ("client_secret", admin_secret),
            ("audience", &format!("{issuer}api/v2/")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b = Arc::new(Bench {
        http: http.clone(),
        issuer: issuer.clone(),
        admin: t["access_token"].as_str().expect("admin token").to_owned(),
    });
    use reqwest::Method;
    b.mgmt(
        Method::POST,
        "/resource-servers",
        Some(
            json!({"identifier": API, "name": "live bench", "signing_alg": "ES256",
            "scopes": [{"value": "read:x", "description": "x"}], "enforce_policies": true,
            "token_dialect": "access_token_authz", "token_lifetime": 86400}),
        ),
    )
    .await;
    let role = b
        .mgmt(
            Method::POST,
            "/roles",
            Some(json!({"name": "reader", "description": "x"})),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    b.mgmt(
        Method::POST,
        &format!("/roles/{role}/permissions"),
        Some(json!({"permissions": [{"resource_server_identifier": API, "permission_name": "read:x"}]})),
    )
    .await;
    let client = b
        .mgmt(
            Method::POST,
            "/clients",
            Some(json!({"name": "live bench", "app_type": "regular_web", "grant_types": ["password"]})),
        )
        .await;
    let (cid, csecret) = (
        client["client_id"].as_str().unwrap().to_owned(),
        client["client_secret"].as_str().unwrap().to_owned(),
    );

    // Users and their tokens (each creation and login hashes a password: CONCURRENCY at once).
    let setup = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut tasks = Vec::new();
    for i in 0..users {
        let (b, sem, cid, csecret) = (b.clone(), sem.clone(), cid.clone(), csecret.clone());
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            let email = format!("live{i}@bench.example");
            let pw = format!("pw-{i}-live-bench-0123");
            let u = b
                .mgmt(
                    Method::POST,
                    "/users",
                    Some(json!({"email": email, "password": pw, "connection": "Username-Password-Authentication"})),
                )
                .await;
            let id = u["user_id"].as_str().unwrap().to_owned();
            let t: Value = b
                .http
                .post(format!("{}oauth/token", b.issuer))
                .form(&[
                    ("grant_type", "password"),
                    ("client_id", cid.as_str()),
                    ("client_secret", csecret.as_str()),
                    ("username", email.as_str()),
                    ("password", pw.as_str()),
                    ("audience", API),
                ])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (
                id,
                t["access_token"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no token: {t}"))
                    .to_owned(),
            )
        }));
    }
    let mut accounts = Vec::new();
    for t in tasks {
        accounts.push(t.await.unwrap());
    }
    let setup_secs = setup.elapsed().as_secs_f64();
    eprintln!("[live-bench] {users} users with tokens in {setup_secs:.1} s");

    let (rss_before, _) = proc_stats(pid);
    // The streams: user i % users, opened 200 at a time.
    let url = format!("{issuer}me/authz-events");
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel();
    let (ev_tx, mut ev_rx) = mpsc::unbounded_channel();
    let opening = Instant::now();
    let mut per_user: HashMap<usize, usize> = HashMap::new();
    let mut failed = Vec::new();
    let mut ready = 0;
    for i in 0..streams {
        let user = i % users;
        *per_user.entry(user).or_default() += 1;
        // HTTP/1.1: each open stream holds a connection of its own, as a browser tab does.
        tokio::spawn(stream(
            http.clone(),
            url.clone(),
            accounts[user].1.clone(),
            user,
            ready_tx.clone(),
            ev_tx.clone(),
        ));
        if (i + 1) % 200 == 0 {
            while ready + failed.len() < i + 1 {
                match tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await {
                    Ok(Some(Ok(()))) => ready += 1,
                    Ok(Some(Err(e))) => failed.push(e),
                    _ => panic!("streams did not open: {ready} ready"),
                }
            }
        }
    }
    while ready + failed.len() < streams {
        match tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await {
            Ok(Some(Ok(()))) => ready += 1,
            Ok(Some(Err(e))) => failed.push(e),
            _ => panic!("streams did not open: {ready} ready"),
        }
    }
    let open_secs = opening.elapsed().as_secs_f64();
    eprintln!(
        "[live-bench] {ready} streams open in {open_secs:.1} s ({} failed)",
        failed.len()
    );

    // Idle, all open: memory and CPU of the server.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (rss_open, t0) = proc_stats(pid);
    let idle_start = Instant::now();
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let (rss_idle_end, t1) = proc_stats(pid);
    let gauge = http
        .get(format!("{issuer}metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("writ_live_streams ")
                .map(|v| v.trim().to_owned())
        });
    let idle_cpu = (t1 - t0) as f64 / TICKS / idle_start.elapsed().as_secs_f64();
    eprintln!(
        "[live-bench] idle: RSS {rss_open} kB (before streams {rss_before} kB), CPU {:.2}% of one core",
        idle_cpu * 100.0
    );

    // Delivery with everything open: one user's role, on and off.
    let target = 0usize;
    let target_streams = per_user[&target];
    let target_id = accounts[target].0.clone();
    let mut first = Vec::new();
    let mut all = Vec::new();
    for c in 0..changes {
        while ev_rx.try_recv().is_ok() {}
        let method = if c % 2 == 0 {
            Method::POST
        } else {
            Method::DELETE
        };
        b.mgmt(
            method,
            &format!("/users/{target_id}/roles"),
            Some(json!({"roles": [role]})),
        )
        .await;
        let answered = Instant::now();
        let mut got = 0;
        let mut times = Vec::new();
        while got < target_streams {
            match tokio::time::timeout(Duration::from_secs(10), ev_rx.recv()).await {
                Ok(Some((u, at))) => {
                    assert_eq!(u, target, "another user's stream was told");
                    got += 1;
                    times.push(at.saturating_duration_since(answered).as_secs_f64() * 1000.0);
                }
                _ => panic!("change {c}: {got}/{target_streams} streams told within 10 s"),
            }
        }
        first.push(times.iter().cloned().fold(f64::MAX, f64::min));
        all.push(times.iter().cloned().fold(0.0, f64::max));
    }
    let (rss_end, _) = proc_stats(pid);
    let out = json!({
        "users": users,
        "streams_requested": streams,
        "streams_open": ready,
        "streams_failed": failed.len(),
        "first_failure": failed.first(),
        "setup_secs": setup_secs,
        "open_secs": open_secs,
        "server_rss_kb_before_streams": rss_before,
        "server_rss_kb_with_streams": rss_open,
        "server_rss_kb_after_idle": rss_idle_end,
        "server_rss_kb_end": rss_end,
        "rss_per_stream_bytes": ((rss_open as f64 - rss_before as f64) * 1024.0 / ready.max(1) as f64).round(),
        "idle_secs": idle_secs,
        "writ_live_streams_gauge": gauge,
        "server_cpu_idle_percent_of_one_core": (idle_cpu * 10000.0).round() / 100.0,
        "delivery": {
            "changes": changes,
            "streams_of_the_user": target_streams,
            "first_stream_ms": {"p50": quantile(&first, 0.5), "p99": quantile(&first, 0.99), "max": quantile(&first, 1.0)},
            "last_stream_ms": {"p50": quantile(&all, 0.5), "p99": quantile(&all, 0.99), "max": quantile(&all, 1.0)},
        },
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
    // Done: exit now rather than wait for the runtime to drop 10,000 open streams.
    std::process::exit(0);
}
