//! Operating Writ: `/metrics` after real traffic (token requests of every grant, a hook, failed
//! logins up to a lockout, a refresh token reused, an authz event stream open), parsed by
//! Prometheus' Python client parser (`prometheus_client`, from tests/interop/requirements.txt);
//! client ids as labels only when enabled; `/metrics` off the main listener when it has its
//! own; and the audit stream (`WRIT_AUDIT_STREAM`) to a file, line for line the entries of
//! `GET /api/v2/logs`, and never failing a request when it cannot be written.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::login::{VERIFIER, exchange, login_alice, query_param, refresh, setup_with};

/// One parsed sample.
#[derive(Debug, Clone)]
struct Sample {
    family: String,
    kind: String,
    help: String,
    name: String,
    labels: serde_json::Map<String, Value>,
    value: f64,
}

/// The app's `/metrics`, parsed with `prometheus_client`'s text parser.
async fn scrape(app: &TestApp) -> Vec<Sample> {
    let r = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    parse(&r.text().await.unwrap()).await
}

/// `text` parsed by `tests/interop/prometheus_scrape.py`; panics when it does not parse.
async fn parse(text: &str) -> Vec<Sample> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(crate::interop::python())
        .arg(crate::interop::repo_root().join("tests/interop/prometheus_scrape.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 (see README: the test command installs the interop packages)");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(text.as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    assert!(
        out.status.success(),
        "the scrape does not parse:\n{}\n---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    v.into_iter()
        .map(|s| Sample {
            family: s["family"].as_str().unwrap().to_owned(),
            kind: s["type"].as_str().unwrap().to_owned(),
            help: s["help"].as_str().unwrap_or_default().to_owned(),
            name: s["name"].as_str().unwrap().to_owned(),
            labels: s["labels"].as_object().unwrap().clone(),
            value: s["value"].as_f64().unwrap(),
        })
        .collect()
}

/// `writ_build_info` is 1 for this build's version.
fn assert_build_info(m: &[Sample]) {
    assert_eq!(
        value(
            m,
            "writ_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
}

/// The value of the sample `name` whose labels include `labels` (0 when there is none; panics
/// when several match).
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).and_then(Value::as_str) == Some(*v))
        })
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?}: {found:?}");
    found.first().map_or(0.0, |s| s.value)
}

