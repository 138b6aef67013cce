//! What an operator's log pipeline and Prometheus get from the real binary:
//! `WRIT_LOG_FORMAT=json` at `debug`/`trace` for Writ's crates through a realistic run (client
//! credentials, the password grant, the code flow with PKCE, refresh and its reuse,
//! introspection, revocation, userinfo, Management API writes, a secret rotation, a failed
//! login) writes one JSON object per line with the access log's fields — and not one secret,
//! token, password, code, code verifier or cookie of the run, in the log nor in the audit
//! stream (`WRIT_AUDIT_STREAM=stdout`). On SQLite and on PostgreSQL. And `/metrics` on an
//! address of its own (`WRIT_METRICS_LISTEN`).

use std::process::Child;
use std::time::Duration;

use serde_json::{Value, json};

use super::web::{login_form, post_form, set_cookie};
use super::{
    PgTestDb, authorize_url, client_credentials, code_exchange, code_of, free_port, mgmt_json,
    spa_client, wait_ready, writ,
};

const KEK: &str = "b2JzZXJ2ZS10ZXN0LWtleS1lbmNyeXB0aW9uLWtleS0";
const OPS: (&str, &str) = ("obs-ops", "obs-ops-secret-0123456789abcdef");
const API: &str = "https://todos.observe.test/api";
const EMAIL: &str = "watched@example.com";
const PASSWORD: &str = "watched-password-1";
const NEW_PASSWORD: &str = "watched-password-2-changed";
const WRONG_PASSWORD: &str = "guessing-password-9";
const VERIFIER: &str = "observe-verifier-observe-verifier-observe-verifier-0123";
/// Writ's crates at `trace`, everything else at `debug`.
const RUST_LOG: &str = "debug,writ=trace,writ_server=trace,writ_service=trace,writ_store=trace,\
                        writ_core=trace,writ_hooks=trace,writ_console=trace,writ_guard=trace";

/// A `writ serve` whose stdout and stderr are captured.
struct Captured {
    child: Child,
    base: String,
    issuer: String,
}

impl Captured {
    fn start(dir: &std::path::Path, extra: &[(&str, &str)]) -> Captured {
        let port = free_port();
        let child = writ(dir, port, &["serve"], extra)
            .env("WRIT_LOG_FORMAT", "json")
            .env("RUST_LOG", RUST_LOG)
            .stdout(std::fs::File::create(dir.join("stdout")).unwrap())
            .stderr(std::fs::File::create(dir.join("stderr")).unwrap())
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        wait_ready(&base);
        Captured {
            child,
            issuer: format!("{base}/"),
            base,
        }
    }

    /// SIGTERM; its (stdout, stderr).
    fn stop(mut self, dir: &std::path::Path) -> (String, String) {
        let pid = self.child.id().to_string();
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(self.child.wait().unwrap().success());
        (
            std::fs::read_to_string(dir.join("stdout")).unwrap(),
            std::fs::read_to_string(dir.join("stderr")).unwrap(),
        )
    }
}

/// Everything secret the run used, to look for in the output.
#[derive(Default)]
struct Secrets(Vec<(String, String)>);

impl Secrets {
    fn add(&mut self, what: &str, v: &str) {
        assert!(v.len() >= 8, "{what} is too short to look for: {v}");
        self.0.push((what.to_owned(), v.to_owned()));
        // A JWT's signature alone (what a log truncating the token would still show).
        if let Some(sig) = v
            .rsplit('.')
            .next()
            .filter(|s| s.len() >= 16 && v.contains('.'))
        {
            self.0.push((format!("{what} (signature)"), sig.to_owned()));
        }
    }
}

struct Run {
    http: reqwest::Client,
    base: String,
    issuer: String,
    secrets: Secrets,
    /// `X-Request-Id`s of the token endpoint's answers, with the client each was for.
    token_requests: Vec<(String, String)>,
}

impl Run {
    async fn token(&mut self, client: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/oauth/token", self.base))
            .form(form)
            .send()
            .await
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_owned();
        self.token_requests.push((id, client.to_owned()));
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        for k in ["access_token", "id_token", "refresh_token"] {
            if let Some(t) = body[k].as_str() {
                self.secrets.add(k, t);
            }
        }
        (status, body)
    }

    async fn mgmt(
        &mut self,
        token: &str,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> Value {
        let req = self
            .http
            .request(method, format!("{}/api/v2/{path}", self.base));
        let v = mgmt_json(req, token, &body, path).await;
        if let Some(s) = v["client_secret"].as_str() {
            self.secrets.add("client_secret", s);
        }
        v
    }
}

/// Sends `req` and expects 200.
async fn expect_ok(req: reqwest::RequestBuilder) {
    let r = req.send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.url().path());
}

