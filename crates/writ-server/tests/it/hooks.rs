//! Hooks in Auth0 Actions' shape: created, deployed and bound through the Management API, run
//! at the password, refresh and client-credentials grants; their claims (restricted names
//! dropped), denials, secrets, and failures (time and memory limits, missing APIs) that fail
//! the request cleanly while the server keeps serving.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const API: &str = "https://hooks.example/api";

/// Creates, deploys and binds an action; its id.
async fn bind(app: &TestApp, trigger: &str, code: &str, secrets: Value) -> String {
    let action = json!({"name": format!("hook-{}", code.len()), "code": code, "runtime": "node18", "secrets": secrets});
    app.bind_action(trigger, action).await
}

async fn setup() -> (TestApp, (String, String)) {
    TestApp::with_password_user(API, "bob@example.com", "bob-password-1").await
}

async fn bob(app: &TestApp, client: &(String, String), scope: Option<&str>) -> Resp {
    app.password_token(client, "bob@example.com", "bob-password-1", API, scope)
        .await
}

async fn log_types(app: &TestApp) -> Vec<Value> {
    let logs = app.api_get("/logs?per_page=100").await;
    let list = logs
        .as_array()
        .cloned()
        .or_else(|| logs["logs"].as_array().cloned())
        .unwrap_or_default();
    list.into_iter().map(|l| l["type"].clone()).collect()
}

#[tokio::test]
async fn post_login_claims_secrets_and_id_token() {
    let (app, client) = setup().await;
    // bob holds `reader` through a group: the hook sees it in event.authorization.roles.
    let reader = app.create_role("reader", API, &["read:x"]).await;
    let bob_id = app.stored_users("bob@example.com").await[0].user_id.clone();
    let g = app
        .api_post("/groups", json!({"name": "staff"}))
        .await
        .assert(201)
        .field("id");
    app.group_relation(Method::POST, &g, "roles", &[&reader])
        .await
        .assert(201);
    app.group_relation(Method::POST, &g, "members", &[&bob_id])
        .await
        .assert(201);
    let id = bind(
        &app,
        "post-login",
        r#"exports.onExecutePostLogin = async (event, api) => {
            api.accessToken.setCustomClaim("https://h.example/email", event.user.email);
            api.accessToken.setCustomClaim("https://h.example/secret", event.secrets.TOKEN);
            api.accessToken.setCustomClaim("https://h.example/ip", event.request.ip);
            api.accessToken.setCustomClaim("https://h.example/roles", event.authorization.roles);
            api.accessToken.setCustomClaim("permissions", ["everything"]);
            api.accessToken.setCustomClaim("sub", "someone-else");
            api.idToken.setCustomClaim("https://h.example/color", event.user.app_metadata.color || "none");
        };"#,
        json!([{"name": "TOKEN", "value": "s3cret"}]),
    )
    .await;
    let t = bob(&app, &client, Some("openid")).await.assert(200).body;
    let c = jwt_parts(t["access_token"].as_str().unwrap()).1;
    assert_eq!(c["https://h.example/email"], "bob@example.com", "{c}");
    assert_eq!(c["https://h.example/secret"], "s3cret");
    assert_eq!(c["https://h.example/ip"], "127.0.0.1");
    assert_eq!(c["https://h.example/roles"], json!(["reader"]));
    // Restricted names are ignored.
    assert_ne!(c["permissions"], json!(["everything"]));
    assert_ne!(c["sub"], "someone-else");
    let idt = jwt_parts(t["id_token"].as_str().unwrap()).1;
    assert_eq!(idt["https://h.example/color"], "none", "{idt}");
    // Secrets are answered by name only.
    let a = app.api_get(&format!("/actions/actions/{id}")).await;
    assert_eq!(a["secrets"], json!([{"name": "TOKEN"}]));
    assert!(!a.to_string().contains("s3cret"));
    let list = app.api_get("/actions/actions").await;
    assert!(!list.to_string().contains("s3cret"));
    assert_eq!(
        app.api_get("/actions/triggers/post-login/bindings").await["bindings"][0]["action"]["id"],
        json!(id)
    );

    // Deleted: the next token carries none of its claims at once; every write is audited.
    app.api_delete(&format!("/actions/actions/{id}"))
        .await
        .assert(204);
    let t = bob(&app, &client, None).await.assert(200).body;
    let c = jwt_parts(t["access_token"].as_str().unwrap()).1;
    assert!(c.get("https://h.example/email").is_none(), "{c}");
    let logs = app.api_get("/logs?q=type:sapi&per_page=100").await;
    let said: Vec<&str> = logs
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["description"].as_str().unwrap_or_default())
        .collect();
    for d in [
        "Create an action",
        "Deploy an action",
        "Update a trigger's bindings",
        "Delete an action",
    ] {
        assert!(said.contains(&d), "{d}: {said:?}");
    }
}