/// The first scrape for which `ok` holds (the watcher and the workers are asynchronous).
async fn scrape_until(app: &TestApp, ok: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = scrape(app).await;
        if ok(&s) || tokio::time::Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_scrape_after_real_traffic_parses_and_counts_it() {
    let app = TestApp::spawn().await;
    // A post-login hook, run at the code exchange and at the refresh.
    app.bind_action(
        "post-login",
        json!({"name": "stamp",
               "code": "exports.onExecutePostLogin = async (event, api) => { api.accessToken.setCustomClaim('https://x.example/plan', 'pro'); };",
               "runtime": "node18"}),
    )
    .await;
    let s = setup_with(app).await;
    let app = &s.app;
    let todos = crate::login::TODOS;
    let mgmt = app.mgmt_audience();

    // A hosted-page login, its code exchanged, the refresh token rotated, then reused.
    let (loc, _) = login_alice(&s).await;
    let code = query_param(&loc, "code").unwrap();
    let t = exchange(&s, &code, VERIFIER).await.assert(200).body;
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    refresh(&s, &rt1).await.assert(200);
    refresh(&s, &rt1).await.assert(400);
    // Ten wrong passwords through the password grant block alice from here; the eleventh try
    // is refused unchecked.
    let cli = app.password_client().await;
    for _ in 0..10 {
        app.password_token(&cli, "alice@example.com", "wrong-password", todos, None)
            .await
            .assert(400);
    }
    app.password_token(&cli, "alice@example.com", "wrong-password", todos, None)
        .await
        .assert(429);
    // A machine client with a wrong secret, and a grant type nobody supports.
    let (m, _) = app.machine(todos, &["read:todos"]).await;
    app.token_form(&[
        ("grant_type", "client_credentials"),
        ("client_id", &m),
        ("client_secret", "not-the-secret"),
        ("audience", todos),
    ])
    .await
    .assert(401);
    app.token_form(&[("grant_type", "urn:example:made-up")])
        .await
        .assert(400);
    // An open authz event stream.
    let stream = app
        .http
        .get(format!("{}/api/v2/authz-events", app.base))
        .bearer_auth(app.admin_token().await)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let head = app.state.store.authz_head().await.unwrap();
    assert!(head > 0, "the setup appended authz events");

    let m = scrape_until(app, |m| {
        value(m, "writ_authz_feed_subscribers", &[]) == 1.0
            && value(m, "writ_authz_feed_lag_events", &[]) == 0.0
            && value(m, "writ_authz_events_appended_total", &[]) > 0.0
    })
    .await;
    let issued = |grant: &str, aud: &str, outcome: &str| {
        value(
            &m,
            "writ_tokens_issued_total",
            &[
                ("grant_type", grant),
                ("audience", aud),
                ("outcome", outcome),
            ],
        )
    };
    // Tokens: the admin's (cached by the suite), the code exchange and one refresh issued.
    assert_eq!(issued("client_credentials", &mgmt, "issued"), 1.0);
    assert_eq!(issued("authorization_code", todos, "issued"), 1.0);
    assert_eq!(issued("refresh_token", todos, "issued"), 1.0);
    // Refusals, by OAuth error code: a refusal names the API only when the request did.
    assert_eq!(issued("refresh_token", "none", "invalid_grant"), 1.0);
    assert_eq!(issued("password", todos, "invalid_grant"), 10.0);
    assert_eq!(issued("password", todos, "too_many_attempts"), 1.0);
    assert_eq!(issued("client_credentials", todos, "invalid_client"), 1.0);
    assert_eq!(issued("unsupported", "none", "unsupported_grant_type"), 1.0);
    let durations = |grant: &str| {
        value(
            &m,
            "writ_token_request_duration_seconds_count",
            &[("grant_type", grant)],
        )
    };
    assert_eq!(durations("refresh_token"), 2.0);
    assert_eq!(durations("password"), 11.0);
    // Logins: alice's on the page and ten failures; the eleventh was refused unchecked.
    assert_eq!(value(&m, "writ_login_duration_seconds_count", &[]), 12.0);
    assert!(value(&m, "writ_login_duration_seconds_sum", &[]) > 0.0);
    let failures = |reason: &str| value(&m, "writ_login_failures_total", &[("reason", reason)]);
    assert_eq!(failures("wrong_password"), 10.0);
    assert_eq!(failures("too_many_attempts"), 1.0);
    assert_eq!(failures("unknown_user"), 0.0);
    assert_eq!(value(&m, "writ_lockouts_total", &[]), 1.0);
    assert_eq!(value(&m, "writ_refresh_token_reuse_total", &[]), 1.0);
    // The hook ran at the code exchange and the refresh.
    let hooks = |outcome: &str| {
        value(
            &m,
            "writ_hook_runs_total",
            &[("trigger", "post-login"), ("outcome", outcome)],
        )
    };
    assert_eq!(hooks("success"), 2.0);
    assert_eq!(hooks("failed"), 0.0);
    // The authz feed: events appended as the head moved (by at most the head), one stream.
    let appended = value(&m, "writ_authz_events_appended_total", &[]);
    assert!(
        appended > 0.0 && appended <= head as f64,
        "{appended} / {head}"
    );
    assert_eq!(value(&m, "writ_authz_feed_subscribers", &[]), 1.0);
    // The database: the pool, sampled at the scrape, and the token path's store calls.
    let idle = value(&m, "writ_db_pool_connections", &[("state", "idle")]);
    let used = value(&m, "writ_db_pool_connections", &[("state", "used")]);
    assert!(idle + used >= 1.0, "{idle} idle, {used} used");
    let db = |op: &str| value(&m, "writ_db_query_duration_seconds_count", &[("op", op)]);
    assert_eq!(db("get_code"), 1.0);
    assert_eq!(db("consume_code"), 1.0);
    // With rotation the store reads the token as it rotates it: no separate read.
    assert_eq!(db("get_refresh"), 0.0);
    assert_eq!(db("rotate_refresh"), 2.0);
    assert_eq!(db("credentials_by_email"), 11.0);
    assert!(db("permissions") >= 2.0 && db("append_log") > 0.0);
    // HTTP: by route template, never a concrete path.
    let http = |method: &str, route: &str, status: &str| {
        value(
            &m,
            "writ_http_requests_total",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(http("POST", "/oauth/token", "200"), 3.0);
    assert_eq!(http("POST", "/oauth/token", "429"), 1.0);
    assert!(http("POST", "/api/v2/users/{id}/roles", "204") >= 1.0);
    assert!(http("GET", "/authorize", "200") >= 1.0);
    assert!(
        value(
            &m,
            "writ_http_request_duration_seconds_count",
            &[("route", "/oauth/token")]
        ) >= 16.0
    );
    for s in m.iter().filter(|s| s.family.starts_with("writ_http")) {
        let route = s.labels["route"].as_str().unwrap();
        assert!(
            !route.contains("usr_") && !route.contains("rol_"),
            "{route}"
        );
    }
    // Build info.
    assert_build_info(&m);
    // Types and help as declared; and no client id, nor any user id, in any label.
    let kind = |family: &str| {
        m.iter()
            .find(|s| s.family == family)
            .map(|s| s.kind.clone())
            .unwrap_or_default()
    };
    assert_eq!(kind("writ_tokens_issued"), "counter");
    assert_eq!(kind("writ_token_request_duration_seconds"), "histogram");
    assert_eq!(kind("writ_authz_feed_subscribers"), "gauge");
    assert!(
        m.iter().all(|s| !s.help.is_empty()),
        "every series has help"
    );
    for s in &m {
        assert!(!s.labels.contains_key("client_id"), "{s:?}");
        for v in s.labels.values() {
            let v = v.as_str().unwrap();
            assert!(!v.contains("usr_"), "{v}");
            assert!(!v.contains(ADMIN_ID) && !v.contains(&cli.0), "{s:?}");
        }
    }
    drop(stream);
}

#[tokio::test]
async fn client_ids_are_labels_only_when_enabled() {
    let app = TestApp::spawn_with_vars(&[("WRIT_METRICS_CLIENT_LABELS", "true")]).await;
    let mgmt = app.mgmt_audience();
    app.admin_token().await;
    // A client id nobody has is not a label value: a flood of made-up ids makes no series.
    for i in 0..3 {
        app.token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &format!("made-up-{i}")),
            ("client_secret", "x"),
            ("audience", &mgmt),
        ])
        .await
        .assert(401);
    }
    let m = scrape(&app).await;
    let with = |client: &str, outcome: &str| {
        value(
            &m,
            "writ_tokens_issued_total",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", client),
                ("outcome", outcome),
            ],
        )
    };
    assert_eq!(with(ADMIN_ID, "issued"), 1.0);
    assert_eq!(with("none", "invalid_client"), 3.0);
    assert!(m.iter().all(|s| {
        s.labels
            .values()
            .all(|v| !v.as_str().unwrap().contains("made-up"))
    }));
}

