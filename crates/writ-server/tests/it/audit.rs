//! The audit log: Management API writes (`sapi`/`fapi`, key rotation included), password
//! logins (`s`, `fp`, `fu`, `f`, `limit_wc`), the browser flow (login, `seacft`, `ferrt`,
//! `feacft`, `slo`), `GET /api/v2/logs` (paging, totals, sort, `q`, errors, scope), secrets
//! kept out of every entry, and retention pruning.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use writ_store::NewLogEntry;

use crate::helpers::*;

const TODOS: &str = "https://todos.example/api";
const CB: &str = "http://127.0.0.1:5173/callback";
const SPA: &str = "http://127.0.0.1:5173";
const VERIFIER: &str = "audit-test-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";
const UA: &str = "writ-audit-test/1.0";

/// `GET /api/v2/logs?{query}` with the admin token.
async fn logs(app: &TestApp, query: &str) -> Resp {
    app.api(Method::GET, &format!("/logs?{query}"), None).await
}

/// The entries `q` matches, newest first, asserting there are at least `n`. Entries are
/// appended before the response to what they record, so nothing here waits.
async fn matching(app: &TestApp, q: &str, n: usize) -> Vec<Value> {
    let enc = url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>();
    let got = logs(app, &format!("q={enc}&per_page=100"))
        .await
        .assert(200);
    let items = got.body.as_array().unwrap().clone();
    if items.len() < n {
        let all = logs(app, "per_page=100").await.body;
        panic!("fewer than {n} entries match {q}; the log holds {all:#}");
    }
    items
}

/// Every entry of the log, all pages.
async fn all_entries(app: &TestApp) -> Vec<Value> {
    let mut out = vec![];
    for page in 0.. {
        let got = logs(app, &format!("per_page=100&page={page}"))
            .await
            .assert(200);
        let items = got.body.as_array().unwrap().clone();
        if items.is_empty() {
            return out;
        }
        out.extend(items);
    }
    unreachable!()
}

/// No entry mentions any of `secrets`, anywhere.
async fn assert_no_secrets(app: &TestApp, secrets: &[&str]) {
    let entries = all_entries(app).await;
    assert!(!entries.is_empty());
    for e in &entries {
        let text = e.to_string();
        for s in secrets {
            assert!(
                s.len() >= 8,
                "a secret this short would match by chance: {s}"
            );
            assert!(!text.contains(s), "a secret appears in {e:#}");
        }
    }
}