#[tokio::test]
async fn a_refresh_runs_the_hook_again() {
    use crate::login::{VERIFIER, exchange, login_alice, query_param, refresh, setup};
    // alice signs in through the SPA (code flow, a refresh token).
    let s = setup().await;
    let app = &s.app;
    bind(
        app,
        "post-login",
        r#"exports.onExecutePostLogin = async (event, api) => {
            api.accessToken.setCustomClaim("https://h.example/plan", event.user.app_metadata.plan || "free");
        };"#,
        json!([]),
    )
    .await;
    let (loc, _) = login_alice(&s).await;
    let t = exchange(&s, &query_param(&loc, "code").unwrap(), VERIFIER)
        .await
        .assert(200)
        .body;
    assert_eq!(
        jwt_parts(t["access_token"].as_str().unwrap()).1["https://h.example/plan"],
        "free"
    );
    app.api(
        Method::PATCH,
        &format!("/users/{}", s.alice),
        Some(json!({"app_metadata": {"plan": "pro"}})),
    )
    .await
    .assert(200);
    let r = refresh(&s, t["refresh_token"].as_str().unwrap())
        .await
        .assert(200)
        .body;
    assert_eq!(
        jwt_parts(r["access_token"].as_str().unwrap()).1["https://h.example/plan"],
        "pro"
    );
}

#[tokio::test]
async fn deny_refuses_the_token() {
    let (app, client) = setup().await;
    bind(
        &app,
        "post-login",
        r#"exports.onExecutePostLogin = async (event, api) => { api.access.deny("no"); };"#,
        json!([]),
    )
    .await;
    let r = bob(&app, &client, None).await;
    assert!(r.status == 403 || r.status == 400, "{}", r.status);
    assert_eq!(r.body["error"], "access_denied");
    assert_eq!(r.body["error_description"], "no");
}

#[tokio::test]
async fn runaway_and_sandboxed_hooks_fail_cleanly() {
    let (app, client) = setup().await;
    for code in [
        "exports.onExecutePostLogin = async () => { for (;;) {} };",
        "exports.onExecutePostLogin = async () => { const a = []; for (;;) a.push('x'.repeat(1 << 20) + a.length); };",
        "exports.onExecutePostLogin = async () => { require('fs').readFileSync('/etc/passwd'); };",
        "exports.onExecutePostLogin = async () => { await fetch('http://127.0.0.1/'); };",
    ] {
        bind(&app, "post-login", code, json!([])).await;
        let r = bob(&app, &client, None).await;
        assert_eq!(r.status, 500, "{code}: {:?}", r.body);
        assert_eq!(r.body["error"], "server_error");
        // The server keeps serving.
        app.api_get("/actions/actions").await;
    }
    assert!(
        log_types(&app)
            .await
            .iter()
            .filter(|t| *t == "actions_execution_failed")
            .count()
            >= 4
    );
    // A working hook afterwards runs as usual.
    bind(
        &app,
        "post-login",
        r#"exports.onExecutePostLogin = async (e, api) => { api.accessToken.setCustomClaim("https://h.example/ok", true); };"#,
        json!([]),
    )
    .await;
    let t = bob(&app, &client, None).await.assert(200).body;
    assert_eq!(
        jwt_parts(t["access_token"].as_str().unwrap()).1["https://h.example/ok"],
        true
    );
}

