//! Management API v2: shapes, semantics and errors as Auth0 has them.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const TODOS: &str = "https://todos.example/api";

#[tokio::test]
async fn requires_a_valid_token_with_the_right_scope() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v2/users").await.assert(401);
    assert_eq!(r.body["statusCode"], 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    assert_eq!(r.body["errorCode"], "missing_token");
    // Another scheme, or `Bearer` with no token: a malformed header, not a missing one.
    for auth in ["Basic eDp5", "Bearer ", "Bearer"] {
        let r = app
            .http
            .get(format!("{}/api/v2/users", app.base))
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{auth}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_eq!(body["errorCode"], "invalid_token", "{auth}");
        assert_eq!(body["message"], "Bad HTTP authentication header format");
    }
    app.api_as("garbage", Method::GET, "/users", None)
        .await
        .assert_error(401, "Unauthorized");
    // A token for another API is refused by audience.
    app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    let (id, secret) = app.machine(TODOS, &["read:todos"]).await;
    let other = app.cc_token(&id, &secret, TODOS, None).await;
    app.get_as(&other, "/users").await.assert(401);
    // A management token with only read:roles cannot read users.
    let (rid, rsecret) = app.machine(&app.mgmt_audience(), &["read:roles"]).await;
    let limited = app.mgmt_token(&rid, &rsecret).await;
    app.get_as(&limited, "/roles").await.assert(200);
    let r = app.get_as(&limited, "/users").await.assert(403);
    assert_eq!(r.body["errorCode"], "insufficient_scope");
    assert!(r.body["message"].as_str().unwrap().contains("read:users"));
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("insufficient_scope")
    );
}

#[tokio::test]
async fn resource_servers_crud() {
    let app = TestApp::spawn().await;
    let rs = app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    assert_eq!(rs["identifier"], TODOS);
    assert_eq!(rs["signing_alg"], "RS256");
    assert_eq!(rs["token_dialect"], "access_token_authz");
    assert_eq!(
        rs["scopes"],
        json!([{"value": "read:todos", "description": "read:todos desc"}])
    );
    let id = rs["id"].as_str().unwrap();
    // By id and by identifier.
    app.api(Method::GET, &format!("/resource-servers/{id}"), None)
        .await
        .assert(200);
    let enc = url::form_urlencoded::byte_serialize(TODOS.as_bytes()).collect::<String>();
    assert_eq!(
        app.api_get(&format!("/resource-servers/{enc}")).await["id"],
        id
    );
    // Duplicate identifier → 409; bad alg → 400 naming the field.
    let r = app
        .api_post("/resource-servers", json!({"identifier": TODOS}))
        .await
        .assert(409);
    assert_eq!(r.body["statusCode"], 409);
    for (body, field) in [
        (
            json!({"identifier": "x", "signing_alg": "HS256"}),
            "signing_alg",
        ),
        (
            json!({"identifier": "x", "enforce_policies": "yes"}),
            "enforce_policies",
        ),
    ] {
        app.api_post("/resource-servers", body)
            .await
            .assert_message(400, field);
    }
    let r = app
        .api_post(
            "/resource-servers",
            json!({"identifier": "x", "color": "red"}),
        )
        .await
        .assert_message(400, "color");
    assert_eq!(r.body["errorCode"], "invalid_body");
    // PATCH: scopes replace, removed permission disappears from roles.
    let role = app.create_role("reader", TODOS, &["read:todos"]).await;
    let r = app
        .api(Method::PATCH, &format!("/resource-servers/{id}"), Some(json!({"scopes": [{"value": "write:todos", "description": "w"}], "token_lifetime": 600})))
        .await
        .assert(200);
    assert_eq!(r.body["token_lifetime"], 600);
    let perms = app.api_get(&format!("/roles/{role}/permissions")).await;
    assert_eq!(perms, json!([]));
    // The system API cannot be deleted; ours can.
    let mgmt =
        url::form_urlencoded::byte_serialize(app.mgmt_audience().as_bytes()).collect::<String>();
    app.api_delete(&format!("/resource-servers/{mgmt}"))
        .await
        .assert(403);
    app.delete_gone(&format!("/resource-servers/{id}")).await;
    let list = app.api_get("/resource-servers").await;
    assert_eq!(
        list.as_array().unwrap().len(),
        1,
        "only the Management API remains"
    );
}