/// The run: every kind of request a deployment sees, each secret noted.
async fn realistic_run(base: &str, issuer: &str) -> Run {
    let mut run = Run {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: base.to_owned(),
        issuer: issuer.to_owned(),
        secrets: Secrets::default(),
        token_requests: vec![],
    };
    for (what, v) in [
        ("bootstrap secret", OPS.1),
        ("password", PASSWORD),
        ("new password", NEW_PASSWORD),
        ("wrong password", WRONG_PASSWORD),
        ("code_verifier", VERIFIER),
    ] {
        run.secrets.add(what, v);
    }
    use reqwest::Method;
    // Client credentials for the Management API.
    let aud = format!("{}api/v2/", run.issuer);
    let (status, t) = run
        .token(
            OPS.0,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", OPS.0),
                ("client_secret", OPS.1),
                ("audience", &aud),
            ],
        )
        .await;
    assert_eq!(status, 200, "{t}");
    let admin = t["access_token"].as_str().unwrap().to_owned();
    // Management API writes: an API, a user with a permission, clients, a client grant.
    run.mgmt(
        &admin,
        Method::POST,
        "resource-servers",
        json!({"identifier": API, "name": "Todos", "enforce_policies": true,
               "token_dialect": "access_token_authz", "allow_offline_access": true,
               "scopes": [{"value": "read:todos", "description": "Read"}]}),
    )
    .await;
    let user = run
        .mgmt(
            &admin,
            Method::POST,
            "users",
            json!({"email": EMAIL, "password": PASSWORD, "connection": "Username-Password-Authentication"}),
        )
        .await["user_id"]
        .as_str()
        .unwrap()
        .to_owned();
    run.mgmt(
        &admin,
        Method::POST,
        &format!("users/{user}/permissions"),
        json!({"permissions": [{"resource_server_identifier": API, "permission_name": "read:todos"}]}),
    )
    .await;
    let cli = run
        .mgmt(
            &admin,
            Method::POST,
            "clients",
            json!({"name": "cli", "app_type": "regular_web", "grant_types": ["password"]}),
        )
        .await;
    let cli = (
        cli["client_id"].as_str().unwrap().to_owned(),
        cli["client_secret"].as_str().unwrap().to_owned(),
    );
    let machine = run
        .mgmt(
            &admin,
            Method::POST,
            "clients",
            json!({"name": "m2m", "app_type": "non_interactive"}),
        )
        .await;
    let machine = (
        machine["client_id"].as_str().unwrap().to_owned(),
        machine["client_secret"].as_str().unwrap().to_owned(),
    );
    run.mgmt(
        &admin,
        Method::POST,
        "client-grants",
        json!({"client_id": machine.0, "audience": API, "scope": ["read:todos"]}),
    )
    .await;
    let spa = run
        .mgmt(&admin, Method::POST, "clients", spa_client("spa"))
        .await["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    // A machine token, the password grant, and a failed login.
    let (status, _) = run
        .token(
            &machine.0,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &machine.0),
                ("client_secret", &machine.1),
                ("audience", API),
            ],
        )
        .await;
    assert_eq!(status, 200);
    let pw = |p: &'static str| {
        vec![
            ("grant_type", "password"),
            ("client_id", cli.0.as_str()),
            ("client_secret", cli.1.as_str()),
            ("username", EMAIL),
            ("password", p),
            ("audience", API),
            ("scope", "openid"),
        ]
    };
    let (status, t) = run.token(&cli.0, &pw(PASSWORD)).await;
    assert_eq!(status, 200, "{t}");
    let user_token = t["access_token"].as_str().unwrap().to_owned();
    let (status, _) = run.token(&cli.0, &pw(WRONG_PASSWORD)).await;
    assert_eq!(status, 400);
    // The code flow with PKCE through the hosted login page.
    let authorize = authorize_url(base, &spa, API, VERIFIER, "st-observe");
    let page = run.http.get(authorize).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf_cookie = set_cookie(&page, "writ_csrf").expect("a csrf cookie");
    run.secrets
        .add("csrf cookie", csrf_cookie.split_once('=').unwrap().1);
    let html = page.text().await.unwrap();
    let form = login_form(&html, EMAIL, PASSWORD);
    run.secrets.add("csrf field", &form[1].1);
    let r = post_form(
        format!("{base}/u/login"),
        Some(&csrf_cookie),
        Some(base),
        &form,
    )
    .await;
    assert_eq!(r.status(), 302);
    let session = set_cookie(&r, "writ_session").expect("a session cookie");
    run.secrets
        .add("session cookie", session.split_once('=').unwrap().1);
    let code = code_of(&r).expect("a code");
    run.secrets.add("code", &code);
    let (status, t) = run.token(&spa, &code_exchange(&spa, &code, VERIFIER)).await;
    assert_eq!(status, 200, "{t}");
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let spa_token = t["access_token"].as_str().unwrap().to_owned();
    // Refresh, then the rotated token reused (its family revoked).
    let refresh = |rt: &str| {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("client_id", spa.clone()),
            ("refresh_token", rt.to_owned()),
        ]
    };
    let form = refresh(&rt1);
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, t) = run.token(&spa, &form).await;
    assert_eq!(status, 200, "{t}");
    let rt2 = t["refresh_token"].as_str().unwrap().to_owned();
    let (status, _) = run.token(&spa, &form).await;
    assert_eq!(status, 400, "reuse");
    // Userinfo, introspection and revocation, tokens in headers and bodies.
    expect_ok(
        run.http
            .get(format!("{base}/userinfo"))
            .bearer_auth(&spa_token),
    )
    .await;
    expect_ok(
        run.http
            .post(format!("{base}/oauth/introspect"))
            .basic_auth(&machine.0, Some(&machine.1))
            .form(&[("token", &user_token)]),
    )
    .await;
    expect_ok(
        run.http
            .post(format!("{base}/oauth/revoke"))
            .form(&[("client_id", spa.as_str()), ("token", rt2.as_str())]),
    )
    .await;
    // More Management API: a read, a password change, a secret rotation.
    run.mgmt(&admin, Method::GET, "users?per_page=5", Value::Null)
        .await;
    run.mgmt(
        &admin,
        Method::PATCH,
        &format!("users/{user}"),
        json!({"password": NEW_PASSWORD}),
    )
    .await;
    run.mgmt(
        &admin,
        Method::POST,
        &format!("clients/{}/rotate-secret", cli.0),
        Value::Null,
    )
    .await;
    // Email links: a reset link (its token is a secret) and its page; a reset request and a
    // verification email, queued for an SMTP server that is down (the sender's failures are
    // logged, never the link nor the server's password).
    run.secrets.add("SMTP password", SMTP_PASSWORD);
    let t = run
        .mgmt(
            &admin,
            Method::POST,
            "tickets/password-change",
            json!({"user_id": user}),
        )
        .await;
    let link = reqwest::Url::parse(t["ticket"].as_str().unwrap()).unwrap();
    let ticket = link
        .query_pairs()
        .find(|(k, _)| k == "ticket")
        .unwrap()
        .1
        .into_owned();
    run.secrets.add("reset link token", &ticket);
    expect_ok(
        run.http
            .get(format!("{base}{}?{}", link.path(), link.query().unwrap())),
    )
    .await;
    expect_ok(
        run.http
            .post(format!("{base}/dbconnections/change_password"))
            .json(&json!({"client_id": spa, "email": EMAIL, "connection": "Username-Password-Authentication"})),
    )
    .await;
    run.mgmt(
        &admin,
        Method::POST,
        "jobs/verification-email",
        json!({"user_id": user}),
    )
    .await;
    run
}