/// The JavaScript runs in worker processes, not in the server: with OS limits and an empty
/// environment (no database URL or key-encryption key to read), and a worker that dies (as the
/// kernel's OOM killer or a crash would end it) costs at most the one request that met it.
#[tokio::test]
async fn hooks_run_in_locked_down_worker_processes() {
    let (app, client) = setup().await;
    bind(
        &app,
        "post-login",
        r#"exports.onExecutePostLogin = async (e, api) => { api.accessToken.setCustomClaim("https://h.example/pid", 1); };"#,
        json!([]),
    )
    .await;
    bob(&app, &client, None).await.assert(200);
    let pids = app.state.hooks.worker_pids();
    assert!(!pids.is_empty());
    for pid in &pids {
        assert_ne!(*pid, std::process::id());
        // A worker locks itself down before it reads its first job; one started a moment ago
        // may still be doing so (the seccomp filter comes last).
        let status = format!("/proc/{pid}/status");
        for _ in 0..500 {
            if std::fs::read_to_string(&status).is_ok_and(|s| s.contains("Seccomp:\t2")) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
        let core = limits
            .lines()
            .find(|l| l.starts_with("Max core file size"))
            .unwrap();
        assert!(core.split_whitespace().any(|w| w == "0"), "{limits}");
        assert!(
            limits.contains("536870912"),
            "address space capped: {limits}"
        );
        // Nothing of the server's environment: only the allocator's setting the pool gives.
        assert_eq!(
            std::fs::read(format!("/proc/{pid}/environ")).unwrap(),
            b"MIMALLOC_ARENA_RESERVE=8MiB\0"
        );
        let cmdline = std::fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(cmdline.ends_with("hook-worker\0"), "{cmdline:?}");
    }
    for pid in &pids {
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
    }
    // Each request either meets a dead worker (a clean server_error) or a fresh one.
    let mut failed = 0;
    for _ in 0..pids.len() + 2 {
        let r = bob(&app, &client, None).await;
        match r.status.as_u16() {
            200 => {}
            500 => {
                assert_eq!(r.body["error"], "server_error");
                failed += 1;
            }
            s => panic!("unexpected {s}: {:?}", r.body),
        }
    }
    assert!(failed <= pids.len());
    let t = bob(&app, &client, None).await.assert(200).body;
    assert_eq!(
        jwt_parts(t["access_token"].as_str().unwrap()).1["https://h.example/pid"],
        1
    );
}

#[tokio::test]
async fn credentials_exchange_hooks() {
    let (app, _) = setup().await;
    let (id, secret) = app.machine(API, &["read:x"]).await;
    bind(
        &app,
        "credentials-exchange",
        r#"exports.onExecuteCredentialsExchange = async (event, api) => {
            api.accessToken.setCustomClaim("https://h.example/client", event.client.client_id);
        };"#,
        json!([]),
    )
    .await;
    let t = app.cc_token(&id, &secret, API, None).await;
    assert_eq!(jwt_parts(&t).1["https://h.example/client"], json!(id));
    bind(
        &app,
        "credentials-exchange",
        r#"exports.onExecuteCredentialsExchange = async (event, api) => { api.access.deny("invalid_scope", "not today"); };"#,
        json!([]),
    )
    .await;
    let r = app
        .token_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("audience", API),
        ])
        .await;
    assert_eq!(r.body["error"], "invalid_scope", "{:?}", r.body);
    assert_eq!(r.body["error_description"], "not today");
}