/// A Management API call with a user agent.
async fn api_ua(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Resp {
    let mut r = app
        .http
        .request(method, format!("{}/api/v2{path}", app.base))
        .header("user-agent", UA)
        .bearer_auth(token);
    if let Some(b) = body {
        r = r.json(&b);
    }
    to_resp(r.send().await.unwrap()).await
}

#[tokio::test]
async fn management_writes_are_recorded_as_sapi_and_fapi() {
    let app = TestApp::spawn().await;
    let admin = app.admin_token().await;
    // The same request twice: created, then a conflict.
    let create_auditors = || {
        api_ua(
            &app,
            &admin,
            Method::POST,
            "/roles",
            Some(json!({"name": "auditors"})),
        )
    };
    let role = create_auditors().await.assert(201).field("id");
    let e = &matching(&app, "type:sapi AND client_id:test-admin", 1).await[0];
    assert_eq!(e["type"], "sapi");
    assert_eq!(e["description"], "Create a role");
    assert_eq!(e["client_id"], ADMIN_ID);
    assert!(e["client_name"].is_string(), "{e}");
    assert!(
        e.get("user_id").is_none(),
        "a machine caller has no user: {e}"
    );
    assert_eq!(e["ip"], "127.0.0.1");
    assert_eq!(e["user_agent"], UA);
    assert_eq!(
        e["details"],
        json!({
            "request": {"method": "POST", "path": "/api/v2/roles", "channel": "api"},
            "response": {"statusCode": 201},
        })
    );
    assert!(
        e["log_id"]
            .as_str()
            .unwrap()
            .bytes()
            .all(|b| b.is_ascii_digit())
    );
    let got = logs(&app, "").await.assert(200).body;
    assert!(got.as_array().unwrap().iter().any(|x| x == e));

    // A path with an id, a failure (conflict), and reads (not recorded).
    api_ua(
        &app,
        &admin,
        Method::PATCH,
        &format!("/roles/{role}"),
        Some(json!({"description": "x"})),
    )
    .await
    .assert(200);
    create_auditors().await.assert(409);
    app.api(Method::GET, "/roles", None).await.assert(200);
    let fapi = &matching(&app, "type:fapi", 1).await[0];
    assert_eq!(fapi["description"], "Create a role");
    assert_eq!(fapi["client_id"], ADMIN_ID);
    assert_eq!(
        fapi["details"]["response"],
        json!({"statusCode": 409, "errorCode": "conflict"})
    );
    let sapi = matching(&app, "type:sapi", 2).await;
    let patched = sapi
        .iter()
        .find(|e| e["description"] == "Update a role")
        .expect("the PATCH is recorded");
    assert_eq!(
        patched["details"]["request"]["path"],
        format!("/api/v2/roles/{role}")
    );
    assert_eq!(patched["details"]["request"]["method"], "PATCH");

    // Without the scope: fapi with the caller; with a bad token: fapi without one.
    let (m2m, m2m_secret) = app.machine(&app.mgmt_audience(), &["read:roles"]).await;
    let weak = app.mgmt_token(&m2m, &m2m_secret).await;
    api_ua(&app, &weak, Method::DELETE, &format!("/roles/{role}"), None)
        .await
        .assert(403);
    api_ua(
        &app,
        "not-a-token",
        Method::DELETE,
        &format!("/roles/{role}"),
        None,
    )
    .await
    .assert(401);
    let failed = matching(&app, "type:fapi", 3).await;
    let forbidden = failed.iter().find(|e| e["client_id"] == m2m).unwrap();
    assert_eq!(forbidden["description"], "Delete a role");
    assert_eq!(
        forbidden["details"]["response"]["errorCode"],
        "insufficient_scope"
    );
    let anonymous = failed
        .iter()
        .find(|e| e["details"]["response"]["statusCode"] == 401)
        .unwrap();
    assert!(anonymous.get("client_id").is_none(), "{anonymous}");
    assert_eq!(
        anonymous["details"]["response"]["errorCode"],
        "invalid_token"
    );
    let by_client = matching(&app, &format!("client_id:{m2m}"), 1).await;
    assert_eq!(by_client.len(), 1);

    // Nothing is recorded for reads.
    let all = all_entries(&app).await;
    assert!(
        all.iter()
            .all(|e| e["details"]["request"]["method"] != "GET")
    );

    // Key rotation goes through the Management API, so it is recorded.
    app.api(Method::POST, "/keys/signing/rotate", None)
        .await
        .assert(200);
    let rot = &matching(&app, "type:sapi AND date:[2000-01-01 TO *]", 1).await;
    let rot = rot
        .iter()
        .find(|e| e["description"] == "Rotate signing keys")
        .unwrap_or_else(|| panic!("no rotation entry in {rot:#?}"));
    assert_eq!(
        rot["details"]["request"]["path"],
        "/api/v2/keys/signing/rotate"
    );
    assert_eq!(rot["client_id"], ADMIN_ID);

    // Writes carrying secrets: a user's password, a client's (rotated) secret.
    let pw = "user-password-never-logged-1";
    app.create_user("carol@example.com", pw).await;
    let (cid, secret) = app
        .create_client(json!({"name": "web", "app_type": "regular_web"}))
        .await;
    let rotated = app.rotate_secret(&cid).await;
    matching(&app, "type:sapi", 8).await;
    assert_no_secrets(
        &app,
        &[
            pw,
            &secret,
            &rotated,
            ADMIN_SECRET,
            &m2m_secret,
            &admin,
            &weak,
        ],
    )
    .await;
}

/// A successful write's entry rides its first transaction (`writ_store::riding`), or is
/// recorded after a write no transaction carried: either way once, never twice or not at all.
#[tokio::test]
async fn each_management_write_is_recorded_exactly_once() {
    let app = TestApp::spawn().await;
    let user = app.create_user("once@example.com", "once-password-1").await;
    let count = |all: &[Value], what: &str| all.iter().filter(|e| e["description"] == what).count();
    // One transaction (the entry rides it); three (one per algorithm: it rides the first); lone
    // statements only (a ticket: recorded after the write).
    app.api_post("/roles", json!({"name": "once"}))
        .await
        .assert(201);
    app.api(Method::POST, "/keys/signing/rotate", None)
        .await
        .assert(200);
    app.api_post(
        "/tickets/password-change",
        json!({"user_id": user, "result_url": "https://app.example/done"}),
    )
    .await
    .assert(201);
    // A failure after validation wrote nothing: only its fapi entry.
    app.api_post("/roles", json!({"name": "once"}))
        .await
        .assert(409);
    let all = all_entries(&app).await;
    for what in [
        "Create a user",
        "Rotate signing keys",
        "Create a password change ticket",
    ] {
        assert_eq!(count(&all, what), 1, "{what}: {all:#?}");
    }
    let roles: Vec<_> = all
        .iter()
        .filter(|e| e["description"] == "Create a role")
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(roles.len(), 2, "{all:#?}");
    assert!(
        roles.contains(&"sapi") && roles.contains(&"fapi"),
        "{roles:?}"
    );
}

#[tokio::test]
async fn password_grant_logins_are_recorded() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    let bob = app.create_user("bob@example.com", "bob-password-1").await;
    let mallory = app
        .create_user("mallory@example.com", "mallory-password-1")
        .await;
    app.block_user(&mallory).await;
    let client = app.password_client().await;
    let login = |user, pw| app.password_token(&client, user, pw, TODOS, None);
    let ok = login("Bob@Example.com", "bob-password-1")
        .await
        .assert(200)
        .body;
    let s = &matching(&app, "type:s", 1).await[0];
    assert_eq!(s["user_id"], bob);
    assert_eq!(s["user_name"], "bob@example.com");
    assert_eq!(s["client_id"], client.0);
    assert_eq!(s["client_name"], "cli");
    assert_eq!(s["connection"], "Username-Password-Authentication");
    assert_eq!(s["ip"], "127.0.0.1");
    assert_eq!(s["details"], json!({"grant_type": "password"}));

    login("bob@example.com", "wrong-password-1")
        .await
        .assert(400);
    let fp = &matching(&app, "type:fp", 1).await[0];
    assert_eq!(fp["user_id"], bob);
    assert_eq!(fp["description"], "Wrong email or password.");
    login("nobody@example.com", "whatever-password")
        .await
        .assert(400);
    let fu = &matching(&app, "type:fu", 1).await[0];
    assert!(fu.get("user_id").is_none(), "{fu}");
    assert_eq!(fu["user_name"], "nobody@example.com");
    login("mallory@example.com", "mallory-password-1")
        .await
        .assert(400);
    let f = &matching(&app, "type:f", 1).await[0];
    assert_eq!(f["user_id"], mallory);
    assert_eq!(f["description"], "user is blocked");

    // By user: bob's success and failure, newest first.
    let q = format!("user_id:\"{bob}\" AND type:(s OR fp)");
    let bobs = matching(&app, &q, 2).await;
    assert_eq!(bobs.len(), 2);
    assert_eq!(
        (&bobs[0]["type"], &bobs[1]["type"]),
        (&json!("fp"), &json!("s"))
    );

    // The brute-force block (a success first resets the failure count).
    login("bob@example.com", "bob-password-1").await.assert(200);
    for _ in 0..10 {
        login("bob@example.com", "bad-password-x").await.assert(400);
    }
    login("bob@example.com", "bob-password-1").await.assert(429);
    let limit = &matching(&app, "type:limit_wc", 1).await[0];
    assert_eq!(limit["user_name"], "bob@example.com");
    assert_eq!(limit["client_id"], client.0);

    assert_no_secrets(
        &app,
        &[
            "bob-password-1",
            "wrong-password-1",
            "whatever-password",
            "mallory-password-1",
            "bad-password-x",
            &client.1,
            ok["access_token"].as_str().unwrap(),
        ],
    )
    .await;
}

