//! `POST /oauth/token`: client authentication, grants, RBAC semantics, token shape.

use base64::Engine;
use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const TODOS: &str = "https://todos.example/api";

#[tokio::test]
async fn client_credentials_token_has_rfc9068_shape() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "ES256", &["read:todos", "write:todos"], true)
        .await;
    let (id, secret) = app.machine(TODOS, &["read:todos"]).await;
    let r = app.cc_form(&id, &secret, TODOS).await.assert(200);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.body["token_type"], "Bearer");
    assert_eq!(r.body["scope"], "read:todos");
    assert!(r.body["expires_in"].as_i64().unwrap() > 0);
    let (h, p) = jwt_parts(r.body["access_token"].as_str().unwrap());
    assert_eq!(h["typ"], "at+jwt");
    assert_eq!(h["alg"], "ES256");
    assert!(h["kid"].is_string());
    assert_eq!(p["iss"], app.issuer);
    assert!(p["iss"].as_str().unwrap().ends_with('/'));
    assert_eq!(p["sub"], format!("{id}@clients"));
    assert_eq!(p["aud"], TODOS);
    assert_eq!(p["client_id"], id);
    assert_eq!(p["azp"], id);
    assert_eq!(p["permissions"], json!(["read:todos"]));
    assert!(p["jti"].is_string() && p["iat"].is_i64() && p["exp"].is_i64());
    // The JWKS now publishes the ES256 key that signed it.
    let jwks = app.get("/.well-known/jwks.json").await.assert(200).body;
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == h["kid"] && k["alg"] == "ES256" && k["use"] == "sig")
    );
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k.get("d").is_none()),
        "no private parts in the JWKS"
    );
}

#[tokio::test]
async fn json_body_basic_auth_and_resource_parameter() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "EdDSA", &["read:todos", "write:todos"], false)
        .await;
    let (id, secret) = app.machine(TODOS, &["read:todos", "write:todos"]).await;
    // auth0-python's body: JSON with organization: null.
    let r = app
        .token_json(json!({"grant_type": "client_credentials", "client_id": id, "client_secret": secret, "audience": TODOS, "organization": null}))
        .await
        .assert(200);
    assert_eq!(r.body["scope"], "read:todos write:todos");
    let (_, p) = jwt_parts(r.body["access_token"].as_str().unwrap());
    assert!(
        p.get("permissions").is_none(),
        "plain access_token dialect has no permissions claim"
    );
    // client_secret_basic + RFC 8707 resource + narrowing scope.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    let r = app
        .http
        .post(format!("{}/oauth/token", app.base))
        .header("authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", TODOS),
            ("scope", "write:todos delete:todos"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["scope"], "write:todos");
}

