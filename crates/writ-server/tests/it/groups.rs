//! Groups through the Management API: the tree (create, move, cycles refused, delete with the
//! subtree), members and roles, the views of roles and users (`/roles/{id}/groups`,
//! `/users/{id}/groups`, `/users/{id}/effective-roles`), permissions reached through groups in
//! tokens, and freshness: a change to a group refuses the older tokens of its members.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const API: &str = "https://groups.example/api";

/// Creates a group (under `parent` when given); its id.
async fn group(app: &TestApp, name: &str, parent: Option<&str>) -> String {
    let body =
        json!({"name": name, "description": format!("the {name} group"), "parent_id": parent});
    app.api_post("/groups", body).await.assert(201).field("id")
}

/// Adds one role or member (`relation`: `roles` or `members`) to a group (201).
async fn add_to(app: &TestApp, group: &str, relation: &str, id: &str) {
    app.api_post(
        &format!("/groups/{group}/{relation}"),
        json!({ relation: [id] }),
    )
    .await
    .assert(201);
}

/// The names (or `key`) of a list's items.
fn names(list: &Value, key: &str) -> Vec<String> {
    let items = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"));
    items
        .iter()
        .map(|i| i[key].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_group_tree_refuses_cycles_and_moves_with_its_subtree() {
    let app = TestApp::spawn().await;
    let eng = group(&app, "eng", None).await;
    assert!(eng.starts_with("grp_"), "{eng}");
    let backend = group(&app, "backend", Some(&eng)).await;
    let db = group(&app, "db", Some(&backend)).await;
    let ops = group(&app, "ops", None).await;

    // Reads, filters, totals.
    let g = app.api_get(&format!("/groups/{backend}")).await;
    assert_eq!(
        (g["name"].as_str(), g["parent_id"].as_str()),
        (Some("backend"), Some(eng.as_str()))
    );
    assert_eq!(g["description"], "the backend group");
    assert_eq!(
        names(&app.api_get("/groups").await, "name"),
        ["backend", "db", "eng", "ops"]
    );
    assert_eq!(
        names(&app.api_get("/groups?name=db").await, "id"),
        [db.as_str()]
    );
    assert_eq!(
        names(&app.api_get("/groups?search=KEN").await, "name"),
        ["backend"]
    );
    let page = app
        .api_get("/groups?include_totals=true&per_page=2&page=1")
        .await;
    assert_eq!(
        (page["total"].as_i64(), page["start"].as_i64()),
        (Some(4), Some(2))
    );
    assert_eq!(names(&page["groups"], "name"), ["eng", "ops"]);
    // `page` is documented up to 2^31-1, and checked so.
    let last = app.api_get("/groups?page=2147483647").await;
    assert_eq!(last, json!([]));
    app.api(Method::GET, "/groups?page=2147483648", None)
        .await
        .assert_message(400, "less than or equal to 2147483647");

    // Bad input, each refused with Auth0's error body.
    let refused = |body: Value| {
        let app = &app;
        async move { app.api_post("/groups", body).await }
    };
    refused(json!({})).await.assert_error(400, "Bad Request");
    refused(json!({"name": "a/b"})).await.assert(400);
    refused(json!({"name": "x", "parent_id": "grp_nope"}))
        .await
        .assert(400);
    refused(json!({"name": "x", "colour": "red"}))
        .await
        .assert(400);
    // Siblings have distinct names; cousins may share one.
    refused(json!({"name": "backend", "parent_id": eng}))
        .await
        .assert(409);
    group(&app, "backend", Some(&ops)).await;

    // Moves: under itself or a descendant is a cycle; elsewhere is fine.
    let patch = |id: String, body: Value| {
        let app = &app;
        async move {
            app.api(Method::PATCH, &format!("/groups/{id}"), Some(body))
                .await
        }
    };
    patch(eng.clone(), json!({"parent_id": eng}))
        .await
        .assert(400);
    patch(eng.clone(), json!({"parent_id": db}))
        .await
        .assert(400);
    let moved = patch(
        backend.clone(),
        json!({"parent_id": ops, "name": "platform"}),
    )
    .await
    .assert(200)
    .body;
    assert_eq!(moved["parent_id"], ops.as_str());
    assert_eq!(moved["name"], "platform");
    let top = patch(backend.clone(), json!({"parent_id": null}))
        .await
        .assert(200)
        .body;
    assert!(top["parent_id"].is_null(), "{top}");
    app.api(Method::GET, "/groups/grp_nope", None)
        .await
        .assert_error(404, "Not Found");

    // Deleting a group deletes its subtree.
    app.delete_gone(&format!("/groups/{backend}")).await;
    app.api(Method::GET, &format!("/groups/{db}"), None)
        .await
        .assert(404);
}

#[tokio::test]
async fn members_inherit_roles_of_the_group_and_its_ancestors_and_lose_them_at_once() {
    let app = TestApp::spawn().await;
    app.create_api(API, "RS256", &["read:x", "write:x"], true)
        .await;
    let reader = app.create_role("reader", API, &["read:x"]).await;
    let writer = app.create_role("writer", API, &["write:x"]).await;
    let bob = app.create_user("bob@example.com", "bob-password-1").await;
    let eng = group(&app, "eng", None).await;
    let backend = group(&app, "backend", Some(&eng)).await;

    let post = |path: String, body: Value| {
        let app = &app;
        async move { app.api_post(&path, body).await }
    };
    post(format!("/groups/{eng}/roles"), json!({"roles": [reader]}))
        .await
        .assert(201);
    post(
        format!("/groups/{backend}/members"),
        json!({"members": [bob]}),
    )
    .await
    .assert(201);
    // A user that does not exist: refused, nothing added.
    post(
        format!("/groups/{backend}/members"),
        json!({"members": ["usr_nope"]}),
    )
    .await
    .assert(400);
    app.assign_roles(&bob, &[&writer]).await;

    // The views.
    let members = app.api_get(&format!("/groups/{backend}/members")).await;
    assert_eq!(names(&members, "user_id"), [bob.as_str()]);
    assert_eq!(
        names(&app.api_get(&format!("/groups/{eng}/roles")).await, "name"),
        ["reader"]
    );
    assert_eq!(
        names(
            &app.api_get(&format!("/roles/{reader}/groups")).await,
            "name"
        ),
        ["eng"]
    );
    let mine = app.api_get(&format!("/users/{bob}/groups")).await;
    assert_eq!(names(&mine, "path"), ["/eng/backend"]);
    let effective = app.api_get(&format!("/users/{bob}/effective-roles")).await;
    let roles = effective["roles"].as_array().unwrap();
    assert_eq!(names(&effective["roles"], "name"), ["reader", "writer"]);
    assert_eq!(roles[0]["sources"], json!(["/eng"]), "{effective}");
    assert_eq!(roles[1]["sources"], json!(["direct"]), "{effective}");

    // Tokens carry what the group gives.
    let cli = app.password_client().await;
    let token = || async {
        app.password_token(&cli, "bob@example.com", "bob-password-1", API, None)
            .await
            .assert(200)
            .field("access_token")
    };
    let t = token().await;
    let claims = jwt_parts(&t).1;
    assert_eq!(
        claims["permissions"],
        json!(["read:x", "write:x"]),
        "{claims}"
    );

    // Removing the role from the ancestor group: bob's older token is refused (introspection
    // says inactive), his next one lacks the permission.
    let probe = app.machine(API, &[]).await;
    assert_eq!(app.introspect(&probe, &t).await["active"], true);
    app.group_relation(Method::DELETE, &eng, "roles", &[&reader])
        .await
        .assert(204);
    assert_eq!(app.introspect(&probe, &t).await["active"], false);
    let t2 = token().await;
    assert_eq!(jwt_parts(&t2).1["permissions"], json!(["write:x"]));

    // Moving his group under one with the role brings it back, and refuses t2.
    let staff = group(&app, "staff", None).await;
    post(format!("/groups/{staff}/roles"), json!({"roles": [reader]}))
        .await
        .assert(201);
    app.api(
        Method::PATCH,
        &format!("/groups/{backend}"),
        Some(json!({"parent_id": staff})),
    )
    .await
    .assert(200);
    assert_eq!(app.introspect(&probe, &t2).await["active"], false);
    let t3 = token().await;
    assert_eq!(
        jwt_parts(&t3).1["permissions"],
        json!(["read:x", "write:x"])
    );

    // Leaving the group: the same.
    app.group_relation(Method::DELETE, &backend, "members", &[&bob])
        .await
        .assert(204);
    assert_eq!(app.introspect(&probe, &t3).await["active"], false);
    assert!(
        app.api_get(&format!("/users/{bob}/groups"))
            .await
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn group_routes_need_the_group_scopes() {
    let app = TestApp::spawn().await;
    let eng = group(&app, "eng", None).await;
    let (id, secret) = app.machine(&app.mgmt_audience(), &["read:groups"]).await;
    let token = app.mgmt_token(&id, &secret).await;
    app.get_as(&token, "/groups").await.assert(200);
    app.get_as(&token, &format!("/groups/{eng}"))
        .await
        .assert(200);
    // Members need read:users too.
    app.get_as(&token, &format!("/groups/{eng}/members"))
        .await
        .assert_error(403, "Forbidden");
    app.api_as(&token, Method::POST, "/groups", Some(json!({"name": "x"})))
        .await
        .assert_error(403, "Forbidden");
    app.api_as(&token, Method::DELETE, &format!("/groups/{eng}"), None)
        .await
        .assert(403);
}

#[tokio::test]
async fn effective_permissions_name_how_the_user_holds_each() {
    let app = TestApp::spawn().await;
    app.create_api(API, "RS256", &["read:x", "write:x", "admin:x"], true)
        .await;
    let reader = app.create_role("reader", API, &["read:x"]).await;
    let writer = app.create_role("writer", API, &["write:x", "read:x"]).await;
    let bob = app.create_user("bob@example.com", "bob-password-1").await;
    app.assign_roles(&bob, &[&reader]).await;
    app.permissions(Method::POST, &format!("/users/{bob}"), API, &["read:x"])
        .await;
    let eng = group(&app, "eng", None).await;
    let backend = group(&app, "backend", Some(&eng)).await;
    add_to(&app, &eng, "roles", &writer).await;
    add_to(&app, &backend, "members", &bob).await;

    let enc: String = url::form_urlencoded::byte_serialize(API.as_bytes()).collect();
    let path = format!("/users/{bob}/effective-permissions?resource_server_identifier={enc}");
    let got = app.api_get(&path).await;
    assert_eq!(
        got,
        json!({"permissions": [
            {"resource_server_identifier": API, "permission_name": "read:x", "resource_server_name": API,
             "description": "read:x desc", "sources": ["direct", "roles"]},
            {"resource_server_identifier": API, "permission_name": "write:x", "resource_server_name": API,
             "description": "write:x desc", "sources": ["roles"]},
        ]})
    );
    // `/users/{id}/permissions` lists them as Auth0 does, each source named, the group's path
    // for a role held through a group.
    let listed = app.api_get(&format!("/users/{bob}/permissions")).await;
    let row = |name: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["permission_name"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(listed.as_array().unwrap().len(), 2, "{listed}");
    let read = row("read:x");
    let kinds: Vec<&str> = read["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["source_type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"DIRECT") && kinds.contains(&"ROLE"),
        "{read}"
    );
    assert!(
        read["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["source_id"] == reader.as_str()
                && s["source_name"] == "reader"
                && s.get("group_path").is_none()),
        "{read}"
    );
    assert_eq!(
        row("write:x")["sources"],
        json!([{"source_id": writer, "source_name": "writer", "source_type": "ROLE", "group_path": "/eng"}])
    );
    let paged = app
        .api_get(&format!(
            "/users/{bob}/permissions?include_totals=true&per_page=1&page=1"
        ))
        .await;
    assert_eq!(paged["total"], 2);
    assert_eq!(names(&paged["permissions"], "permission_name"), ["write:x"]);
    app.api(Method::GET, "/users/usr_nobody/permissions", None)
        .await
        .assert(404);
    // Pages continue at `next`.
    let first = app.api_get(&format!("{path}&take=1")).await;
    assert_eq!(names(&first["permissions"], "permission_name"), ["read:x"]);
    let next = first["next"].as_str().expect("next").to_owned();
    let second = app.api_get(&format!("{path}&take=1&from={next}")).await;
    assert_eq!(
        names(&second["permissions"], "permission_name"),
        ["write:x"]
    );
    assert!(second.get("next").is_none(), "{second}");
    // Refusals: no API named, a bad page size or cursor, an unknown API or user.
    let bad = |p: String| {
        let app = &app;
        async move { app.api(Method::GET, &p, None).await }
    };
    bad(format!("/users/{bob}/effective-permissions"))
        .await
        .assert_message(400, "resource_server_identifier");
    bad(format!("{path}&take=0"))
        .await
        .assert_message(400, "take");
    bad(format!("{path}&from=x"))
        .await
        .assert_message(400, "from");
    bad(format!(
        "/users/{bob}/effective-permissions?resource_server_identifier=nope"
    ))
    .await
    .assert(404);
    bad(format!(
        "/users/usr_nobody/effective-permissions?resource_server_identifier={enc}"
    ))
    .await
    .assert(404);
}

/// Deleting a group through the API takes effect at once (its members lose what it granted,
/// its subtree and name are gone), and its members then leave it in the background, each
/// raised by their own version above the group's.
#[tokio::test]
async fn deleting_a_group_takes_effect_at_once_then_its_members_leave_it() {
    let app = TestApp::spawn().await;
    app.create_api(API, "RS256", &["read:x"], true).await;
    let reader = app.create_role("reader", API, &["read:x"]).await;
    let bob = app.create_user("bob@example.com", "bob-password-1").await;
    let eng = group(&app, "eng", None).await;
    let backend = group(&app, "backend", Some(&eng)).await;
    add_to(&app, &eng, "roles", &reader).await;
    add_to(&app, &backend, "members", &bob).await;
    let perms = app.api_get(&format!("/users/{bob}/permissions")).await;
    assert_eq!(names(&perms, "permission_name"), ["read:x"]);
    let version = || async { app.stored_users("bob@example.com").await[0].authz_version };
    let before = version().await;
    let head = app.state.store.authz_head().await.unwrap();

    app.delete_gone(&format!("/groups/{eng}")).await;
    let at_delete = version().await;
    assert!(
        at_delete > before,
        "raised at once, through the deleted groups"
    );
    app.api(Method::GET, &format!("/groups/{backend}"), None)
        .await
        .assert(404);
    assert_eq!(
        app.api_get(&format!("/users/{bob}/groups")).await,
        json!([])
    );
    let perms = app.api_get(&format!("/users/{bob}/permissions")).await;
    assert_eq!(perms, json!([]));
    let roles = app.api_get(&format!("/users/{bob}/effective-roles")).await;
    assert_eq!(roles["roles"], json!([]), "{roles}");
    assert_eq!(
        names(&app.api_get("/groups").await, "name"),
        Vec::<String>::new()
    );
    // The name is free at once.
    group(&app, "eng", None).await;

    // The delete appended one record per group (read as bob while he is a member); the sweep
    // then appends bob's own event, above them, when he leaves.
    let deleted = head + 2;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let left = loop {
        let page = app
            .state
            .store
            .authz_events_after(deleted, 100)
            .await
            .unwrap();
        if let Some(e) = page.events.into_iter().find(|e| e.subject == bob) {
            break e;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the members never left"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(left.kind, "group_deleted");
    assert!(left.version > deleted);
    assert_eq!(version().await, left.version);
    assert!(version().await >= at_delete);
}
