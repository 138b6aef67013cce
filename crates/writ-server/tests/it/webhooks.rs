//! Webhook hooks, end to end: a real HTTP server on 127.0.0.1 (axum, in the test) receives the
//! signed event, checks the Standard Webhooks signature with its own HMAC and answers claims
//! (in the access and ID tokens, restricted names dropped), a denial, or a failure (HTTP 500,
//! too slow, not JSON, too large, a redirect) that refuses the token with `server_error` and
//! an audit entry. Also: what the Management API accepts for a webhook action, and that
//! concurrent updates and deploys of one action lose no write.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{KeyInit, Mac};
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const API: &str = "https://webhooks.example/api";
const SIGNING: &str = "whk-signing-secret-0123456789-abcdefghij";
const OTHER: &str = "another-secret-value-never-sent";

/// One request the webhook server received.
#[derive(Debug, Clone)]
struct Seen {
    mode: String,
    body: Value,
    raw: String,
    signature_ok: bool,
}

#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// The test's own check of a Standard Webhooks signature (hmac + sha2, not Writ's code).
fn verify(headers: &HeaderMap, body: &[u8]) -> bool {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let (id, ts, sig) = (
        h("webhook-id"),
        h("webhook-timestamp"),
        h("webhook-signature"),
    );
    if id.is_empty() || ts.parse::<i64>().is_err() {
        return false;
    }
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(SIGNING.as_bytes())
        .expect("any key length");
    mac.update(format!("{id}.{ts}.").as_bytes());
    mac.update(body);
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    sig.split(' ').any(|s| s == format!("v1,{expected}"))
}