#[tokio::test]
async fn roles_permissions_and_users() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "RS256", &["read:todos", "write:todos"], true)
        .await;
    let editor = app
        .create_role("editor", TODOS, &["read:todos", "write:todos"])
        .await;
    app.create_role("viewer", TODOS, &["read:todos"]).await;
    app.api_post("/roles", json!({"name": "editor"}))
        .await
        .assert(409);
    app.api_post("/roles", json!({"description": "no name"}))
        .await
        .assert(400);
    let f = app.api_get("/roles?name_filter=edit").await;
    assert_eq!(f.as_array().unwrap().len(), 1);
    assert_eq!(f[0]["name"], "editor");
    let perms = app.api_get(&format!("/roles/{editor}/permissions")).await;
    assert_eq!(perms[0]["resource_server_identifier"], TODOS);
    assert_eq!(perms[0]["resource_server_name"], TODOS);
    assert_eq!(perms[0]["permission_name"], "read:todos");
    assert_eq!(perms[0]["description"], "read:todos desc");
    // Unknown permission → 400 naming it.
    app.permissions(
        Method::POST,
        &format!("/roles/{editor}"),
        TODOS,
        &["fly:todos"],
    )
    .await
    .assert_message(400, "fly:todos");
    app.permissions(
        Method::DELETE,
        &format!("/roles/{editor}"),
        TODOS,
        &["write:todos"],
    )
    .await
    .assert(204);
    assert_eq!(
        app.api(Method::GET, &format!("/roles/{editor}/permissions"), None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Users of a role.
    let u = app.create_user("u1@example.com", "password-1").await;
    app.api_post(&format!("/roles/{editor}/users"), json!({"users": [u]}))
        .await
        .assert(201);
    let users = app.api_get(&format!("/roles/{editor}/users")).await;
    assert_eq!(users[0]["user_id"], u);
    app.api_post(
        &format!("/roles/{editor}/users"),
        json!({"users": ["usr_nope"]}),
    )
    .await
    .assert(400);
    // Patch and delete.
    let r = app
        .api(
            Method::PATCH,
            &format!("/roles/{editor}"),
            Some(json!({"description": "edits"})),
        )
        .await
        .assert(200);
    assert_eq!(r.body["description"], "edits");
    app.delete_gone(&format!("/roles/{editor}")).await;
    assert_eq!(
        app.api(Method::GET, &format!("/users/{u}/roles"), None)
            .await
            .body,
        json!([])
    );
}

#[tokio::test]
async fn users_crud_and_metadata_merge() {
    let app = TestApp::spawn().await;
    let body = json!({
        "email": "Zed@Example.com", "password": "zed-password", "connection": "Username-Password-Authentication",
        "name": "Zed", "app_metadata": {"plan": "pro", "tier": 1}, "user_metadata": {"theme": "dark"}
    });
    let u = app.api_post("/users", body.clone()).await.assert(201).body;
    assert_eq!(u["email"], "zed@example.com");
    assert_eq!(
        u["identities"][0]["connection"],
        "Username-Password-Authentication"
    );
    assert!(u.get("password").is_none() && u.get("password_hash").is_none());
    let id = u["user_id"].as_str().unwrap();
    app.api_post("/users", body).await.assert(409);
    let bad = app.api_post("/users", json!({"email": "nope", "password": "zed-password", "connection": "Username-Password-Authentication"})).await.assert(400);
    assert!(bad.body["message"].as_str().unwrap().contains("email"));
    app.api_post(
        "/users",
        json!({"email": "a@b.co", "password": "zed-password"}),
    )
    .await
    .assert(400);
    app.api_post("/users", json!({"email": "a@b.co", "password": "short", "connection": "Username-Password-Authentication"})).await.assert(400);
    // Metadata merges at the first level; null deletes a key.
    let r = app
        .api(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(json!({"app_metadata": {"tier": null, "region": "eu"}, "name": "Zed Z"})),
        )
        .await
        .assert(200);
    assert_eq!(
        r.body["app_metadata"],
        json!({"plan": "pro", "region": "eu"})
    );
    assert_eq!(r.body["user_metadata"], json!({"theme": "dark"}));
    assert_eq!(r.body["name"], "Zed Z");
    let r = app
        .api(
            Method::PATCH,
            &format!("/users/{id}"),
            Some(json!({"user_metadata": {}})),
        )
        .await
        .assert(200);
    assert_eq!(r.body["user_metadata"], json!({}));
    // users-by-email is case-insensitive.
    let r = app
        .api(Method::GET, "/users-by-email?email=ZED%40example.com", None)
        .await
        .assert(200);
    assert_eq!(r.body[0]["user_id"], id);
    // Password change takes effect.
    app.api(
        Method::PATCH,
        &format!("/users/{id}"),
        Some(json!({"password": "new-password-9"})),
    )
    .await
    .assert(200);
    app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    let client = app.password_client().await;
    app.password_token(&client, "zed@example.com", "new-password-9", TODOS, None)
        .await
        .assert(200);
    app.password_token(&client, "zed@example.com", "zed-password", TODOS, None)
        .await
        .assert(400);
    app.delete_gone(&format!("/users/{id}")).await;
    app.api_delete(&format!("/users/{id}")).await.assert(404);
}

#[tokio::test]
async fn pagination_as_auth0_sdks_expect() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        app.create_user(&format!("p{i}@example.com"), "password-123")
            .await;
    }
    let r = app
        .api_get("/users?per_page=2&page=1&include_totals=true")
        .await;
    assert_eq!(r["start"], 2);
    assert_eq!(r["limit"], 2);
    assert_eq!(r["length"], 2);
    assert_eq!(r["total"], 5);
    assert_eq!(r["users"].as_array().unwrap().len(), 2);
    // Past the end: an empty page, so pagers stop.
    let r = app.api_get("/users?per_page=2&page=3").await;
    assert_eq!(r, json!([]));
    let r = app
        .api(Method::GET, "/users?per_page=500", None)
        .await
        .assert(400);
    assert_eq!(r.body["errorCode"], "invalid_query_string");
    app.api(Method::GET, "/users?page=-1", None)
        .await
        .assert(400);
    let r = app.api_get("/users?q=p3").await;
    assert_eq!(r.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn clients_and_secrets() {
    let app = TestApp::spawn().await;
    app.create_api(TODOS, "RS256", &["read:todos"], true).await;
    let c = app
        .api_post("/clients", json!({"name": "svc", "app_type": "non_interactive", "grant_types": ["client_credentials"]}))
        .await
        .assert(201)
        .body;
    let id = c["client_id"].as_str().unwrap().to_owned();
    let secret = c["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(secret.len(), 43, "256-bit secret");
    // Shown at creation only.
    let got = app.api_get(&format!("/clients/{id}")).await;
    assert!(got.get("client_secret").is_none());
    app.grant_client(&id, TODOS, &["read:todos"])
        .await
        .assert(201);
    app.grant_client(&id, TODOS, &["read:todos"])
        .await
        .assert(409);
    app.grant_client(&id, TODOS, &["fly"]).await.assert(400);
    app.cc_token(&id, &secret, TODOS, None).await;
    // Rotation: the old secret stops working at once.
    let rotated = app.rotate_secret(&id).await;
    let new_secret = rotated.as_str();
    assert_ne!(new_secret, secret);
    app.cc_form(&id, &secret, TODOS).await.assert(401);
    app.cc_token(&id, new_secret, TODOS, None).await;
    // Grants: filters, patch, delete.
    let grants = app.api_get(&format!("/client-grants?client_id={id}")).await;
    assert_eq!(grants.as_array().unwrap().len(), 1);
    let enc = url::form_urlencoded::byte_serialize(TODOS.as_bytes()).collect::<String>();
    let by_aud = app.api_get(&format!("/client-grants?audience={enc}")).await;
    assert_eq!(by_aud[0]["client_id"], id);
    let gid = grants[0]["id"].as_str().unwrap();
    app.set_grant_scopes(gid, &[]).await.assert(200);
    let t = app.cc_token(&id, new_secret, TODOS, None).await;
    assert_eq!(jwt_parts(&t).1["scope"].as_str().unwrap_or(""), "");
    app.api_delete(&format!("/client-grants/{gid}"))
        .await
        .assert(204);
    app.cc_form(&id, new_secret, TODOS).await.assert(403);
    // SPA clients are public: no secret, no client_credentials.
    let spa = app
        .api_post("/clients", json!({"name": "spa", "app_type": "spa", "callbacks": ["http://127.0.0.1:5173/"], "web_origins": ["http://127.0.0.1:5173"]}))
        .await
        .assert(201)
        .body;
    assert!(spa.get("client_secret").is_none());
    assert_eq!(spa["token_endpoint_auth_method"], "none");
    for bad in [
        json!({"name": "bad", "app_type": "spa", "grant_types": ["client_credentials"]}),
        json!({"name": "bad", "callbacks": ["not a url"]}),
        json!({"name": "bad", "web_origins": ["http://a.example/path"]}),
    ] {
        app.api_post("/clients", bad).await.assert(400);
    }
    app.api_delete(&format!("/clients/{id}")).await.assert(204);
    app.cc_form(&id, new_secret, TODOS).await.assert(401);
}

#[tokio::test]
async fn a_user_token_is_refused_once_the_users_permissions_change() {
    let app = TestApp::spawn().await;
    let mgmt = app.mgmt_audience();
    let readers = app
        .create_role("user-readers", &mgmt, &["read:users"])
        .await;
    let pw = "operator-password-1";
    let op = app.create_user("operator@example.com", pw).await;
    app.assign_roles(&op, &[&readers]).await;
    let token_now = || app.console_token("operator@example.com", pw);
    let old = token_now().await;
    app.get_as(&old, "/users").await.assert(200);

    // Revoking the role refuses the token made before, with RFC 6750's challenge.
    app.remove_roles(&op, &[&readers]).await;
    let r = app.get_as(&old, "/users").await.assert(401);
    assert_eq!(r.body["errorCode"], "invalid_token");
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("error_description=\"permissions changed\""),
        "{:?}",
        r.header("www-authenticate")
    );
    // A fresh token says what the user may do now: nothing here.
    let fresh = token_now().await;
    app.get_as(&fresh, "/users").await.assert(403);

    // Granting again works the same way, and blocking the user refuses the token at once.
    app.assign_roles(&op, &[&readers]).await;
    app.get_as(&fresh, "/users").await.assert(401);
    let fresh = token_now().await;
    app.get_as(&fresh, "/users").await.assert(200);
    app.block_user(&op).await;
    app.get_as(&fresh, "/users").await.assert(401);
}
