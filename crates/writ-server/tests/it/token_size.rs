//! Access tokens over `WRIT_MAX_ACCESS_TOKEN_BYTES` are refused with `invalid_request` naming
//! the claim that grew, and recorded in the audit log, instead of being issued to fail later
//! at a proxy's header limit.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

const API: &str = "https://big.example/api";

#[tokio::test]
async fn an_access_token_over_the_limit_is_refused_naming_the_claim() {
    let app = TestApp::spawn_with_vars(&[("WRIT_MAX_ACCESS_TOKEN_BYTES", "3000")]).await;
    let perms: Vec<String> = (0..150)
        .map(|i| format!("read:resource-number-{i:03}"))
        .collect();
    let perms: Vec<&str> = perms.iter().map(String::as_str).collect();
    app.create_api(API, "RS256", &perms, true).await;
    let few = app.create_role("few", API, &perms[..3]).await;
    let many = app.create_role("many", API, &perms).await;
    let bob = app.create_user("bob@example.com", "bob-password-1").await;
    app.assign_roles(&bob, &[&few]).await;
    let cli = app.password_client().await;
    let token = || app.password_token(&cli, "bob@example.com", "bob-password-1", API, None);

    // Under the limit: issued.
    token().await.assert(200);
    // 150 permissions: refused, the description naming the claim.
    app.assign_roles(&bob, &[&many]).await;
    let r = token().await.assert_error(400, "invalid_request");
    let said = r.body["error_description"].as_str().unwrap().to_owned();
    assert!(
        said.contains("permissions claim") && said.contains("limit of 3000"),
        "{said}"
    );

    // The refusal is in the audit log (recorded in the background: wait for it).
    let mut entry = Value::Null;
    for _ in 0..100 {
        let got = app
            .api(Method::GET, "/logs?q=type:w", None)
            .await
            .assert(200)
            .body;
        if let Some(e) = got.as_array().and_then(|a| a.first()) {
            entry = e.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(entry["type"], "w", "no audit entry");
    assert_eq!(entry["user_id"], bob.as_str());
    assert_eq!(entry["details"]["claim"], "permissions");
    assert_eq!(entry["details"]["limit"], 3000);
    assert!(entry["details"]["token_bytes"].as_u64().unwrap() > 3000);

    // Machine tokens too: a client granted every scope.
    let m = app.machine(API, &perms).await;
    let r = app
        .cc_form(&m.0, &m.1, API)
        .await
        .assert_error(400, "invalid_request");
    let said = r.body["error_description"].as_str().unwrap().to_owned();
    assert!(said.contains("claim"), "{said}");
}