/// `POST /actions/actions/{id}/test` runs the draft (not yet deployed) against an event, with
/// the action's secrets, and answers the claims, a refusal or the failure; nothing is minted.
#[tokio::test]
async fn test_runs_the_draft_against_an_event() {
    let app = TestApp::spawn().await;
    let id = app
        .api_post("/actions/actions", json!({"name": "t", "supported_triggers": [{"id": "post-login", "version": "v3"}],
                        "code": "exports.onExecutePostLogin = async (e, api) => { if (e.user.email === 'no@x.y') api.access.deny('nope'); api.accessToken.setCustomClaim('https://t.example/plan', e.user.app_metadata.plan); api.accessToken.setCustomClaim('sub', 'evil'); api.idToken.setCustomClaim('https://t.example/k', e.secrets.K.length); };",
                        "secrets": [{"name": "K", "value": "abcd"}]}))
        .await
        .assert(201)
        .field("id");
    let path = format!("/actions/actions/{id}/test");
    // No payload: the trigger's sample event.
    let r = app.api(Method::POST, &path, None).await.assert(200).body;
    assert_eq!(
        r["payload"]["access_token_claims"],
        json!({"https://t.example/plan": "pro"})
    );
    assert_eq!(
        r["payload"]["id_token_claims"],
        json!({"https://t.example/k": 4})
    );
    assert!(r["payload"]["error"].is_null());
    assert!(!r.to_string().contains("abcd"), "no secret in the answer");
    let r = app
        .api_post(
            &path,
            json!({"payload": {"user": {"email": "no@x.y", "app_metadata": {}}}}),
        )
        .await
        .assert(200)
        .body;
    assert_eq!(r["payload"]["deny"]["reason"], "nope");
    // A draft that loops fails its run only.
    app.api(
        Method::PATCH,
        &format!("/actions/actions/{id}"),
        Some(json!({"code": "exports.onExecutePostLogin = async () => { for (;;) {} };"})),
    )
    .await
    .assert(200);
    let r = app.api(Method::POST, &path, None).await.assert(200).body;
    assert!(r["payload"]["error"].is_string(), "{r}");
    assert!(
        r["payload"]["access_token_claims"]
            .as_object()
            .unwrap()
            .is_empty()
    );
    app.api_post(&path, json!({"payload": [1]}))
        .await
        .assert(400);
    app.api(Method::POST, "/actions/actions/act_missing/test", None)
        .await
        .assert(404);
    // The run is audited; no token was minted by it.
    assert!(log_types(&app).await.iter().any(|t| *t == "sapi"));
}

/// The actions list as Auth0 answers it: `{actions, total, page, per_page}`, sorted by name,
/// filtered by `triggerId`, `actionName`, `deployed` and `installed`, paged.
#[tokio::test]
async fn the_actions_list_filters_and_pages_as_auth0() {
    let (app, _) = setup().await;
    let create = |name: &'static str, trigger: &'static str| {
        let app = &app;
        async move {
            app.api_post(
                "/actions/actions",
                json!({"name": name, "supported_triggers": [{"id": trigger, "version": "v3"}],
                            "code": "exports.onExecutePostLogin = async () => {};"}),
            )
            .await
            .assert(201)
            .field("id")
        }
    };
    let b = create("b-login", "post-login").await;
    create("a-login", "post-login").await;
    create("c-machine", "credentials-exchange").await;
    app.api(Method::POST, &format!("/actions/actions/{b}/deploy"), None)
        .await
        .assert(200);
    let names = |v: &Value| -> Vec<String> {
        v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let all = app.api_get("/actions/actions").await;
    assert_eq!(names(&all), ["a-login", "b-login", "c-machine"]);
    assert_eq!(
        (&all["total"], &all["page"], &all["per_page"]),
        (&json!(3), &json!(0), &json!(50))
    );
    let q = |query: &'static str| {
        let app = &app;
        async move { app.api_get(&format!("/actions/actions?{query}")).await }
    };
    assert_eq!(
        names(&q("triggerId=post-login").await),
        ["a-login", "b-login"]
    );
    assert_eq!(names(&q("actionName=c-machine").await), ["c-machine"]);
    assert_eq!(names(&q("deployed=true").await), ["b-login"]);
    assert_eq!(names(&q("deployed=false").await), ["a-login", "c-machine"]);
    assert_eq!(names(&q("installed=true").await), Vec::<String>::new());
    let second = q("per_page=1&page=1").await;
    assert_eq!(names(&second), ["b-login"]);
    assert_eq!(
        (&second["total"], &second["page"], &second["per_page"]),
        (&json!(3), &json!(1), &json!(1))
    );
    assert_eq!(second["actions"][0]["deployed_version"]["deployed"], true);
    app.get_as(&app.admin_token().await, "/actions/actions?per_page=101")
        .await
        .assert(400);
}
