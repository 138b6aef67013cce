//! Tests of the `writ` binary as an operator runs it: start-up, configuration errors,
//! bootstrap output, demo data and graceful shutdown; and the management CLI (`cli`).

mod cli;
mod dump;
mod multinode;
mod observe;
mod ops;
/// The PostgreSQL test database of writ-server's suite (a fresh database, dropped at the end).
#[allow(dead_code)]
#[path = "../../../writ-server/tests/it/pg.rs"]
mod pg;
mod tls;
/// The wire-level helpers of writ-server's suite (forms, cookies, JWTs).
#[allow(dead_code)]
#[path = "../../../writ-server/tests/it/web.rs"]
mod web;

use pg::PgTestDb;
use serde_json::Value;
use web::json_of;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `writ` process in a folder of its own (removed after the process is killed).
struct Proc {
    server: Server,
    dir: tempfile::TempDir,
}

impl std::ops::Deref for Proc {
    type Target = Server;
    fn deref(&self) -> &Server {
        &self.server
    }
}

impl std::ops::DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Server {
        &mut self.server
    }
}

/// A `writ` process, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `writ serve` on `port` as `issuer` with `extra` settings, its log in `dir/log`; ready
    /// when it returns.
    fn start(
        dir: &std::path::Path,
        port: u16,
        issuer: &str,
        extra: &[(&str, &str)],
        log: &str,
    ) -> Server {
        let log = std::fs::File::create(dir.join(log)).unwrap();
        let child = writ(dir, port, &["serve"], extra)
            .env("WRIT_ISSUER", issuer)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&base);
        Server { child, base }
    }

    /// SIGTERM, and a clean exit.
    fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(self.child.wait().unwrap().success());
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn writ(dir: &std::path::Path, port: u16, args: &[&str], extra: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_writ"));
    c.args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("WRIT_LISTEN", format!("127.0.0.1:{port}"))
        .env("WRIT_ISSUER", format!("http://127.0.0.1:{port}/"))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    for (k, v) in extra {
        c.env(k, v);
    }
    c
}

fn wait_ready(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http_ok(&format!("{base}/healthz")).unwrap_or(false) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("writ did not become ready");
}

/// Minimal blocking readiness probe over a raw TCP socket (no runtime needed).
fn http_ok(url: &str) -> std::io::Result<bool> {
    {
        use std::io::{Read, Write};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_once('/').unwrap();
        let mut s = std::net::TcpStream::connect(host)?;
        write!(
            s,
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut buf = String::new();
        s.read_to_string(&mut buf)?;
        Ok(buf.starts_with("HTTP/1.1 200"))
    }
}

fn spawn(args: &[&str], extra: &[(&str, &str)]) -> Proc {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = writ(dir.path(), port, args, extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&base);
    Proc {
        server: Server { child, base },
        dir,
    }
}

/// The settings of a node on `db` with the key encryption key `kek` and the bootstrap client
/// `admin`, hashing one password at a time.
fn node_env<'a>(db: &'a str, kek: &'a str, admin: (&'a str, &'a str)) -> [(&'a str, &'a str); 5] {
    [
        ("WRIT_DATABASE_URL", db),
        ("WRIT_KEY_ENCRYPTION_KEY", kek),
        ("WRIT_BOOTSTRAP_CLIENT_ID", admin.0),
        ("WRIT_BOOTSTRAP_CLIENT_SECRET", admin.1),
        ("WRIT_PASSWORD_HASH_CONCURRENCY", "1"),
    ]
}

/// A `client_credentials` token request of `client` to `base` for `audience`.
fn client_credentials(
    http: &reqwest::Client,
    base: &str,
    client: (&str, &str),
    audience: &str,
) -> reqwest::RequestBuilder {
    http.post(format!("{base}/oauth/token")).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", client.0),
        ("client_secret", client.1),
        ("audience", audience),
    ])
}