#[tokio::test]
async fn metrics_leave_the_main_listener_when_they_have_their_own() {
    let app = TestApp::spawn_with_vars(&[("WRIT_METRICS_LISTEN", "127.0.0.1:9")]).await;
    app.get("/metrics").await.assert(404);
    // Served by `writ_server::metrics::run_metrics` on its own listener (the binary binds
    // WRIT_METRICS_LISTEN; see the binary's tests).
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(writ_server::metrics::run_metrics(
        l,
        app.state.clone(),
        async {
            let _ = rx.await;
        },
    ));
    let text = text_of(app.http.get(format!("http://{addr}/metrics"))).await;
    let m = parse(&text).await;
    assert_build_info(&m);
    let _ = tx.send(());
    served.await.unwrap().unwrap();
}

/// The entries of `GET /api/v2/logs`, oldest first.
async fn api_logs(app: &TestApp) -> Vec<Value> {
    let mut logs = app
        .api_get("/logs?per_page=100")
        .await
        .as_array()
        .cloned()
        .unwrap();
    logs.sort_by(|a, b| a["log_id"].as_str().cmp(&b["log_id"].as_str()));
    logs
}

#[tokio::test]
async fn the_audit_stream_writes_each_entry_as_the_api_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let target = format!("file:{}", path.display());
    let app = TestApp::spawn_with_vars(&[("WRIT_AUDIT_STREAM", &target)]).await;
    // Entries of several kinds: API writes, a refused one, a failed login.
    app.create_api("https://stream.example/api", "RS256", &["read:x"], true)
        .await;
    app.create_role("streamer", "https://stream.example/api", &["read:x"])
        .await;
    app.api_post("/roles", json!({"name": ""}))
        .await
        .assert(400);
    app.create_user("s@example.com", "stream-password-1").await;
    let cli = app.password_client().await;
    app.password_token(
        &cli,
        "s@example.com",
        "wrong-password",
        "https://stream.example/api",
        None,
    )
    .await
    .assert(400);
    // Every entry the test made (the start's own, if any, were recorded before the stream).
    let logs = api_logs(&app).await;
    let made: Vec<&Value> = logs
        .iter()
        .filter(|e| matches!(e["type"].as_str(), Some("sapi" | "fapi" | "fp")))
        .collect();
    assert!(made.len() >= 6, "{logs:?}");
    // The writer is a thread of its own: wait for it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        if lines.len() >= made.len() || std::time::Instant::now() > deadline {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // Each line is the API's entry exactly.
    for l in &lines {
        let served = logs.iter().find(|e| e["log_id"] == l["log_id"]);
        assert_eq!(Some(l), served, "streamed as served");
    }
    // All of them (log ids sort by the millisecond only: compared as sets).
    let ids = |v: &[&Value]| {
        let mut ids: Vec<String> = v
            .iter()
            .map(|e| e["log_id"].as_str().unwrap().to_owned())
            .collect();
        ids.sort();
        ids
    };
    let streamed: Vec<&Value> = lines.iter().collect();
    assert_eq!(ids(&streamed), ids(&made));
    // Entries name users and their addresses: the file Writ created is its owner's only.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    assert!(lines.iter().any(|l| l["type"] == "fp"));
    assert!(lines.iter().any(|l| l["type"] == "fapi"));
    assert!(
        !std::fs::read_to_string(&path)
            .unwrap()
            .contains("wrong-password")
    );
}

