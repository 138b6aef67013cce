//! Sign-up for SPAs with their own form (Auth0's `POST /dbconnections/signup`) and the password
//! policy wherever a password is set: the Management API, both sign-up paths.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::web::jwt_parts;

const SPA: &str = "http://127.0.0.1:5173";

/// `POST /dbconnections/signup` with `body`, from the SPA's origin: (status, headers, body).
async fn db_signup(app: &TestApp, body: Value) -> Resp {
    let r = app
        .http
        .post(format!("{}/dbconnections/signup", app.base))
        .header("origin", SPA)
        .json(&body)
        .send()
        .await
        .unwrap();
    to_resp(r).await
}

async fn spa_client(app: &TestApp) -> String {
    app.create_client(json!({
        "name": "Own-form SPA", "app_type": "spa",
        "callbacks": [format!("{SPA}/")], "web_origins": [SPA],
    }))
    .await
    .0
}

fn signup_body(client_id: &str, email: &str, password: &str) -> Value {
    json!({
        "client_id": client_id, "email": email, "password": password,
        "connection": "Username-Password-Authentication",
    })
}

#[tokio::test]
async fn dbconnections_signup_creates_a_user_who_can_log_in() {
    let app = TestApp::spawn_with_vars(&[("WRIT_SIGNUP_ENABLED", "true")]).await;
    let api = "https://accounts.example/api";
    app.create_api(api, "RS256", &["read:x"], true).await;
    let spa = spa_client(&app).await;
    let r = db_signup(
        &app,
        signup_body(&spa, " Erin@Example.com ", "erin-password-1"),
    )
    .await
    .assert(200);
    assert_eq!(
        r.body,
        json!({"email": "erin@example.com", "email_verified": false})
    );
    // Cross-origin, for the client's web origin.
    assert_eq!(r.header("access-control-allow-origin"), Some(SPA));
    let users = app.stored_users("erin@example.com").await;
    assert_eq!(users.len(), 1);
    assert!(!users[0].email_verified);
    // The new user logs in with that password; no role, no permissions.
    let client = app.password_client().await;
    let t = app
        .password_token(&client, "erin@example.com", "erin-password-1", api, None)
        .await
        .assert(200);
    let (_, at) = jwt_parts(t.body["access_token"].as_str().unwrap());
    assert_eq!(at["sub"], users[0].user_id.as_str());
    assert_eq!(at["permissions"], json!([]));
    // Audited as Auth0's `ss` (successful signup), through this client.
    let logs = app.api_get("/logs?q=type:ss").await;
    let entry = logs
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["user_name"] == "erin@example.com")
        .expect("a signup entry");
    assert_eq!(entry["client_id"], spa.as_str());
}

#[tokio::test]
async fn dbconnections_signup_tells_nothing_of_existing_accounts() {
    let app = TestApp::spawn_with_vars(&[("WRIT_SIGNUP_ENABLED", "true")]).await;
    app.create_user("taken@example.com", "taken-password-1")
        .await;
    let spa = spa_client(&app).await;
    let taken = db_signup(
        &app,
        signup_body(&spa, "taken@example.com", "other-password-1"),
    )
    .await
    .assert(200);
    let fresh = db_signup(
        &app,
        signup_body(&spa, "fresh@example.com", "fresh-password-1"),
    )
    .await
    .assert(200);
    let shape = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(shape(&taken.body), shape(&fresh.body));
    assert_eq!(taken.body["email_verified"], false);
    assert!(taken.body.get("_id").is_none());
    // The taken account kept its password.
    assert!(
        app.password_is("taken@example.com", "taken-password-1")
            .await
    );
}

