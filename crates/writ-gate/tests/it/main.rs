//! `writ gate` against a real Writ server (in process, on its own SQLite file, demo data) and a
//! real upstream on 127.0.0.1: both modes, the rules, RFC 6750 answers, header spoofing,
//! freshness through the event feed, and the feed-outage policy.

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::HeaderMap;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use writ_gate::{Gate, GateArgs};
use writ_server::{AppState, Config, demo};

const ADMIN_ID: &str = "gate-test-admin";
const ADMIN_SECRET: &str = "gate-test-admin-secret-0123456789";
const RULES: &str = "
GET    /api/todos/*   => read:todos
POST   /api/todos     => write:todos
DELETE /api/todos/*   => write:todos
GET    /api/reports   => read:reports | write:todos
*      /api/me        => authenticated
GET    /api/health    => public
";

/// Sends the request; its response's JSON body.
async fn json_of(req: reqwest::RequestBuilder) -> Value {
    req.send().await.unwrap().json().await.unwrap()
}

/// The `access_token` of a token endpoint's answer; panics without one.
fn access_token(answer: &Value) -> String {
    answer["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {answer}"))
        .to_owned()
}

/// `GET url` with the bearer `token` when given.
async fn get(url: String, token: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// A running Writ with the demo data.
struct Writ {
    issuer: String,
    http: reqwest::Client,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _state: AppState,
}

impl Writ {
    async fn start() -> Writ {
        let dir = tempfile::tempdir().unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let issuer = format!("http://127.0.0.1:{port}/");
        let vars = [
            ("WRIT_ISSUER", issuer.clone()),
            ("WRIT_LISTEN", format!("127.0.0.1:{port}")),
            (
                "WRIT_DATABASE_URL",
                format!("sqlite://{}/writ.db", dir.path().display()),
            ),
            ("WRIT_BOOTSTRAP_CLIENT_ID", ADMIN_ID.into()),
            ("WRIT_BOOTSTRAP_CLIENT_SECRET", ADMIN_SECRET.into()),
            ("WRIT_PASSWORD_HASH_CONCURRENCY", "2".into()),
        ];
        let config = Config::load(None, |k| {
            vars.iter().find(|(a, _)| *a == k).map(|(_, b)| b.clone())
        })
        .unwrap();
        let (state, _) = writ_server::prepare(config).await.unwrap();
        demo::seed(&state).await.unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let st = state.clone();
        tokio::spawn(async move {
            writ_server::run(listener, st, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        Writ {
            issuer,
            http: reqwest::Client::new(),
            dir,
            stop: Some(tx),
            _state: state,
        }
    }

    /// `POST /oauth/token` with `form`; the access token of the answer (which it must hold).
    async fn token_form(&self, form: &[(&str, &str)]) -> String {
        access_token(&self.token_answer(form).await)
    }

    async fn token_answer(&self, form: &[(&str, &str)]) -> Value {
        json_of(
            self.http
                .post(format!("{}oauth/token", self.issuer))
                .form(form),
        )
        .await
    }

    /// The password grant's answer for the demo user (email, password) at the demo API, with
    /// the `extra` fields.
    async fn password_grant(
        &self,
        (email, password): (&str, &str),
        extra: &[(&str, &str)],
    ) -> Value {
        let mut form = vec![
            ("grant_type", "password"),
            ("client_id", demo::SCRIPT_CLIENT_ID),
            ("client_secret", demo::SCRIPT_CLIENT_SECRET),
            ("username", email),
            ("password", password),
            ("audience", demo::TODOS_API),
        ];
        form.extend_from_slice(extra);
        self.token_answer(&form).await
    }

    async fn user_token(&self, user: (&str, &str)) -> String {
        access_token(&self.password_grant(user, &[]).await)
    }

    /// A client-credentials token of `client` for `audience`.
    async fn machine_token(&self, (id, secret): (&str, &str), audience: &str) -> String {
        self.token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id),
            ("client_secret", secret),
            ("audience", audience),
        ])
        .await
    }

    async fn admin(&self) -> String {
        let aud = format!("{}api/v2/", self.issuer);
        self.machine_token((ADMIN_ID, ADMIN_SECRET), &aud).await
    }

    async fn mgmt(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method, format!("{}api/v2/{path}", self.issuer))
            .bearer_auth(self.admin().await);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        resp.json().await.unwrap_or(Value::Null)
    }

    /// Assigns (`POST`) or removes (`DELETE`) `role` of `user`.
    async fn user_roles(&self, method: reqwest::Method, user: &str, role: &str) {
        self.mgmt(
            method,
            &format!("users/{user}/roles"),
            Some(json!({"roles": [role]})),
        )
        .await;
    }

    async fn alice_and_editor(&self) -> (String, String) {
        let users = self
            .mgmt(
                reqwest::Method::GET,
                &format!("users-by-email?email={}", demo::ALICE.0),
                None,
            )
            .await;
        let roles = self
            .mgmt(reqwest::Method::GET, "roles?name_filter=editor", None)
            .await;
        (
            users[0]["user_id"].as_str().unwrap().to_owned(),
            roles[0]["id"].as_str().unwrap().to_owned(),
        )
    }
}

fn args(writ: &Writ, rules: Option<&std::path::Path>, upstream: Option<String>) -> GateArgs {
    GateArgs {
        issuer: writ.issuer.clone(),
        audience: demo::TODOS_API.into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        rules: rules.map(Into::into),
        upstream,
        events_client_id: Some(demo::EVENTS_CLIENT_ID.into()),
        events_client_secret: Some(demo::EVENTS_CLIENT_SECRET.into()),
        writ_url: None,
        feed_outage: "accept".into(),
        feed_outage_after: 60,
        leeway: 30,
        allow_legacy_typ: false,
    }
}

/// Starts a gate; returns its base URL.
async fn serve_gate(gate: Gate) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(writ_gate::run(listener, gate, std::future::pending()));
    base
}

/// A gate in front of `writ` with the `rules` (none: any valid token will do), in proxy mode
/// to `upstream` or else in auth_request mode; returns its base URL.
async fn gate(writ: &Writ, rules: Option<&str>, upstream: Option<String>) -> String {
    let rules = rules.map(|text| {
        let p = writ.dir.path().join("gate.rules");
        std::fs::write(&p, text).unwrap();
        p
    });
    serve_gate(
        writ_gate::build(&args(writ, rules.as_deref(), upstream))
            .await
            .unwrap(),
    )
    .await
}

/// A Writ, a gate in front of it with `rules` (proxying to `upstream` when given, see
/// [`gate`]), and the demo users alice's and bob's tokens: (writ, gate URL, alice, bob).
async fn gated(rules: &str, upstream: Option<String>) -> (Writ, String, String, String) {
    let writ = Writ::start().await;
    let base = gate(&writ, Some(rules), upstream).await;
    let alice = writ.user_token(demo::ALICE).await;
    let bob = writ.user_token(demo::BOB).await;
    (writ, base, alice, bob)
}

/// An upstream that echoes what it received: method, path and query, and the headers.
async fn echo_upstream() -> String {
    async fn echo(req: axum::extract::Request) -> axum::Json<Value> {
        let headers: serde_json::Map<String, Value> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
            .collect();
        let body = axum::body::to_bytes(req.into_body(), 1 << 20)
            .await
            .unwrap();
        axum::Json(json!({"headers": headers, "body": String::from_utf8_lossy(&body)}))
    }
    async fn echo_uri(
        uri: axum::http::Uri,
        method: axum::http::Method,
        req: axum::extract::Request,
    ) -> axum::Json<Value> {
        let mut v = echo(req).await.0;
        v["uri"] = json!(uri.to_string());
        v["method"] = json!(method.as_str());
        axum::Json(v)
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().fallback(echo_uri);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// Asks the auth_request endpoint as nginx does.
async fn ask(base: &str, method: &str, uri: &str, token: Option<&str>) -> Answer {
    let mut req = reqwest::Client::new()
        .get(format!("{base}/auth"))
        .header("x-original-method", method)
        .header("x-original-uri", uri);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    answer(req.send().await.unwrap()).await
}

/// Asks as `token` for each (method, uri) and asserts the status.
async fn assert_asks(base: &str, token: &str, cases: &[(&str, &str, u16)]) {
    for (method, uri, status) in cases {
        let a = ask(base, method, uri, Some(token)).await;
        assert_eq!(a.status, *status, "{method} {uri}: {}", a.body);
    }
}

/// Asks as `token` every `poll_ms` until the answer is not 200 or `secs` seconds have passed;
/// the last answer.
async fn ask_until_refused(
    base: &str,
    method: &str,
    uri: &str,
    token: &str,
    secs: u64,
    poll_ms: u64,
) -> Answer {
    let start = Instant::now();
    loop {
        let a = ask(base, method, uri, Some(token)).await;
        if a.status != 200 || start.elapsed() > Duration::from_secs(secs) {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(poll_ms)).await;
    }
}

async fn answer(r: reqwest::Response) -> Answer {
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    Answer {
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

#[tokio::test]
async fn auth_request_mode_answers_per_the_rules_and_rfc_6750() {
    let (_writ, base, alice, bob) = gated(RULES, None).await;

    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 200);

    // No token: 401 with a bare challenge.
    let a = ask(&base, "GET", "/api/todos", None).await;
    assert_eq!(a.status, 401);
    assert_eq!(a.header("www-authenticate"), "Bearer realm=\"api\"");

    // alice (editor): reads and writes; the identity headers say who and what.
    let a = ask(&base, "GET", "/api/todos?done=false", Some(&alice)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.header("x-writ-sub").starts_with("usr_"),
        "{}",
        a.header("x-writ-sub")
    );
    assert_eq!(
        a.header("x-writ-permissions"),
        "delete:todos read:todos write:todos"
    );
    assert_eq!(a.header("x-writ-client-id"), demo::SCRIPT_CLIENT_ID);
    assert_asks(
        &base,
        &alice,
        &[
            ("POST", "/api/todos", 200),
            ("DELETE", "/api/todos/3", 200),
            // any-of: alice has write:todos
            ("GET", "/api/reports", 200),
        ],
    )
    .await;

    // bob (viewer): reads, but may not write: 403 naming the scope.
    assert_asks(&base, &bob, &[("GET", "/api/todos/3", 200)]).await;
    let a = ask(&base, "POST", "/api/todos", Some(&bob)).await;
    assert_eq!(a.status, 403);
    assert!(
        a.header("www-authenticate")
            .contains("error=\"insufficient_scope\"")
            && a.header("www-authenticate")
                .contains("scope=\"write:todos\""),
        "{}",
        a.header("www-authenticate")
    );
    assert_eq!(a.body["error"], "insufficient_scope");
    let a = ask(&base, "GET", "/api/reports", Some(&bob)).await;
    assert_eq!(a.status, 403);
    assert!(
        a.header("www-authenticate")
            .contains("scope=\"read:reports write:todos\"")
    );
    assert_eq!(ask(&base, "PATCH", "/api/me", Some(&bob)).await.status, 200);

    // Public route: no token needed, no identity headers.
    let a = ask(&base, "GET", "/api/health", None).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-writ-sub"), "");

    // No rule matches, or a path trick: refused even with a good token.
    for (m, p, error) in [
        ("GET", "/api/admin", "access_denied"),
        ("PUT", "/api/todos/3", "access_denied"),
        ("GET", "/api/todos/../admin", "invalid_request"),
        ("GET", "/api/todos/%2e%2e/admin", "invalid_request"),
    ] {
        let a = ask(&base, m, p, Some(&alice)).await;
        assert_eq!(a.status, 403, "{m} {p}");
        assert_eq!(a.body["error"], error, "{m} {p}");
    }

    // Bad tokens: 401 invalid_token, never a 500.
    let mut tampered = alice.clone();
    tampered.pop();
    tampered.push(if alice.ends_with('A') { 'B' } else { 'A' });
    let oversized = "a".repeat(20_000);
    for bad in [
        tampered.as_str(),
        "not-a-jwt",
        "a.b.c",
        oversized.as_str(),
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
    ] {
        let a = ask(&base, "GET", "/api/todos", Some(bad)).await;
        assert_eq!(a.status, 401, "{bad:.40}");
        assert!(a.header("www-authenticate").contains("invalid_token"));
    }

    // Without X-Original-URI (nginx misconfigured) the gate refuses rather than guesses.
    let r = get(format!("{base}/auth"), Some(&alice)).await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn a_token_for_another_api_or_an_id_token_is_refused() {
    let writ = Writ::start().await;
    let base = gate(&writ, None, None).await;
    // A Management API token: right issuer and keys, wrong audience.
    let admin = writ.admin().await;
    let a = ask(&base, "GET", "/anything", Some(&admin)).await;
    assert_eq!(a.status, 401);
    assert!(
        a.header("www-authenticate").contains("wrong audience"),
        "{}",
        a.header("www-authenticate")
    );
    // An ID token (typ JWT, aud = the client): refused as an access token.
    let r = writ
        .password_grant(demo::ALICE, &[("scope", "openid")])
        .await;
    let id_token = r["id_token"].as_str().expect("id_token");
    let a = ask(&base, "GET", "/anything", Some(id_token)).await;
    assert_eq!(a.status, 401);
    // Without rules a valid token is all it takes.
    let alice = r["access_token"].as_str().unwrap();
    assert_eq!(
        ask(&base, "GET", "/anything", Some(alice)).await.status,
        200
    );
}

#[tokio::test]
async fn proxy_mode_forwards_allowed_requests_with_identity_and_strips_spoofed_headers() {
    let upstream = echo_upstream().await;
    let (writ, base, alice, bob) = gated(RULES, Some(format!("{upstream}/v1"))).await;
    let http = reqwest::Client::new();

    let r = http
        .post(format!("{base}/api/todos?x=1"))
        .bearer_auth(&alice)
        .header("x-writ-permissions", "admin:everything")
        .header("X-Writ-Sub", "auth0|someone-else")
        .header("x-writ-extra", "spoof")
        .json(&json!({"title": "milk"}))
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["method"], "POST");
    assert_eq!(a.body["uri"], "/v1/api/todos?x=1");
    assert_eq!(a.body["body"], "{\"title\":\"milk\"}");
    let h = &a.body["headers"];
    assert_eq!(
        h["x-writ-permissions"],
        "delete:todos read:todos write:todos"
    );
    assert!(h["x-writ-sub"].as_str().unwrap().starts_with("usr_"));
    assert_ne!(h["x-writ-sub"], "auth0|someone-else");
    assert!(h.get("x-writ-extra").is_none());
    assert!(h["authorization"].as_str().unwrap().starts_with("Bearer "));

    // Refusals never reach the upstream.
    let r = http
        .post(format!("{base}/api/todos"))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 403);
    assert_eq!(a.body["error"], "insufficient_scope");
    for (path, status) in [("/api/todos", 401), ("/api/health", 200)] {
        let r = get(format!("{base}{path}"), None).await;
        assert_eq!(r.status(), status, "{path} without a token");
    }

    // The upstream down: 502 in the OAuth error shape, not a hang or a 500.
    let gone = {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let base = gate(&writ, Some(RULES), Some(gone)).await;
    let r = get(format!("{base}/api/todos"), Some(&alice)).await;
    assert_eq!(r.status(), 502);
}

#[tokio::test]
async fn a_revoked_role_is_refused_and_a_fresh_token_carries_the_change() {
    let writ = Writ::start().await;
    let base = gate(&writ, Some(RULES), None).await;
    let (alice_id, editor) = writ.alice_and_editor().await;
    let write = |token: String| {
        let base = base.clone();
        async move { ask(&base, "POST", "/api/todos", Some(&token)).await.status }
    };
    let old = writ.user_token(demo::ALICE).await;
    assert_eq!(write(old.clone()).await, 200);

    writ.user_roles(reqwest::Method::DELETE, &alice_id, &editor)
        .await;
    let a = ask_until_refused(&base, "POST", "/api/todos", &old, 5, 10).await;
    // How fast is measured by bench/gate.sh (tests assert no timings): here, that it comes.
    assert_eq!(a.status, 401);
    assert!(
        a.header("www-authenticate")
            .contains("error_description=\"permissions changed\"")
    );

    // A new token: no write:todos any more → 403; reading also needs read:todos, gone too.
    let fresh = writ.user_token(demo::ALICE).await;
    assert_eq!(write(fresh.clone()).await, 403);

    // Granted back: the token made during the revocation is stale now, a new one writes.
    writ.user_roles(reqwest::Method::POST, &alice_id, &editor)
        .await;
    let granted = Instant::now();
    while ask(&base, "GET", "/api/health", Some(&fresh)).await.status == 200
        && write(fresh.clone()).await == 403
        && granted.elapsed() < Duration::from_secs(5)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(write(fresh).await, 401);
    let again = writ.user_token(demo::ALICE).await;
    assert_eq!(write(again).await, 200);
}

#[tokio::test]
async fn feed_outage_policy_rejects_or_accepts_when_writ_is_gone() {
    let mut writ = Writ::start().await;
    let alice = writ.user_token(demo::ALICE).await;
    let mut reject = args(&writ, None, None);
    reject.feed_outage = "reject".into();
    reject.feed_outage_after = 1;
    let mut accept = reject.clone();
    accept.feed_outage = "accept".into();
    let strict = serve_gate(writ_gate::build(&reject).await.unwrap()).await;
    let lenient = serve_gate(writ_gate::build(&accept).await.unwrap()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(ask(&strict, "GET", "/x", Some(&alice)).await.status, 200);
    assert_eq!(ask(&lenient, "GET", "/x", Some(&alice)).await.status, 200);

    // Writ stops: its SSE streams end, the guards cannot reconnect.
    drop(writ.stop.take());
    let a = ask_until_refused(&strict, "GET", "/x", &alice, 10, 100).await;
    assert_eq!(a.status, 503, "{}", a.body);
    assert_eq!(a.header("retry-after"), "5");
    assert_eq!(a.body["error"], "temporarily_unavailable");
    assert_eq!(ask(&lenient, "GET", "/x", Some(&alice)).await.status, 200);
}

#[tokio::test]
async fn key_rotation_under_traffic_fails_no_request() {
    let writ = std::sync::Arc::new(Writ::start().await);
    let gate = gate(&writ, None, None).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..3 {
        let (writ, gate, stop) = (writ.clone(), gate.clone(), stop.clone());
        workers.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0usize, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // A token from whatever key signs right now, checked at once.
                let machine = (demo::MACHINE_CLIENT_ID, demo::MACHINE_CLIENT_SECRET);
                let t = writ.machine_token(machine, demo::TODOS_API).await;
                let a = ask(&gate, "GET", "/api/todos", Some(&t)).await;
                if a.status == 200 {
                    ok += 1;
                } else {
                    failed.push((a.status, a.body.to_string()));
                }
            }
            (ok, failed)
        }));
    }
    // Two rotations: the first makes the already-published `next` key sign; the second makes
    // a key the gate has never seen sign (one JWKS refetch).
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        writ.mgmt(reqwest::Method::POST, "keys/signing/rotate", None)
            .await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, Vec::new());
    for w in workers {
        let (o, f) = w.await.unwrap();
        ok += o;
        failed.extend(f);
    }
    assert!(ok > 30, "too little traffic to mean anything: {ok}");
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        ok + failed.len(),
        &failed[..failed.len().min(3)]
    );
}

/// Rules where the path decides the permission: `/api/admin/*` needs more than the rest.
const ADMIN_RULES: &str = "
GET /api/admin/* => delete:todos
GET /api/*       => authenticated
";

/// `GET target` sent byte for byte (no client-side URL normalization, unlike reqwest's):
/// the status and the body.
async fn raw_get(base: &str, target: &[u8], token: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req = b"GET ".to_vec();
    req.extend_from_slice(target);
    req.extend_from_slice(
        format!(
            " HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\nconnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    s.write_all(&req).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    (status, text)
}

/// The JSON body of a raw answer (the echo upstream's and the gate's are one JSON object;
/// a chunked body is one chunk).
fn raw_json(text: &str) -> Value {
    let body = &text[text.find('{').expect("a JSON body")..=text.rfind('}').unwrap()];
    serde_json::from_str(body).unwrap()
}

/// Paths the gate must refuse whatever the token: each could be read by some upstream as
/// another route than the one a rule would judge.
const TRICK_PATHS: &[&str] = &[
    "/api/%2561dmin/users", // double encoding: a second decode gives %61, then a
    "/api/%25%36%31dmin/users", // the same once the unreserved digits are decoded
    "/api/admin%2Fusers",
    "/api/admin%2fusers",
    "/api/%5cadmin/users",
    "/api/x/%2e%2e/admin/users",
    "/api/x/.%2E/admin/users",
    "/api/x/../admin/users",
    "/api/./admin/users",
    "//api/admin/users",
    "/api//admin/users",
    "/api/admin;x=1/users",
    "/api/admin%00/users",
    "/api/admin%0a/users",
    "/api/%C0%AFadmin/users", // overlong UTF-8 for `/`
    "/api/%ffadmin/users",
    "/api/admin./users",
    "/api/admin%2E/users",
    "/api/%zzadmin/users",
    "/api/admin/users%4",
];

#[tokio::test]
async fn proxy_mode_judges_and_forwards_the_normalized_path() {
    let upstream = echo_upstream().await;
    // alice has delete:todos, bob read:todos only.
    let (_writ, base, alice, bob) = gated(ADMIN_RULES, Some(format!("{upstream}/v1"))).await;

    // The review's finding: `%61` is `a`, so this is /api/admin/users for the upstream.
    let (status, text) = raw_get(&base, b"/api/%61dmin/users", &bob).await;
    assert_eq!(status, 403, "{text}");
    assert_eq!(raw_json(&text)["error"], "insufficient_scope");
    let (status, _) = raw_get(&base, b"/api/admin/users", &bob).await;
    assert_eq!(status, 403);
    // Absolute-form request target: the same path, the same answer.
    let absolute = format!("{base}/api/%61dmin/users");
    assert_eq!(raw_get(&base, absolute.as_bytes(), &bob).await.0, 403);

    // With delete:todos: allowed, and the upstream gets the path the rule judged; the query
    // string goes on as it came.
    let (status, text) = raw_get(&base, b"/api/%61dmin/%7Eusers?q=%61%2F", &alice).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(raw_json(&text)["uri"], "/v1/api/admin/~users?q=%61%2F");
    let (status, text) = raw_get(&base, absolute.as_bytes(), &alice).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(raw_json(&text)["uri"], "/v1/api/admin/users");
    // Other escapes stay escaped (hex in upper case); a trailing slash is kept.
    let (status, text) = raw_get(&base, b"/api/caf%c3%a9/a%20b/", &bob).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(raw_json(&text)["uri"], "/v1/api/caf%C3%A9/a%20b/");

    // Tricks: 400, never forwarded, whoever asks.
    for p in TRICK_PATHS {
        for token in [&alice, &bob] {
            let (status, text) = raw_get(&base, p.as_bytes(), token).await;
            assert_eq!(status, 400, "{p}: {text}");
            assert_eq!(raw_json(&text)["error"], "invalid_request", "{p}");
        }
    }
    // A literal backslash, and a target that is not a path.
    for target in [&b"/api\\admin/users"[..], b"*", b"api/admin/users"] {
        let (status, text) = raw_get(&base, target, &alice).await;
        assert_eq!(status, 400, "{}: {text}", String::from_utf8_lossy(target));
    }
}

#[tokio::test]
async fn auth_request_mode_judges_the_normalized_path_and_denies_tricks() {
    let (_writ, base, alice, bob) = gated(ADMIN_RULES, None).await;

    let a = ask(&base, "GET", "/api/%61dmin/users", Some(&bob)).await;
    assert_eq!(a.status, 403, "{}", a.body);
    assert_eq!(a.body["error"], "insufficient_scope");
    assert_asks(&base, &alice, &[("GET", "/api/%61dmin/users?x=1", 200)]).await;
    assert_asks(&base, &bob, &[("GET", "/api/todos", 200)]).await;

    // nginx allows on 2xx and denies on 401/403 (anything else is its 500): a malformed path
    // is a 403, whoever asks.
    let mut tricks: Vec<&str> = TRICK_PATHS.to_vec();
    tricks.extend([
        "/api\\admin/users",
        "api/admin/users",
        "http://example.com/api/admin/users",
        "*",
        "",
        "/api/admin#/../users",
    ]);
    for p in tricks {
        for token in [&alice, &bob] {
            let a = ask(&base, "GET", p, Some(token)).await;
            assert_eq!(a.status, 403, "{p:?}: {}", a.body);
            assert_eq!(a.body["error"], "invalid_request", "{p:?}");
            assert_eq!(a.header("x-writ-sub"), "", "{p:?}");
        }
    }
    // An X-Original-URI that is not even text.
    let r = reqwest::Client::new()
        .get(format!("{base}/auth"))
        .header(
            "x-original-uri",
            reqwest::header::HeaderValue::from_bytes(b"/api/\xC0\xAFadmin").unwrap(),
        )
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn proxy_mode_strips_identity_headers_spelt_with_underscores() {
    let upstream = echo_upstream().await;
    let (_writ, base, _, bob) = gated(RULES, Some(upstream)).await;
    // CGI/WSGI servers (gunicorn, PHP) map `X_Writ_Sub` and `X-Writ-Sub` to the same
    // HTTP_X_WRIT_SUB: none of these may reach the upstream.
    let r = reqwest::Client::new()
        .get(format!("{base}/api/todos"))
        .bearer_auth(&bob)
        .header("X_Writ_Sub", "auth0|someone-else")
        .header("x_writ_permissions", "delete:todos")
        .header("X-Writ_Scope", "delete:todos")
        .header("x_writ-client-id", "spoof")
        .header("X_WRIT_EXTRA", "spoof")
        .header("x-other_header", "kept")
        .send()
        .await
        .unwrap();
    let a = answer(r).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let h = a.body["headers"].as_object().unwrap();
    let writ_like: Vec<&String> = h
        .keys()
        .filter(|k| k.replace('_', "-").starts_with("x-writ-"))
        .collect();
    let mut expected = vec![
        "x-writ-client-id",
        "x-writ-permissions",
        "x-writ-scope",
        "x-writ-sub",
    ];
    expected.sort();
    let mut got: Vec<&str> = writ_like.iter().map(|s| s.as_str()).collect();
    got.sort();
    assert_eq!(got, expected, "{h:?}");
    assert_eq!(h["x-writ-permissions"], "read:todos");
    assert!(h["x-writ-sub"].as_str().unwrap().starts_with("usr_"));
    assert_eq!(h["x-other_header"], "kept");
}