/// Sends a Management API request with `token` and `body`; asserts it succeeded (`what` names
/// it in the message) and answers its JSON body (null when empty).
async fn mgmt_json(req: reqwest::RequestBuilder, token: &str, body: &Value, what: &str) -> Value {
    let r = req.bearer_auth(token).json(body).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{what}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The redirect URI of the browser clients the suites create.
const CB: &str = "http://127.0.0.1:5173/callback";

/// The Management API body of a SPA client named `name` that calls back to [`CB`].
fn spa_client(name: &str) -> Value {
    serde_json::json!({"name": name, "app_type": "spa", "callbacks": [CB],
                       "web_origins": ["http://127.0.0.1:5173"]})
}

/// The `/authorize` URL of a code flow with PKCE (`verifier`) for `client_id` calling back to
/// [`CB`], asking for `audience` with `openid profile offline_access read:todos`.
fn authorize_url(
    base: &str,
    client_id: &str,
    audience: &str,
    verifier: &str,
    state: &str,
) -> reqwest::Url {
    let challenge = web::challenge(verifier);
    let mut u = reqwest::Url::parse(&format!("{base}/authorize")).unwrap();
    u.query_pairs_mut().extend_pairs([
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", CB),
        ("scope", "openid profile offline_access read:todos"),
        ("audience", audience),
        ("state", state),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]);
    u
}

/// The token request exchanging `code` (from [`authorize_url`] with `verifier`) for tokens.
fn code_exchange<'a>(
    client_id: &'a str,
    code: &'a str,
    verifier: &'a str,
) -> [(&'a str, &'a str); 5] {
    [
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", CB),
        ("code_verifier", verifier),
    ]
}

/// The `code` of an authorization response's redirect, if any.
fn code_of(r: &reqwest::Response) -> Option<String> {
    let location = r.headers().get("location")?.to_str().ok()?;
    let u = reqwest::Url::parse(location).ok()?;
    u.query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
}

fn sigterm(p: &mut Proc) -> std::process::Output {
    send_term(p);
    exited(p)
}

/// Sends SIGTERM to the process.
fn send_term(p: &Proc) {
    let pid = p.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
}

/// Waits for the process to exit; its status and output.
fn exited(p: &mut Proc) -> std::process::Output {
    let child = std::mem::replace(&mut p.child, Command::new("true").spawn().unwrap());
    child.wait_with_output().unwrap()
}