/// The password of the SMTP server the realistic run's Writ sends through (never reached).
const SMTP_PASSWORD: &str = "smtp-pass-s3cret-0123";

fn check_output(run: &Run, stdout: &str, stderr: &str) {
    // Not one secret anywhere.
    for (what, v) in &run.secrets.0 {
        assert!(!stderr.contains(v.as_str()), "the log holds the {what}");
        assert!(
            !stdout.contains(v.as_str()),
            "the audit stream holds the {what}"
        );
    }
    // Every line of the log is one JSON object with the standard fields, the event's fields
    // at the top level (not in an escaped message).
    let lines: Vec<Value> = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() > 20, "{stderr}");
    for l in &lines {
        for k in ["timestamp", "level", "target"] {
            assert!(l.get(k).is_some_and(Value::is_string), "no {k}: {l}");
        }
        assert!(l.get("fields").is_none(), "fields flattened: {l}");
        // Writ's own events all have a message (some libraries' have fields only: sqlx's
        // statement events).
        if l["target"].as_str().unwrap().starts_with("writ") {
            assert!(l["message"].is_string(), "no message: {l}");
        }
    }
    // One access-log line per request, with its fields; the token endpoint's name the client.
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|l| l["target"] == "writ::request")
        .collect();
    for r in &requests {
        assert_eq!(r["level"], "INFO", "{r}");
        assert!(r["method"].is_string() && r["route"].is_string(), "{r}");
        assert!(r["status"].is_u64() && r["latency_ms"].is_number(), "{r}");
        assert!(r["request_id"].is_string(), "{r}");
    }
    for (id, client) in &run.token_requests {
        let mine: Vec<&&Value> = requests.iter().filter(|r| r["request_id"] == *id).collect();
        assert_eq!(mine.len(), 1, "one line for request {id}");
        assert_eq!(mine[0]["route"], "/oauth/token");
        assert_eq!(mine[0]["method"], "POST");
        assert_eq!(mine[0]["client_id"], client.as_str(), "{}", mine[0]);
    }
    let route = |r: &str| requests.iter().filter(|l| l["route"] == r).count();
    assert_eq!(route("/oauth/token"), run.token_requests.len());
    assert_eq!(route("/authorize"), 1);
    assert_eq!(route("/u/login"), 1);
    assert!(
        route("/api/v2/users/{id}") >= 1,
        "route templates, not paths"
    );
    assert!(
        requests
            .iter()
            .any(|r| r["route"] == "/api/v2/clients" && r["client_id"] == OPS.0),
        "the Management API's caller"
    );
    // Log lines inside a request carry its span (the request id) beside their own fields.
    assert!(
        lines
            .iter()
            .any(|l| l["target"] != "writ::request" && l["span"]["request_id"].is_string()),
        "span fields"
    );
    // The audit stream: one JSON entry per line, Auth0's shape.
    let audit: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for t in ["sapi", "s", "fp", "seacft", "ferrt"] {
        assert!(
            audit.iter().any(|e| e["type"] == t),
            "a {t} entry streamed: {stdout}"
        );
    }
    assert!(
        audit
            .iter()
            .all(|e| e["log_id"].is_string() && e["date"].is_string())
    );
}

