//! Management API scopes, operation by operation from the served OpenAPI document: a token
//! lacking an operation's scope is refused with 403 `insufficient_scope` naming the first scope
//! it lacks, on reads and writes alike, and every refused write is in the audit log.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

/// A Management API token carrying only `scopes`, and its client's id.
async fn token_with(app: &TestApp, scopes: &[&str]) -> (String, String) {
    let (id, secret) = app.machine(&app.mgmt_audience(), scopes).await;
    let token = app.cc_token(&id, &secret, &app.mgmt_audience(), None).await;
    (token, id)
}

/// `method path` as `token` is refused: 403 `insufficient_scope` naming `scope`, the first
/// scope it lacks, in the body and in `WWW-Authenticate`.
async fn assert_refused(app: &TestApp, token: &str, method: &Method, path: &str, scope: &str) {
    let r = app
        .api_as(token, method.clone(), path, None)
        .await
        .assert(403);
    let at = format!("{method} {path}");
    assert_eq!(r.body["errorCode"], "insufficient_scope", "{at}");
    let expected = format!("Insufficient scope, expected any of: {scope}");
    assert_eq!(r.body["message"], expected, "{at}");
    let challenge = r.header("www-authenticate").unwrap();
    assert!(challenge.contains(&format!("scope=\"{scope}\"")), "{at}");
}

/// `(method, path under /api/v2 with its parameters filled in, first required scope)` of every
/// operation that requires one.
fn operations(doc: &Value) -> Vec<(Method, String, String)> {
    let mut out = vec![];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let Some(security) = op["security"].as_array() else {
                continue;
            };
            let first = security[0]["bearer"][0].as_str().unwrap().to_owned();
            let path = path
                .strip_prefix("/api/v2")
                .unwrap()
                .replace("{id}", "x")
                .replace("{kid}", "x")
                .replace("{triggerId}", "x")
                .replace("{authentication_method_id}", "x");
            let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            out.push((method, path, first));
        }
    }
    out
}

#[tokio::test]
async fn every_operation_refuses_a_token_without_its_scope_and_records_refused_writes() {
    let app = TestApp::spawn().await;
    let doc = app.get("/api/v2/openapi.json").await.assert(200).body;
    // `read:client_keys` is a Management API scope no operation requires.
    let (token, client) = token_with(&app, &["read:client_keys"]).await;
    let ops = operations(&doc);
    assert!(ops.len() > 40, "{} operations", ops.len());
    let mut writes = vec![];
    for (method, path, scope) in &ops {
        assert_refused(&app, &token, method, path, scope).await;
        if *method != Method::GET {
            writes.push(format!("{method} /api/v2{path}"));
        }
    }
    assert!(writes.len() > 20, "{writes:?}");

    // Each refused write, and nothing else, is recorded with the caller and the refusal.
    let q: String = url::form_urlencoded::byte_serialize(
        format!("type:fapi AND client_id:\"{client}\"").as_bytes(),
    )
    .collect();
    let logs = app
        .api_get(&format!("/logs?q={q}&per_page=100&include_totals=true"))
        .await;
    let mut recorded: Vec<String> = logs["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            assert_eq!(
                e["details"]["response"],
                serde_json::json!({"statusCode": 403, "errorCode": "insufficient_scope"}),
                "{e}"
            );
            format!(
                "{} {}",
                e["details"]["request"]["method"].as_str().unwrap(),
                e["details"]["request"]["path"].as_str().unwrap()
            )
        })
        .collect();
    recorded.sort();
    writes.sort();
    assert_eq!(recorded, writes);
}

#[tokio::test]
async fn an_operation_needing_two_scopes_names_the_one_missing() {
    let app = TestApp::spawn().await;
    let (token, _) = token_with(&app, &["read:users", "update:signing_keys"]).await;
    assert_refused(&app, &token, &Method::GET, "/users/x/roles", "read:roles").await;
    let rotate = "/keys/signing/rotate";
    assert_refused(&app, &token, &Method::POST, rotate, "create:signing_keys").await;
    // With the scope, the read goes on to the resource.
    app.api_as(&token, Method::GET, "/users/x", None)
        .await
        .assert(404);
    // HEAD needs what GET needs.
    let (weak, _) = token_with(&app, &["read:client_keys"]).await;
    let r = app.api_as(&weak, Method::HEAD, "/roles", None).await;
    assert_eq!(r.status.as_u16(), 403);
    let r = app.api_as(&token, Method::HEAD, "/users", None).await;
    assert_eq!(r.status.as_u16(), 200);
}