#[test]
fn config_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let cases: Vec<(Vec<(&str, String)>, &str)> = vec![
        (
            vec![("WRIT_ISSUER", "http://127.0.0.1:3000".into())],
            "must end with '/'",
        ),
        (vec![("WRIT_ISSUER", "::nope::/".into())], "is not a URL"),
        (vec![("WRIT_LISTEN", "localhost".into())], "WRIT_LISTEN"),
        (
            vec![(
                "WRIT_DATABASE_URL",
                "sqlite:///proc/writ-nope/writ.db".into(),
            )],
            "database",
        ),
        (
            vec![("WRIT_DATABASE_URL", "mysql://x".into())],
            "expected a sqlite:// or postgres:// URL",
        ),
    ];
    for (vars, expect) in cases {
        let mut c = writ(dir.path(), port, &["serve"], &[]);
        for (k, v) in &vars {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{vars:?}: {err}");
        assert!(err.contains(expect), "{vars:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{err}"
        );
        assert_eq!(
            err.trim()
                .lines()
                .filter(|l| l.starts_with("writ:"))
                .count(),
            1,
            "{err}"
        );
    }
    let out = writ(
        dir.path(),
        port,
        &["serve", "--config", "/nonexistent.toml"],
        &[],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn port_taken_is_reported() {
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = writ(dir.path(), port, &["serve"], &[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(err.contains("cannot listen on"), "{err}");
}

#[test]
fn first_start_prints_a_generated_admin_client_once_and_sigterm_stops_cleanly() {
    let mut p = spawn(&["serve"], &[]);
    assert!(
        p.dir.path().join("writ-data/writ.db").exists(),
        "default database created with its folder"
    );
    let out = sigterm(&mut p);
    assert!(out.status.success(), "graceful exit: {:?}", out.status);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("client_secret:"), "{err}");
    assert!(err.contains("stopped"), "{err}");
    // Second start on the same database: nothing generated, nothing printed.
    let port = free_port();
    let mut child = writ(p.dir.path(), port, &["serve"], &[])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(&format!("http://127.0.0.1:{port}"));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success());
    assert!(!err.contains("client_secret:"), "{err}");
}

/// Waits (at most 10 s) for the node at `base` to answer 200 on `/health/ready`, as an
/// orchestrator does: a node answers `/healthz` as soon as it listens, and may turn ready a
/// moment later (on PostgreSQL, once its `LISTEN` connection is up). That answer's body.
async fn until_ready(http: &reqwest::Client, base: &str) -> serde_json::Value {
    let ready = format!("{base}/health/ready");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = http.get(&ready).send().await.unwrap();
        let status = r.status();
        let body: serde_json::Value = r.json().await.unwrap();
        if status == 200 {
            return body;
        }
        assert!(Instant::now() < deadline, "not ready after 10 s: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for the node to be ready, sends SIGTERM, and waits (at most 10 s) for
/// `/health/ready` to answer 503; that answer's body.
async fn terminated_and_not_ready(p: &Proc, http: &reqwest::Client) -> serde_json::Value {
    let ready = format!("{}/health/ready", p.base);
    until_ready(http, &p.base).await;
    send_term(p);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = http.get(&ready).send().await.unwrap();
        if r.status() == 503 {
            return r.json().await.unwrap();
        }
        assert!(Instant::now() < deadline, "still ready after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Told to stop with a shutdown delay, a node answers 503 on `/health/ready` (its `shutdown`
/// check down) while it goes on serving everything else, then exits cleanly.
#[tokio::test]
async fn during_the_shutdown_delay_the_node_is_not_ready_but_serves() {
    let mut p = spawn(&["serve"], &[("WRIT_SHUTDOWN_DELAY_SECS", "5")]);
    let http = reqwest::Client::new();
    // Not ready within moments, over new connections, while the node still answers.
    let body = terminated_and_not_ready(&p, &http).await;
    assert_eq!(body["status"], "down", "{body}");
    assert_eq!(body["checks"][0]["name"], "shutdown", "{body}");
    assert_eq!(body["checks"][0]["status"], "down", "{body}");
    let live = http
        .get(format!("{}/health/live", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let discovery = http
        .get(format!("{}/.well-known/openid-configuration", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.status(), 200);
    // Then it stops by itself, cleanly.
    let out = exited(&mut p);
    assert!(out.status.success(), "graceful exit: {:?}", out.status);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("shutdown delay"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[tokio::test]
async fn a_second_signal_cuts_the_shutdown_delay_short() {
    let mut p = spawn(&["serve"], &[("WRIT_SHUTDOWN_DELAY_SECS", "600")]);
    terminated_and_not_ready(&p, &reqwest::Client::new()).await;
    send_term(&p);
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = p.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the second SIGTERM did not end the delay"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(130), "{status:?}");
    let log = String::from_utf8_lossy(&exited(&mut p).stderr).into_owned();
    assert!(log.contains("stopping at once"), "{log}");
}

#[tokio::test]
async fn demo_seeds_idempotently_and_tokens_carry_permissions() {
    let env = [
        ("WRIT_BOOTSTRAP_CLIENT_ID", "ops"),
        ("WRIT_BOOTSTRAP_CLIENT_SECRET", "ops-secret-0123456789"),
    ];
    let mut p = spawn(&["demo"], &env);
    let http = reqwest::Client::new();
    let token = |base: String, user: &'static str, pw: &'static str| {
        let http = http.clone();
        async move {
            let r = json_of(http.post(format!("{base}/oauth/token")).form(&[
                ("grant_type", "password"),
                ("client_id", "demo-cli"),
                ("client_secret", "demo-cli-secret-change-me"),
                ("username", user),
                ("password", pw),
                ("audience", "https://todos.example/api"),
            ]))
            .await;
            let payload = r["access_token"]
                .as_str()
                .expect("token")
                .split('.')
                .nth(1)
                .unwrap()
                .to_owned();
            use base64::Engine;
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&raw).unwrap()
        }
    };
    let alice = token(p.base.clone(), "alice@example.com", "alice-password-1").await;
    assert_eq!(
        alice["permissions"],
        serde_json::json!(["delete:todos", "read:todos", "write:todos"])
    );
    let bob = token(p.base.clone(), "bob@example.com", "bob-password-1").await;
    assert_eq!(bob["permissions"], serde_json::json!(["read:todos"]));
    let out = sigterm(&mut p);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("curl -s"),
        "the tour is printed"
    );
    // Running the demo again changes nothing and still works.
    let port = free_port();
    let mut again = writ(p.dir.path(), port, &["demo"], &env)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_ready(&format!("http://127.0.0.1:{port}"));
    let bob2 = token(
        format!("http://127.0.0.1:{port}"),
        "bob@example.com",
        "bob-password-1",
    )
    .await;
    assert_eq!(bob2["permissions"], serde_json::json!(["read:todos"]));
    let _ = again.kill();
    let _ = again.wait();
}
