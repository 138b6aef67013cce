//! `POST /api/v2/jobs/users-imports` and `GET /api/v2/jobs/{id}[/errors]` over HTTP, as an
//! Auth0 client (multipart form) calls them: form validation, scopes, Auth0's job shapes,
//! duplicates inside one file, and upsert updating only what differs.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const TODOS: &str = "https://todos.example/api";

async fn import(app: &TestApp, users: Value, upsert: bool) -> Value {
    let token = app.admin_token().await;
    app.import_json(&token, &users, upsert)
        .await
        .assert(202)
        .body
}

#[tokio::test]
async fn the_form_is_validated_and_needs_create_users() {
    let app = TestApp::spawn().await;
    let token = app.admin_token().await;
    let one = r#"[{"email":"a@example.com"}]"#;
    let conn = ("connection_id", "Username-Password-Authentication");
    for (users, fields, status, needle) in [
        (one, vec![], 400, "Missing required property: connection_id"),
        (
            one,
            vec![("connection_id", "con_0000000000000001")],
            400,
            "The connection does not exist",
        ),
        ("{}", vec![conn], 400, "must be a JSON array"),
        ("[]", vec![conn], 400, "at least one user"),
        ("[{", vec![conn], 400, "not valid JSON"),
        (one, vec![conn, ("upsert", "maybe")], 400, "upsert"),
        (one, vec![conn, ("colour", "red")], 400, "colour"),
    ] {
        let r = app
            .import_users(&token, users, &fields)
            .await
            .assert(status);
        assert!(
            r.body["message"].as_str().unwrap().contains(needle),
            "{needle}: {}",
            r.body
        );
        assert_eq!(r.body["errorCode"], "invalid_body");
    }
    // A JSON body is not the form Auth0 takes.
    app.api_post("/jobs/users-imports", json!({"users": []}))
        .await
        .assert(400);
    // Scope create:users.
    let (id, secret) = app.machine(&app.mgmt_audience(), &["read:users"]).await;
    let reader = app.mgmt_token(&id, &secret).await;
    let r = app.import_users(&reader, one, &[conn]).await.assert(403);
    assert_eq!(r.body["errorCode"], "insufficient_scope");
    app.get_as(&reader, "/jobs/job_0123456789abcdef")
        .await
        .assert(403);
    app.api(Method::GET, "/jobs/job_0123456789abcdef", None)
        .await
        .assert(404);
    app.api(Method::GET, "/jobs/job_0123456789abcdef/errors", None)
        .await
        .assert(404);
    assert!(app.stored_users("a@example.com").await.is_empty());
}

#[tokio::test]
async fn import_dedupes_the_file_and_upsert_changes_only_what_differs() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    let client = app.password_client().await;
    // md5("pepper" ‖ "old-password-1") and md5("pepper" ‖ "new-password-1").
    let md5 = |hex: &str| {
        json!({"algorithm": "md5", "hash": {"value": hex, "encoding": "hex"},
               "salt": {"value": "pepper", "position": "prefix"}})
    };
    let old = md5("ee2bb9c94faf436ace3dd9777f8124bf");
    let new = md5("0dd6394327e556940c3f30d391e389ba");
    let users = json!([
        {"email": "dana@example.com", "name": "Dana", "blocked": false,
         "app_metadata": {"plan": "free"}, "custom_password_hash": old},
        {"email": "DANA@example.com", "name": "Dana again"},
    ]);
    let job = import(&app, users, false).await;
    assert_eq!(job["type"], "users_import");
    assert_eq!(job["status"], "completed");
    assert_eq!(job["connection_id"], "con_writdatabase0001");
    assert_eq!(job["connection"], "Username-Password-Authentication");
    assert!(job["id"].as_str().unwrap().starts_with("job_"));
    assert_eq!(
        job["summary"],
        json!({"total": 2, "inserted": 1, "updated": 0, "skipped": 1, "failed": 0})
    );
    let id = job["id"].as_str().unwrap();
    let fetched = app.api_get(&format!("/jobs/{id}")).await;
    assert_eq!(fetched, job);
    let errors = app.api_get(&format!("/jobs/{id}/errors")).await;
    assert_eq!(
        errors,
        json!([{
            "user": {"email": "DANA@example.com", "name": "Dana again"},
            "errors": [{"code": "DUPLICATED_IN_FILE", "message": "The email appears earlier in the file (user 0)", "path": "#/email"}],
            "index": 1,
            "outcome": "skipped",
        }])
    );

    // Upsert: the name, the metadata and the (never used) imported hash change; `blocked`
    // is not upsertable (Auth0).
    let changed = json!([{"email": "dana@example.com", "name": "Dana Scully", "blocked": true,
        "app_metadata": {"plan": "pro"}, "custom_password_hash": new}]);
    let job = import(&app, changed.clone(), true).await;
    assert_eq!(job["summary"]["updated"], 1, "{job}");
    // No errors: Auth0 answers the job itself.
    let id = job["id"].as_str().unwrap();
    let errors = app.api_get(&format!("/jobs/{id}/errors")).await;
    assert_eq!(errors["id"], id);
    let dana = &app.stored_users("dana@example.com").await[0];
    assert_eq!(dana.name.as_deref(), Some("Dana Scully"));
    assert_eq!(dana.app_metadata["plan"], "pro");
    assert!(!dana.blocked);
    app.password_token(&client, "dana@example.com", "old-password-1", TODOS, None)
        .await
        .assert(400);
    let before = app.stored_users("dana@example.com").await[0].authz_version;
    let first = app
        .password_token(&client, "dana@example.com", "new-password-1", TODOS, None)
        .await
        .assert(200)
        .field("access_token");
    let creds = app
        .state
        .store
        .credentials_by_email("dana@example.com")
        .await
        .unwrap()
        .unwrap();
    assert!(creds.password_hash.unwrap().starts_with("$argon2id$"));
    // Re-hashing the same password is not a password change: the version stays, so the
    // token just issued (and the user's sessions) stay good.
    assert_eq!(creds.user.authz_version, before);
    assert_eq!(jwt_parts(&first).1["authz_ver"], before);
    // The same file again: unchanged.
    let job = import(&app, changed.clone(), true).await;
    assert_eq!(job["summary"]["skipped"], 1, "{job}");
    assert_eq!(job["summary"]["updated"], 0, "{job}");
    // Without upsert: Auth0's DUPLICATED_USER, counted as skipped.
    let job = import(&app, changed, false).await;
    let id = job["id"].as_str().unwrap();
    let errors = app
        .api(Method::GET, &format!("/jobs/{id}/errors"), None)
        .await
        .body;
    assert_eq!(errors[0]["errors"][0]["code"], "DUPLICATED_USER");
    assert!(errors[0]["user"].get("custom_password_hash").is_none());
}