async fn logs_hold_no_secret(db: &str) {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("WRIT_DATABASE_URL", db),
        ("WRIT_KEY_ENCRYPTION_KEY", KEK),
        ("WRIT_BOOTSTRAP_CLIENT_ID", OPS.0),
        ("WRIT_BOOTSTRAP_CLIENT_SECRET", OPS.1),
        ("WRIT_PASSWORD_HASH_CONCURRENCY", "1"),
        ("WRIT_AUDIT_STREAM", "stdout"),
        // Port 9 on loopback: nothing answers, every attempt fails and is logged.
        (
            "WRIT_SMTP_URL",
            "smtp://mailer:smtp-pass-s3cret-0123@127.0.0.1:9",
        ),
        ("WRIT_SMTP_FROM", "Writ <no-reply@writ.test>"),
    ];
    let server = Captured::start(dir.path(), &env);
    let run = realistic_run(&server.base, &server.issuer).await;
    let (stdout, stderr) = server.stop(dir.path());
    check_output(&run, &stdout, &stderr);
}

#[tokio::test]
async fn json_logs_of_a_realistic_run_hold_no_secret_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/writ.db", dir.path().display());
    logs_hold_no_secret(&db).await;
}

#[tokio::test]
async fn json_logs_of_a_realistic_run_hold_no_secret_on_postgres() {
    let pg = PgTestDb::create("writ_logs").await;
    logs_hold_no_secret(&pg.url).await;
}

#[tokio::test]
async fn metrics_on_their_own_address_and_not_on_the_main_one() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = format!("127.0.0.1:{}", free_port());
    let server = Captured::start(
        dir.path(),
        &[
            ("WRIT_METRICS_LISTEN", &metrics),
            ("WRIT_BOOTSTRAP_CLIENT_ID", OPS.0),
            ("WRIT_BOOTSTRAP_CLIENT_SECRET", OPS.1),
        ],
    );
    let http = reqwest::Client::new();
    let main = http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(main.status(), 404, "not on the main listener");
    let aud = format!("{}api/v2/", server.issuer);
    let r = client_credentials(&http, &server.base, OPS, &aud)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = r.text().await.unwrap();
    assert!(
        text.contains("# TYPE writ_tokens_issued_total counter"),
        "{text}"
    );
    let line = format!(
        "writ_tokens_issued_total{{grant_type=\"client_credentials\",audience=\"{aud}\",outcome=\"issued\"}} 1"
    );
    assert!(text.lines().any(|l| l == line), "{line}\n{text}");
    assert!(text.contains(&format!(
        "writ_build_info{{version=\"{}\"}} 1",
        env!("CARGO_PKG_VERSION")
    )));
    // Both listeners end with the server.
    let (_, log) = server.stop(dir.path());
    assert!(log.contains("\"stopped\""), "{log}");
}