async fn answer(
    State(r): State<Receiver>,
    Path(mode): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let signature_ok = verify(&headers, &body);
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    r.seen.lock().unwrap().push(Seen {
        mode: mode.clone(),
        body: parsed.clone(),
        raw: String::from_utf8_lossy(&body).into_owned(),
        signature_ok,
    });
    if !signature_ok {
        return (StatusCode::UNAUTHORIZED, "bad signature").into_response();
    }
    let event = &parsed["event"];
    match mode.as_str() {
        "claims" => axum::Json(json!({
            "access_token": {
                "https://w.example/trigger": parsed["trigger"],
                "https://w.example/email": event["user"]["email"],
                "https://w.example/client": event["client"]["client_id"],
                "permissions": ["everything"],
                "sub": "someone-else",
            },
            "id_token": { "https://w.example/color": "blue" },
        }))
        .into_response(),
        "deny" => {
            axum::Json(json!({"deny": {"reason": "not on Sundays"}, "access_token": {"x": 1}}))
                .into_response()
        }
        "deny-scope" => {
            axum::Json(json!({"deny": {"reason": "not that scope", "code": "invalid_scope"}}))
                .into_response()
        }
        "nothing" => StatusCode::NO_CONTENT.into_response(),
        "fail" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "slow" => {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            axum::Json(json!({})).into_response()
        }
        "text" => (StatusCode::OK, "hello, this is not JSON").into_response(),
        "big" => {
            axum::Json(json!({"access_token": {"https://w.example/pad": "x".repeat(70 * 1024)}}))
                .into_response()
        }
        "redirect" => (
            StatusCode::TEMPORARY_REDIRECT,
            [("location", "/hook/claims")],
        )
            .into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Starts the webhook server; its base URL (`http://127.0.0.1:<port>/hook/`) and what it saw.
async fn receiver() -> (String, Receiver) {
    let r = Receiver::default();
    let app = axum::Router::new()
        .route("/hook/{mode}", axum::routing::post(answer))
        .with_state(r.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("http://127.0.0.1:{port}/hook/"), r)
}

fn secrets() -> Value {
    json!([{"name": "SIGNING_SECRET", "value": SIGNING}, {"name": "OTHER", "value": OTHER}])
}

/// Creates, deploys and binds (alone) a webhook action; its id.
async fn bind_webhook(app: &TestApp, trigger: &str, url: &str) -> String {
    let action = json!({"name": format!("webhook {url}"), "runtime": "webhook", "url": url, "secrets": secrets()});
    app.bind_action(trigger, action).await
}

async fn setup() -> (TestApp, (String, String)) {
    TestApp::with_password_user(API, "dana@example.com", "dana-password-1").await
}

async fn dana(app: &TestApp, client: &(String, String)) -> Resp {
    app.password_token(
        client,
        "dana@example.com",
        "dana-password-1",
        API,
        Some("openid"),
    )
    .await
}

/// The `actions_execution_failed` entries' error texts.
async fn failures(app: &TestApp) -> Vec<String> {
    let logs = app
        .api_get("/logs?q=type:actions_execution_failed&per_page=100")
        .await;
    logs.as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert_eq!(l["type"], "actions_execution_failed", "{l}");
            l["details"]["error"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_webhook_sets_claims_in_both_tokens_and_is_signed() {
    let (app, client) = setup().await;
    let (base, seen) = receiver().await;
    let id = bind_webhook(&app, "post-login", &format!("{base}claims")).await;

    let t = dana(&app, &client).await.assert(200).body;
    let access = jwt_parts(t["access_token"].as_str().unwrap()).1;
    assert_eq!(
        access["https://w.example/trigger"], "post-login",
        "{access}"
    );
    assert_eq!(access["https://w.example/email"], "dana@example.com");
    assert_eq!(access["https://w.example/client"], json!(client.0));
    // Restricted names are ignored.
    assert_ne!(access["permissions"], json!(["everything"]));
    assert_ne!(access["sub"], "someone-else");
    let idt = jwt_parts(t["id_token"].as_str().unwrap()).1;
    assert_eq!(idt["https://w.example/color"], "blue", "{idt}");

    let got = seen.seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let s = &got[0];
    assert_eq!(s.mode, "claims");
    assert!(s.signature_ok);
    assert_eq!(s.body["trigger"], "post-login");
    assert_eq!(s.body["event"]["user"]["email"], "dana@example.com");
    assert_eq!(s.body["event"]["request"]["ip"], "127.0.0.1");
    // The body carries no secret: no `secrets`, no secret value anywhere.
    assert!(s.body["event"].get("secrets").is_none(), "{}", s.raw);
    assert!(
        !s.raw.contains(SIGNING) && !s.raw.contains(OTHER),
        "{}",
        s.raw
    );

    // The action reads back as a webhook, secrets by name only.
    let a = app.api_get(&format!("/actions/actions/{id}")).await;
    assert_eq!(a["runtime"], "webhook");
    assert_eq!(a["url"], format!("{base}claims"));
    assert_eq!(a["deployed_version"]["url"], format!("{base}claims"));
    assert_eq!(a["all_changes_deployed"], true);
    assert_eq!(
        a["secrets"],
        json!([{"name": "OTHER"}, {"name": "SIGNING_SECRET"}])
    );
    assert!(!a.to_string().contains(SIGNING));

    // A new URL runs only once deployed.
    app.api(
        Method::PATCH,
        &format!("/actions/actions/{id}"),
        Some(json!({"url": format!("{base}deny")})),
    )
    .await
    .assert(200);
    let a = app.api_get(&format!("/actions/actions/{id}")).await;
    assert_eq!(a["all_changes_deployed"], false);
    // A test run calls the draft URL (signed, with the event given); the tokens still use the
    // deployed one.
    let run = app
        .api_post(
            &format!("/actions/actions/{id}/test"),
            json!({"payload": {"user": {"email": "t@example.com"}}}),
        )
        .await
        .assert(200)
        .body;
    assert_eq!(run["payload"]["deny"]["reason"], "not on Sundays", "{run}");
    let last = seen.seen.lock().unwrap().last().cloned().unwrap();
    assert!(last.signature_ok && last.mode == "deny");
    assert_eq!(last.body["event"]["user"]["email"], "t@example.com");
    dana(&app, &client).await.assert(200);
    app.api(Method::POST, &format!("/actions/actions/{id}/deploy"), None)
        .await
        .assert(200);
    let r = dana(&app, &client).await;
    assert_eq!(r.body["error"], "access_denied", "{:?}", r.body);
    assert_eq!(r.body["error_description"], "not on Sundays");
    assert!(failures(&app).await.is_empty());
}

#[tokio::test]
async fn a_webhook_at_client_credentials_and_its_denials() {
    let (app, _) = setup().await;
    let (base, seen) = receiver().await;
    let (id, secret) = app.machine(API, &["read:x"]).await;
    bind_webhook(&app, "credentials-exchange", &format!("{base}claims")).await;
    let t = app.cc_token(&id, &secret, API, None).await;
    assert_eq!(jwt_parts(&t).1["https://w.example/client"], json!(id));
    let got = seen.seen.lock().unwrap().clone();
    assert_eq!(got[0].body["trigger"], "credentials-exchange");
    assert_eq!(got[0].body["event"]["resource_server"]["identifier"], API);

    bind_webhook(&app, "credentials-exchange", &format!("{base}deny-scope")).await;
    let r = app.cc_form(&id, &secret, API).await;
    assert_eq!(r.body["error"], "invalid_scope", "{:?}", r.body);
    assert_eq!(r.body["error_description"], "not that scope");

    // A 204 adds nothing and refuses nothing.
    bind_webhook(&app, "credentials-exchange", &format!("{base}nothing")).await;
    let t = app.cc_token(&id, &secret, API, None).await;
    assert!(jwt_parts(&t).1.get("https://w.example/client").is_none());
}

#[tokio::test]
async fn failing_webhooks_refuse_the_token_and_are_audited() {
    let (app, client) = setup().await;
    let (base, _seen) = receiver().await;
    let cases = [
        ("fail", "HTTP 500"),
        ("slow", "did not answer within"),
        ("text", "not JSON"),
        ("big", "larger than"),
        ("redirect", "HTTP 307"),
    ];
    for (mode, _) in cases {
        bind_webhook(&app, "post-login", &format!("{base}{mode}")).await;
        let r = dana(&app, &client).await;
        assert_eq!(r.status, 500, "{mode}: {:?}", r.body);
        assert_eq!(r.body["error"], "server_error", "{mode}");
        // The server keeps serving.
        app.api_get("/actions/actions").await;
    }
    let errors = failures(&app).await;
    assert_eq!(errors.len(), cases.len(), "{errors:?}");
    for (mode, reason) in cases {
        assert!(
            errors.iter().any(|e| e.contains(reason)),
            "{mode}: {reason} in {errors:?}"
        );
    }
    let logs = app
        .api_get("/logs?q=type:actions_execution_failed&per_page=100")
        .await
        .to_string();
    assert!(!logs.contains(SIGNING) && !logs.contains(OTHER));

    // A working webhook afterwards runs as usual.
    bind_webhook(&app, "post-login", &format!("{base}claims")).await;
    let t = dana(&app, &client).await.assert(200).body;
    assert_eq!(
        jwt_parts(t["access_token"].as_str().unwrap()).1["https://w.example/trigger"],
        "post-login"
    );
    assert_eq!(
        jwt_parts(t["id_token"].as_str().unwrap()).1["https://w.example/color"],
        "blue"
    );
}

#[tokio::test]
async fn webhook_actions_are_checked_when_written() {
    let app = TestApp::spawn().await;
    let app = &app;
    let create = |body: Value| async move { app.api_post("/actions/actions", body).await };
    let base = |extra: Value| {
        let mut b = json!({"name": "w", "supported_triggers": [{"id": "post-login"}],
                            "runtime": "webhook", "url": "https://hooks.example/x", "secrets": secrets()});
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    };
    let refused = [
        (json!({"url": "http://hooks.example/x"}), "https"),
        (json!({"url": "ftp://hooks.example/x"}), "https"),
        (json!({"url": "not a url"}), "not a URL"),
        (json!({"url": "https://u:p@hooks.example/x"}), "password"),
        (json!({"url": null}), "needs a url"),
        (json!({"secrets": []}), "SIGNING_SECRET"),
        (
            json!({"secrets": [{"name": "SIGNING_SECRET", "value": "short"}]}),
            "at least 32",
        ),
        (
            json!({"runtime": "node18"}),
            "only for actions with runtime webhook",
        ),
    ];
    for (extra, message) in refused {
        let r = create(base(extra.clone()))
            .await
            .assert_message(400, message);
        assert_eq!(r.body["statusCode"], 400, "{extra}");
        assert_eq!(r.body["errorCode"], "invalid_body", "{extra}: {:?}", r.body);
    }
    // Plain http to this machine is allowed.
    for url in [
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://[::1]/x",
    ] {
        create(base(json!({"url": url}))).await.assert(201);
    }
    let id = create(base(json!({}))).await.assert(201).field("id");
    // An update keeps the rules: the secret cannot be shortened or dropped.
    app.api(
        Method::PATCH,
        &format!("/actions/actions/{id}"),
        Some(json!({"secrets": [{"name": "SIGNING_SECRET", "value": "short"}]})),
    )
    .await
    .assert_message(400, "at least 32");
    app.api(
        Method::PATCH,
        &format!("/actions/actions/{id}"),
        Some(json!({"secrets": [{"name": "OTHER", "value": "x"}]})),
    )
    .await
    .assert_message(400, "SIGNING_SECRET");
    // A secret sent without a value keeps its value.
    app.api(
        Method::PATCH,
        &format!("/actions/actions/{id}"),
        Some(json!({"secrets": [{"name": "SIGNING_SECRET"}]})),
    )
    .await
    .assert(200);
    // Back to code: the URL goes.
    let a = app
        .api(
            Method::PATCH,
            &format!("/actions/actions/{id}"),
            Some(json!({"runtime": "node18", "code": "exports.onExecutePostLogin = async () => {};"})),
        )
        .await
        .assert(200)
        .body;
    assert_eq!(a["runtime"], "quickjs");
    assert!(a.get("url").is_none(), "{a}");

    // With WRIT_HOOK_ALLOW_HTTP=true, plain http to any host is allowed.
    let open = TestApp::spawn_with_vars(&[("WRIT_HOOK_ALLOW_HTTP", "true")]).await;
    open.api_post(
        "/actions/actions",
        base(json!({"url": "http://hooks.example/x"})),
    )
    .await
    .assert(201);
}

#[tokio::test]
async fn concurrent_updates_and_deploys_lose_no_write() {
    let app = TestApp::spawn().await;
    let id = app
        .api_post(
            "/actions/actions",
            json!({"name": "racy", "supported_triggers": [{"id": "post-login"}],
                        "code": "exports.onExecutePostLogin = async () => {};"}),
        )
        .await
        .assert(201)
        .field("id");
    let path = format!("/actions/actions/{id}");
    let deploy = format!("/actions/actions/{id}/deploy");
    // 10 PATCHes (a new name and secrets: each raises the version) and 10 deploys (each raises
    // it too), all at once.
    let mut writes = Vec::new();
    for i in 0..10 {
        let body = json!({"name": format!("racy-{i}"), "secrets": [{"name": format!("S{i}"), "value": "v"}]});
        writes.push(app.api(Method::PATCH, &path, Some(body)));
        writes.push(app.api(Method::POST, &deploy, None));
    }
    for r in futures_util::future::join_all(writes).await {
        r.assert(200);
    }
    let a = app.api_get(&path).await;
    assert_eq!(a["deployed_version"]["number"], 20, "{a}");
    let name = a["name"].as_str().unwrap();
    assert!(name.starts_with("racy-"), "{name}");
    // The secrets are those of the PATCH whose name stands (written together).
    assert_eq!(
        a["secrets"],
        json!([{"name": format!("S{}", &name["racy-".len()..])}])
    );
    let logs = app.api_get("/logs?q=type:sapi&per_page=100").await;
    let writes = logs
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| {
            matches!(
                l["description"].as_str(),
                Some("Update an action" | "Deploy an action")
            )
        })
        .count();
    assert_eq!(writes, 20);
}