#[tokio::test]
async fn browser_flow_exchanges_reuse_and_logout_are_recorded() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "ES256", &["read:todos"], true).await;
    app.allow_offline_access(TODOS).await;
    let alice = app
        .create_user("alice@example.com", "alice-password-1")
        .await;
    let spa = crate::login::todo_spa(&app).await;

    // Log in on the hosted page.
    let challenge = challenge(VERIFIER);
    let authorize = format!(
        "{}/authorize?{}",
        app.base,
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("response_type", "code"),
                ("client_id", spa.as_str()),
                ("redirect_uri", CB),
                ("scope", "openid offline_access read:todos"),
                ("audience", TODOS),
                ("state", "st"),
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "S256"),
            ])
            .finish()
    );
    let page = app.http.get(&authorize).send().await.unwrap();
    let csrf_cookie = set_cookie(&page, "writ_csrf").unwrap();
    let html = page.text().await.unwrap();
    let post = |pw: &'static str| {
        app.http
            .post(format!("{}/u/login", app.base))
            .header("cookie", &csrf_cookie)
            .header("origin", &app.base)
            .header("user-agent", UA)
            .form(&login_form(&html, "alice@example.com", pw))
            .send()
    };
    assert_eq!(post("not-alices-password").await.unwrap().status(), 400);
    let r = post("alice-password-1").await.unwrap();
    assert_eq!(r.status(), 302);
    let session = set_cookie(&r, "writ_session").unwrap();
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    let code = url::Url::parse(&loc)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let fp = &matching(&app, "type:fp", 1).await[0];
    assert_eq!(fp["details"], json!({"prompt": "login"}));
    let s = &matching(&app, "type:s", 1).await[0];
    assert_eq!(s["user_id"], alice);
    assert_eq!(s["client_id"], spa);
    assert_eq!(s["user_agent"], UA);

    // The code exchange, a refresh, then reuse of the rotated refresh token.
    let t = exchange(&app, &spa, &code).await.assert(200).body;
    let seacft = &matching(&app, "type:seacft", 1).await[0];
    assert_eq!(seacft["user_id"], alice);
    assert_eq!(seacft["user_name"], "alice@example.com");
    assert_eq!(seacft["client_id"], spa);
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |rt: String| {
        let app = &app;
        let spa = spa.clone();
        async move {
            app.token_form(&[
                ("grant_type", "refresh_token"),
                ("client_id", spa.as_str()),
                ("refresh_token", rt.as_str()),
            ])
            .await
        }
    };
    let t2 = refresh(rt1.clone()).await.assert(200).body;
    refresh(rt1.clone()).await.assert(400);
    let ferrt = &matching(&app, "type:ferrt", 1).await[0];
    assert_eq!(ferrt["user_id"], alice);
    assert_eq!(ferrt["client_id"], spa);
    assert_eq!(ferrt["details"]["reason"], "reused rotating refresh token");
    // A reused code.
    exchange(&app, &spa, &code).await.assert(400);
    let feacft = &matching(&app, "type:feacft", 1).await[0];
    assert_eq!(feacft["user_id"], alice);

    // Logout.
    let r = app
        .http
        .get(format!(
            "{}/v2/logout?client_id={spa}&returnTo={}",
            app.base,
            url::form_urlencoded::byte_serialize(format!("{SPA}/").as_bytes()).collect::<String>()
        ))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let slo = &matching(&app, "type:slo", 1).await[0];
    assert_eq!(slo["user_id"], alice);
    assert_eq!(slo["client_id"], spa);

    let session_value = session.split_once('=').unwrap().1.to_owned();
    let csrf_value = csrf_cookie.split_once('=').unwrap().1.to_owned();
    assert_no_secrets(
        &app,
        &[
            "alice-password-1",
            "not-alices-password",
            &code,
            VERIFIER,
            &rt1,
            t["access_token"].as_str().unwrap(),
            t["id_token"].as_str().unwrap(),
            t2["refresh_token"].as_str().unwrap(),
            t2["access_token"].as_str().unwrap(),
            &session_value,
            &csrf_value,
        ],
    )
    .await;
}