#[tokio::test]
async fn dbconnections_signup_refuses_with_auth0_errors() {
    let off = TestApp::spawn().await;
    let spa = spa_client(&off).await;
    let r = db_signup(
        &off,
        signup_body(&spa, "a@example.com", "a-fine-password-1"),
    )
    .await
    .assert(400);
    assert_eq!(r.body["code"], "operation_not_allowed");
    assert_eq!(off.stored_users("a@example.com").await.len(), 0);

    let app = TestApp::spawn_with_vars(&[("WRIT_SIGNUP_ENABLED", "true")]).await;
    let spa = spa_client(&app).await;
    let code = |r: Resp| r.body["code"].as_str().unwrap_or_default().to_owned();
    // Unknown client, wrong connection, missing fields, not JSON: refused before any attempt
    // counts against the address.
    let mut b = signup_body("no-such-client", "b@example.com", "b-fine-password-1");
    assert_eq!(
        code(db_signup(&app, b.clone()).await.assert(400)),
        "invalid_client"
    );
    b["client_id"] = json!(spa);
    b["connection"] = json!("google-oauth2");
    assert_eq!(
        code(db_signup(&app, b.clone()).await.assert(400)),
        "invalid_connection"
    );
    let r = db_signup(&app, json!({"client_id": spa, "email": "b@example.com"}))
        .await
        .assert(400);
    assert_eq!(r.body["code"], "invalid_signup");
    assert_eq!(r.body["statusCode"], 400);
    assert_eq!(r.body["name"], "BadRequestError");
    let r = app
        .http
        .post(format!("{}/dbconnections/signup", app.base))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(code(to_resp(r).await.assert(400)), "invalid_body");
    // The password policy, with Auth0's names.
    let r = db_signup(&app, signup_body(&spa, "b@example.com", "short"))
        .await
        .assert(400);
    assert_eq!(r.body["name"], "PasswordStrengthError");
    assert_eq!(r.body["code"], "invalid_password");
    assert_eq!(r.body["message"], "Password is too weak");
    let r = db_signup(&app, signup_body(&spa, "b@example.com", "Password123"))
        .await
        .assert(400);
    assert_eq!(r.body["name"], "PasswordDictionaryError");
    assert_eq!(r.body["message"], "Password is too common");
    assert!(r.body["description"].as_str().unwrap().contains("common"));
    let r = db_signup(&app, signup_body(&spa, "not-an-email", "b-fine-password-1"))
        .await
        .assert(400);
    assert_eq!(r.body["code"], "invalid_signup");
    assert_eq!(app.stored_users("b@example.com").await.len(), 0);
    // Five attempts a minute per address (the hosted page's limit, shared with it): the three
    // refused by the policy or the email counted, two more pass, the sixth waits.
    for email in ["c@example.com", "d@example.com"] {
        db_signup(&app, signup_body(&spa, email, "a-fine-password-1"))
            .await
            .assert(200);
    }
    let r = db_signup(
        &app,
        signup_body(&spa, "e@example.com", "a-fine-password-1"),
    )
    .await
    .assert(429);
    assert_eq!(r.body["code"], "too_many_requests");
    assert!(r.header("retry-after").is_some());
    assert_eq!(app.stored_users("e@example.com").await.len(), 0);
}

#[tokio::test]
async fn the_password_policy_applies_to_the_management_api() {
    let app = TestApp::spawn().await;
    let create = |email: &str, pw: &str| json!({"email": email, "password": pw, "connection": "Username-Password-Authentication"});
    app.api_post("/users", create("f@example.com", "qwertyuiop"))
        .await
        .assert_message(400, "PasswordDictionaryError: Password is too common");
    app.api_post("/users", create("f@example.com", "seven77"))
        .await
        .assert_message(
            400,
            "PasswordStrengthError: Password is too weak (at least 8 characters)",
        );
    let id = app.create_user("f@example.com", "f-fine-password-1").await;
    app.api(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({"password": "iloveyou2"})),
    )
    .await
    .assert_message(400, "Password is too common");

    // A longer minimum and no personal information, from the settings.
    let strict = TestApp::spawn_with_vars(&[
        ("WRIT_PASSWORD_MIN_LENGTH", "12"),
        ("WRIT_PASSWORD_NO_PERSONAL_INFO", "true"),
    ])
    .await;
    strict
        .api_post("/users", create("g@example.com", "eleven-char"))
        .await
        .assert_message(400, "at least 12 characters");
    strict
        .api_post("/users", create("gina@example.com", "my-GINA-secret-1"))
        .await
        .assert_message(400, "PasswordNoUserInfoError");
    strict
        .api_post("/users", create("gina@example.com", "twelve-chars-ok"))
        .await
        .assert(201);
    // And the dictionary can be turned off.
    let open = TestApp::spawn_with_vars(&[("WRIT_PASSWORD_DICTIONARY", "false")]).await;
    open.api_post("/users", create("h@example.com", "qwertyuiop"))
        .await
        .assert(201);
}
