//! Auth0 Authorization Extension compatibility (`WRIT_AUTHORIZATION_EXTENSION=true`): users read
//! through the Management API carry `app_metadata.authorization = {groups, roles, permissions}`
//! computed live from Writ's RBAC — what djangorestframework-auth0 reads — and it cannot be
//! written.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const API: &str = "https://ext.example/api";

#[tokio::test]
async fn users_carry_the_extensions_authorization_computed_live() {
    let app = TestApp::spawn_with_vars(&[("WRIT_AUTHORIZATION_EXTENSION", "true")]).await;
    app.create_api(API, "RS256", &["read:x", "write:x"], true)
        .await;
    let reader = app.create_role("reader", API, &["read:x"]).await;
    let writer = app.create_role("writer", API, &["write:x"]).await;
    let bob = app.create_user("bob@example.com", "bob-password-1").await;
    let post = |path: String, body: serde_json::Value| {
        let app = &app;
        async move { app.api_post(&path, body).await.assert(201).body }
    };
    let eng = post("/groups".into(), json!({"name": "eng"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let backend = post(
        "/groups".into(),
        json!({"name": "backend", "parent_id": eng}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    post(format!("/groups/{eng}/roles"), json!({"roles": [reader]})).await;
    post(
        format!("/groups/{backend}/members"),
        json!({"members": [bob]}),
    )
    .await;
    app.assign_roles(&bob, &[&writer]).await;

    let expected = json!({"groups": ["backend", "eng"], "roles": ["reader", "writer"], "permissions": ["read:x", "write:x"]});
    let user = app.api_get(&format!("/users/{bob}")).await;
    assert_eq!(user["app_metadata"]["authorization"], expected, "{user}");
    let by_email = app.api_get("/users-by-email?email=bob@example.com").await;
    assert_eq!(by_email[0]["app_metadata"]["authorization"], expected);
    let list = app.api_get("/users?q=bob").await;
    assert_eq!(list[0]["app_metadata"]["authorization"], expected);

    // Live: a role taken from the group is gone at the next read.
    app.group_relation(Method::DELETE, &eng, "roles", &[&reader])
        .await
        .assert(204);
    let user = app.api_get(&format!("/users/{bob}")).await;
    assert_eq!(
        user["app_metadata"]["authorization"],
        json!({"groups": ["backend", "eng"], "roles": ["writer"], "permissions": ["write:x"]})
    );

    // Read-only: setting it is refused with a clear message; other keys are the user's.
    let path = format!("/users/{bob}");
    let r = app
        .api(
            Method::PATCH,
            &path,
            Some(json!({"app_metadata": {"authorization": {"roles": ["admin"]}}})),
        )
        .await
        .assert_message(400, "computed by Writ");
    assert_eq!(r.body["errorCode"], "invalid_body");
    let u = app
        .api(
            Method::PATCH,
            &path,
            Some(json!({"app_metadata": {"plan": "pro"}})),
        )
        .await
        .assert(200)
        .body;
    assert_eq!(u["app_metadata"]["plan"], "pro");
    assert_eq!(
        u["app_metadata"]["authorization"]["roles"],
        json!(["writer"])
    );
}

#[tokio::test]
async fn without_the_setting_app_metadata_is_only_the_users() {
    let app = TestApp::spawn().await;
    let bob = app.create_user("bob@example.com", "bob-password-1").await;
    let path = format!("/users/{bob}");
    let set = json!({"app_metadata": {"authorization": {"roles": ["x"]}}});
    app.api(Method::PATCH, &path, Some(set)).await.assert(200);
    let user = app.api_get(&path).await;
    assert_eq!(
        user["app_metadata"],
        json!({"authorization": {"roles": ["x"]}})
    );
}