async fn exchange(app: &TestApp, client_id: &str, code: &str) -> Resp {
    app.token_form(&[
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", CB),
        ("code_verifier", VERIFIER),
    ])
    .await
}

fn entry(date: &str, ty: &str, user: Option<&str>, client: Option<&str>) -> NewLogEntry {
    NewLogEntry {
        date: Some(date.into()),
        log_type: ty.into(),
        description: format!("{ty} fixture"),
        ip: Some("198.51.100.1".into()),
        client_id: client.map(Into::into),
        user_id: user.map(Into::into),
        details: json!({}),
        ..Default::default()
    }
}

#[tokio::test]
async fn the_logs_endpoint_pages_sorts_and_searches() {
    // Retention off: the fixtures are older than the default 30 days.
    let app = TestApp::spawn_with_vars(&[("WRIT_AUDIT_RETENTION_DAYS", "0")]).await;
    let rows = [
        ("2025-01-01T00:00:00Z", "s", Some("usr_a"), Some("app")),
        ("2025-02-01T00:00:00Z", "fp", Some("usr_a"), Some("app")),
        ("2025-03-01T00:00:00Z", "fu", None, Some("app")),
        ("2025-04-01T00:00:00Z", "s", Some("usr_b"), Some("other")),
        ("2025-05-01T00:00:00Z", "fapi", None, Some("other")),
    ];
    let mut ids = vec![];
    for (d, ty, u, c) in rows {
        let e = app
            .state
            .store
            .append_log(&entry(d, ty, u, c))
            .await
            .unwrap();
        ids.push(e.log_id);
    }
    let ids_of = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|e| e["log_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let want = |idx: &[usize]| idx.iter().map(|&i| ids[i].clone()).collect::<Vec<_>>();
    let year = "q=date%3A%5B2025-01-01+TO+2025-12-31%5D";

    // Paging with totals, newest first.
    let p0 = logs(&app, &format!("{year}&per_page=2&include_totals=true"))
        .await
        .assert(200)
        .body;
    assert_eq!(
        (
            p0["start"].clone(),
            p0["limit"].clone(),
            p0["length"].clone(),
            p0["total"].clone()
        ),
        (json!(0), json!(2), json!(2), json!(5))
    );
    assert_eq!(ids_of(&p0["logs"]), want(&[4, 3]));
    let p2 = logs(
        &app,
        &format!("{year}&per_page=2&page=2&include_totals=true"),
    )
    .await
    .assert(200)
    .body;
    assert_eq!(
        (p2["start"].clone(), p2["length"].clone()),
        (json!(4), json!(1))
    );
    assert_eq!(ids_of(&p2["logs"]), want(&[0]));
    let bare = logs(&app, &format!("{year}&per_page=2&page=1"))
        .await
        .assert(200)
        .body;
    assert_eq!(ids_of(&bare), want(&[2, 1]));
    let oldest = logs(&app, &format!("{year}&sort=date%3A1&per_page=2"))
        .await
        .assert(200)
        .body;
    assert_eq!(ids_of(&oldest), want(&[0, 1]));

    // q: type, several types, user, client, dates, combined.
    let q = |q: &str| {
        let enc = url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>();
        let app = &app;
        async move { logs(app, &format!("q={enc}")).await.assert(200).body }
    };
    assert_eq!(ids_of(&q("type:s").await), want(&[3, 0]));
    assert_eq!(ids_of(&q("type:(fp OR fu)").await), want(&[2, 1]));
    assert_eq!(ids_of(&q("user_id:\"usr_a\"").await), want(&[1, 0]));
    assert_eq!(
        ids_of(&q("client_id:other AND type:fapi").await),
        want(&[4])
    );
    assert_eq!(
        ids_of(&q("date:[2025-02-01 TO 2025-04-01]").await),
        want(&[3, 2, 1])
    );
    assert_eq!(
        ids_of(&q("date:2025-03-01 AND client_id:app").await),
        want(&[2])
    );
    assert_eq!(
        ids_of(&q("type:s AND date:[* TO 2025-03-31]").await),
        want(&[0])
    );

    // `search` is `q` under the name Auth0's generated SDKs use.
    let by_search = logs(&app, "search=type%3Afu").await.assert(200).body;
    assert_eq!(ids_of(&by_search), want(&[2]));
    logs(&app, "search=type%3Afu&q=type%3As").await.assert(400);

    // fields, and one entry by id.
    let f = logs(&app, &format!("{year}&fields=log_id,type&per_page=1"))
        .await
        .assert(200)
        .body;
    assert_eq!(f, json!([{"log_id": ids[4], "type": "fapi"}]));
    let one = app.api_get(&format!("/logs/{}", ids[1])).await;
    assert_eq!(one["type"], "fp");
    assert_eq!(one["date"], "2025-02-01T00:00:00.000Z");
    assert_eq!(one["user_id"], "usr_a");
    assert_eq!(one["ip"], "198.51.100.1");
    let missing = app
        .api(Method::GET, "/logs/123", None)
        .await
        .assert(404)
        .body;
    assert_eq!(missing["errorCode"], "inexistent_resource");

    // Refused queries, in Auth0's error shape.
    for bad in [
        "ip:1.2.3.4",
        "type:s OR type:f",
        "type:s*",
        "date:[2025 TO *]",
        "hello world",
    ] {
        let enc = url::form_urlencoded::byte_serialize(bad.as_bytes()).collect::<String>();
        let r = logs(&app, &format!("q={enc}")).await.assert(400).body;
        assert_eq!(r["statusCode"], 400, "{bad}");
        assert_eq!(r["error"], "Bad Request");
        assert_eq!(r["errorCode"], "invalid_query_string");
        assert!(r["message"].as_str().unwrap().contains("invalid q"), "{r}");
    }
    for bad in ["per_page=101", "sort=name%3A1", "from=123&take=10"] {
        logs(&app, bad).await.assert(400);
    }

    // Scope: read:logs is required; a token is required.
    let (m2m, secret) = app.machine(&app.mgmt_audience(), &["read:users"]).await;
    let token = app.mgmt_token(&m2m, &secret).await;
    let r = app.get_as(&token, "/logs").await.assert(403).body;
    assert_eq!(r["errorCode"], "insufficient_scope");
    app.get_as(&token, &format!("/logs/{}", ids[0]))
        .await
        .assert(403);
    app.get("/api/v2/logs").await.assert(401);
    let (reader, reader_secret) = app.machine(&app.mgmt_audience(), &["read:logs"]).await;
    let token = app.mgmt_token(&reader, &reader_secret).await;
    app.get_as(&token, "/logs").await.assert(200);
}

#[tokio::test]
async fn retention_prunes_entries_older_than_the_setting() {
    // Retention off, so that the pruning task started with the server cannot race the test;
    // the test prunes by hand.
    let app = TestApp::spawn_with_vars(&[("WRIT_AUDIT_RETENTION_DAYS", "0")]).await;
    let now = chrono::Utc::now();
    let at = |days: i64| (now - chrono::Duration::days(days)).to_rfc3339();
    let store = &app.state.store;
    let old1 = store
        .append_log(&entry(&at(30), "s", None, None))
        .await
        .unwrap();
    let old2 = store
        .append_log(&entry(&at(8), "fp", None, None))
        .await
        .unwrap();
    let recent = store
        .append_log(&entry(&at(6), "fu", None, None))
        .await
        .unwrap();
    // 0 keeps everything.
    assert_eq!(writ_service::audit::prune(&app.state).await.unwrap(), 0);
    assert_eq!(
        writ_service::audit::prune_older_than(&app.state, 7)
            .await
            .unwrap(),
        2
    );
    for gone in [&old1, &old2] {
        app.api(Method::GET, &format!("/logs/{}", gone.log_id), None)
            .await
            .assert(404);
    }
    app.api(Method::GET, &format!("/logs/{}", recent.log_id), None)
        .await
        .assert(200);
    assert_eq!(
        writ_service::audit::prune_older_than(&app.state, 7)
            .await
            .unwrap(),
        0
    );

    // With a retention set, the server prunes at start (and hourly): an entry older than the
    // retention, written before the server starts, is gone soon after.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/writ.db", dir.path().display());
    let seeded = writ_store::open(&url).await.unwrap();
    let ancient = seeded
        .append_log(&entry("2001-01-01T00:00:00Z", "s", None, None))
        .await
        .unwrap();
    let fresh = seeded
        .append_log(&entry(&at(1), "s", None, None))
        .await
        .unwrap();
    seeded.close().await;
    let app = TestApp::spawn_with(|v| {
        v.retain(|(k, _)| k != "WRIT_DATABASE_URL");
        v.push(("WRIT_DATABASE_URL".into(), url.clone()));
        v.push(("WRIT_AUDIT_RETENTION_DAYS".into(), "7".into()));
    })
    .await;
    let mut pruned = false;
    for _ in 0..200 {
        if app.state.store.get_log(&ancient.log_id).await.is_err() {
            pruned = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(pruned, "the entry from 2001 was not pruned at start");
    app.state.store.get_log(&fresh.log_id).await.unwrap();
}

#[tokio::test]
async fn admin_console_writes_are_recorded_with_the_admin() {
    let app = TestApp::spawn().await;
    let root = app
        .create_admin(
            "console-admins",
            writ_core::MANAGEMENT_SCOPES,
            "root@example.com",
            "root-password-1",
        )
        .await;
    let mut b = Browser::new(&app);
    b.user_agent = Some(UA);
    // Sign in through Writ: the console's redirect, the hosted login, the callback.
    let Page {
        status, body: page, ..
    } = b
        .sign_in("/admin/roles", "root@example.com", "root-password-1")
        .await;
    assert_eq!(status, 200, "{page}");
    let csrf = hidden(&page, "csrf");
    let Page { status, body, .. } = b
        .submit(
            "/admin/roles/new",
            &csrf,
            &[("name", "made-in-the-console")],
        )
        .await;
    assert_eq!(status, 303, "{body}");

    let e = &matching(
        &app,
        &format!("type:sapi AND client_id:{}", writ_core::CONSOLE_CLIENT_ID),
        1,
    )
    .await[0];
    assert_eq!(e["description"], "Create a role");
    assert_eq!(e["user_id"], root);
    assert_eq!(e["user_name"], "root@example.com");
    assert_eq!(e["details"]["request"]["channel"], "console");
    assert_eq!(e["details"]["request"]["path"], "/api/v2/roles");
    assert_eq!(e["ip"], "127.0.0.1");
    assert_eq!(e["user_agent"], UA);
    // The sign-in itself: a login and the console's code exchange.
    let s = &matching(&app, &format!("type:s AND user_id:\"{root}\""), 1).await[0];
    assert_eq!(s["client_id"], writ_core::CONSOLE_CLIENT_ID);
    matching(&app, &format!("type:seacft AND user_id:\"{root}\""), 1).await;

    // The console's audit page: filtered by a range of days, paged, with errors shown.
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let Page {
        status, body: page, ..
    } = b.get(&format!("/admin/logs?from={today}&to={today}")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Create a role"), "{page}");
    let page = b
        .get("/admin/logs?from=2001-01-01&to=2001-01-31")
        .await
        .body;
    assert!(page.contains("No entry matches."), "{page}");
    let Page {
        status, body: page, ..
    } = b.get("/admin/logs?from=31/01/2026").await;
    assert_eq!(status, 200);
    assert!(page.contains("data-testid=\"error-date\""), "{page}");
    let page = b
        .get("/admin/logs?from=2026-02-01&to=2026-01-01")
        .await
        .body;
    assert!(
        page.contains("The from date is after the to date."),
        "{page}"
    );
    let first = b
        .get(&format!("/admin/logs?from={today}&per_page=1"))
        .await
        .body;
    assert_eq!(first.matches("data-testid=\"log-row\"").count(), 1);
    let next = first
        .split("href=\"")
        .filter_map(|r| r.split('"').next())
        .find(|h| h.starts_with("/admin/logs?") && h.contains("page=1"))
        .unwrap_or_else(|| panic!("no next page link in {first}"))
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    assert!(next.contains(&format!("from={today}")), "{next}");
    let second = b.get(&next).await.body;
    assert_eq!(
        second.matches("data-testid=\"log-row\"").count(),
        1,
        "{next}"
    );
    assert!(second.contains("rel=\"prev\""));
    assert_ne!(first, second);

    let session = b.jar.get("writ_admin").cloned().unwrap_or_default();
    assert_no_secrets(&app, &["root-password-1", &session]).await;
}