#[tokio::test]
async fn client_authentication_errors() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    let (id, secret) = app.machine(TODOS, &["read:todos"]).await;
    app.cc_form(&id, "wrong", TODOS)
        .await
        .assert_error(401, "invalid_client");
    app.cc_form("nope", &secret, TODOS)
        .await
        .assert_error(401, "invalid_client");
    // Failed Basic authentication → 401 with a Basic challenge.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:bad"));
    let r = app
        .http
        .post(format!("{}/oauth/token", app.base))
        .header("authorization", format!("Basic {basic}"))
        .form(&[("grant_type", "client_credentials"), ("audience", TODOS)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    // Missing parameters and bad grants.
    assert_eq!(
        app.token_form(&[("client_id", &id)]).await.assert(400).body["error"],
        "invalid_request"
    );
    // (client_credentials without an audience: none of its grants applies)
    for (grant, status, error) in [
        ("implicit", 400, "unsupported_grant_type"),
        ("client_credentials", 403, "access_denied"),
    ] {
        app.token_form(&[
            ("grant_type", grant),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .await
        .assert_error(status, error);
    }
    app.cc_form(&id, &secret, "https://other/")
        .await
        .assert_error(403, "access_denied");
    // A client without a grant for the API.
    let (other, other_secret) = app
        .create_client(json!({"name": "no grant", "app_type": "non_interactive"}))
        .await;
    let r = app.cc_form(&other, &other_secret, TODOS).await.assert(403);
    assert!(
        r.body["error_description"]
            .as_str()
            .unwrap()
            .contains("client-grant")
    );
    // Garbage bodies are 400, never 500.
    for (content_type, body) in [("application/json", "{nope"), ("text/plain", "x")] {
        let r = app
            .http
            .post(format!("{}/oauth/token", app.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{content_type}");
    }
}

#[tokio::test]
async fn repeated_client_auth_failures_are_throttled() {
    let app = TestApp::spawn().await;
    let mut last = 0;
    for _ in 0..31 {
        last = app
            .cc_form(ADMIN_ID, "wrong-secret", TODOS)
            .await
            .status
            .as_u16();
    }
    assert_eq!(last, 429);
}

#[tokio::test]
async fn password_grant_carries_effective_permissions() {
    let app = TestApp::spawn().await;
    app.create_api(
        TODOS,
        "RS256",
        &["read:todos", "write:todos", "delete:todos"],
        true,
    )
    .await;
    let viewer = app.create_role("viewer", TODOS, &["read:todos"]).await;
    let editor = app
        .create_role("editor", TODOS, &["read:todos", "write:todos"])
        .await;
    let alice = app.create_user("alice@example.com", "alice-password").await;
    app.assign_roles(&alice, &[&viewer, &editor]).await;
    // A direct grant adds to the roles' permissions.
    app.permissions(
        Method::POST,
        &format!("/users/{alice}"),
        TODOS,
        &["delete:todos"],
    )
    .await
    .assert(201);
    let client = app.password_client().await;
    let r = app
        .password_token(
            &client,
            "Alice@Example.com",
            "alice-password",
            TODOS,
            Some("openid email read:todos write:todos bogus"),
        )
        .await
        .assert(200);
    let (_, p) = jwt_parts(r.body["access_token"].as_str().unwrap());
    assert_eq!(p["sub"], alice);
    assert_eq!(p["scope"], "openid email read:todos write:todos");
    assert_eq!(
        p["permissions"],
        json!(["delete:todos", "read:todos", "write:todos"])
    );
    assert_eq!(p["gty"], "password");
    assert!(p["authz_ver"].as_i64().unwrap() >= 2);
    // openid → an RS256 ID token for the client.
    let (h, idt) = jwt_parts(r.body["id_token"].as_str().unwrap());
    assert_eq!(h["alg"], "RS256");
    assert_eq!(idt["aud"], client.0);
    assert_eq!(idt["email"], "alice@example.com");
    // Revoking the role lowers permissions and raises the authz version.
    app.remove_roles(&alice, &[&editor]).await;
    let r = app
        .password_token(&client, "alice@example.com", "alice-password", TODOS, None)
        .await
        .assert(200);
    let (_, p2) = jwt_parts(r.body["access_token"].as_str().unwrap());
    assert_eq!(p2["permissions"], json!(["delete:todos", "read:todos"]));
    assert!(p2["authz_ver"].as_i64().unwrap() > p["authz_ver"].as_i64().unwrap());
}

/// The password grant hands out a refresh token, as Auth0's does, only when `offline_access`
/// is asked for, the API allows offline access and the client may refresh; that token then
/// rotates, carries the user's current permissions and is caught when reused.
#[tokio::test]
async fn password_grant_issues_a_refresh_token_with_offline_access() {
    let app = TestApp::spawn().await;
    app.todo_editor(TODOS, "alice@example.com", "alice-password")
        .await;
    let client = app
        .create_client(json!({"name": "cli", "app_type": "regular_web",
            "grant_types": ["password", "refresh_token"]}))
        .await;
    let offline = Some("openid offline_access read:todos");
    let login = |client, scope| {
        app.password_token(client, "alice@example.com", "alice-password", TODOS, scope)
    };
    // The API does not allow offline access yet.
    let r = login(&client, offline).await.assert(200);
    assert_eq!(r.body["refresh_token"], json!(null), "{}", r.body);
    app.allow_offline_access(TODOS).await;
    let r = login(&client, Some("openid read:todos")).await.assert(200);
    assert_eq!(
        r.body["refresh_token"],
        json!(null),
        "not asked for: {}",
        r.body
    );
    let password_only = app.password_client().await;
    let r = login(&password_only, offline).await.assert(200);
    assert_eq!(
        r.body["refresh_token"],
        json!(null),
        "client may not refresh: {}",
        r.body
    );

    let r = login(&client, offline).await.assert(200);
    let first = r.body["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    let refresh = |token: String| {
        let client = client.clone();
        let app = &app;
        async move {
            app.token_form(&[
                ("grant_type", "refresh_token"),
                ("client_id", &client.0),
                ("client_secret", &client.1),
                ("refresh_token", &token),
            ])
            .await
        }
    };
    let r = refresh(first.clone()).await.assert(200);
    let second = r.body["refresh_token"]
        .as_str()
        .expect("rotated")
        .to_owned();
    assert_ne!(second, first);
    let (_, p) = jwt_parts(r.body["access_token"].as_str().unwrap());
    assert_eq!(p["permissions"], json!(["read:todos", "write:todos"]));
    assert!(r.body["id_token"].is_string(), "{}", r.body);
    // The first token again (no leeway by default): reuse, and the family, the second token
    // too, is revoked.
    refresh(first).await.assert_error(400, "invalid_grant");
    refresh(second).await.assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn rbac_off_grants_any_defined_scope() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "RS256", &["read:todos", "write:todos"], false)
        .await;
    app.create_user("carol@example.com", "carol-password").await;
    let client = app.password_client().await;
    let r = app
        .password_token(
            &client,
            "carol@example.com",
            "carol-password",
            TODOS,
            Some("write:todos nope"),
        )
        .await
        .assert(200);
    assert_eq!(r.body["scope"], "write:todos");
}

#[tokio::test]
async fn password_grant_failures() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    let user = app.create_user("dave@example.com", "dave-password").await;
    let client = app.password_client().await;
    let wrong = app
        .password_token(&client, "dave@example.com", "nope-nope", TODOS, None)
        .await
        .assert(400);
    assert_eq!(wrong.body["error"], "invalid_grant");
    let unknown = app
        .password_token(&client, "nobody@example.com", "nope-nope", TODOS, None)
        .await
        .assert(400);
    assert_eq!(
        unknown.body, wrong.body,
        "same answer whether or not the user exists"
    );
    app.block_user(&user).await;
    app.password_token(&client, "dave@example.com", "dave-password", TODOS, None)
        .await
        .assert_error(400, "invalid_grant");
    // A client without the password grant.
    let (mid, msecret) = app.machine(TODOS, &["read:todos"]).await;
    app.password_token(
        &(mid, msecret),
        "dave@example.com",
        "dave-password",
        TODOS,
        None,
    )
    .await
    .assert_error(403, "unauthorized_client");
}

#[tokio::test]
async fn brute_force_blocks_user_and_ip_pair_after_ten_failures() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    app.create_user("erin@example.com", "erin-password").await;
    let client = app.password_client().await;
    for _ in 0..10 {
        app.password_token(&client, "erin@example.com", "bad-password", TODOS, None)
            .await
            .assert(400);
    }
    // Even the right password is refused now, with 429 and Retry-After.
    let r = app
        .password_token(&client, "erin@example.com", "erin-password", TODOS, None)
        .await
        .assert_error(429, "too_many_attempts");
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn discovery_and_jwks() {
    let app = TestApp::spawn().await;
    let d = app
        .get("/.well-known/openid-configuration")
        .await
        .assert(200)
        .body;
    assert_eq!(d["issuer"], app.issuer);
    assert_eq!(d["token_endpoint"], format!("{}oauth/token", app.issuer));
    assert_eq!(
        d["jwks_uri"],
        format!("{}.well-known/jwks.json", app.issuer)
    );
    assert!(
        d["grant_types_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("client_credentials"))
    );
    let jwks = app.get("/.well-known/jwks.json").await.assert(200).body;
    let keys = jwks["keys"].as_array().unwrap();
    // No API uses ES256/EdDSA yet: only RSA keys (current + next) are published.
    assert_eq!(keys.len(), 2);
    assert!(
        keys.iter()
            .all(|k| k["kty"] == "RSA" && k["alg"] == "RS256" && k["kid"].is_string())
    );
}