#[tokio::test]
async fn an_audit_stream_that_cannot_be_written_fails_no_request() {
    // Every write to /dev/full fails (no space left on the device).
    let app = TestApp::spawn_with_vars(&[("WRIT_AUDIT_STREAM", "file:/dev/full")]).await;
    for i in 0..3 {
        app.create_role(&format!("r{i}"), &app.mgmt_audience(), &["read:users"])
            .await;
    }
    // The entries are in the log all the same; the stream's losses are counted.
    let logs = api_logs(&app).await;
    assert!(logs.len() >= 3);
    let m = scrape_until(&app, |m| {
        value(m, "writ_audit_stream_dropped_total", &[]) >= logs.len() as f64
    })
    .await;
    assert!(value(&m, "writ_audit_stream_dropped_total", &[]) >= logs.len() as f64);
    // A stream that cannot even be opened stops the start with a clear error.
    let mut vars = app.vars.clone();
    vars.push((
        "WRIT_AUDIT_STREAM".into(),
        "file:/proc/writ-nope/audit.jsonl".into(),
    ));
    let config = writ_server::Config::load(None, |k| {
        vars.iter()
            .rev()
            .find(|(a, _)| a == k)
            .map(|(_, b)| b.clone())
    })
    .unwrap();
    let e = writ_server::prepare(config).await.err().expect("refused");
    assert!(e.to_string().contains("WRIT_AUDIT_STREAM"), "{e}");
}
