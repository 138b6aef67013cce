//! Roles and groups in access tokens, per API (`token_claims` of the resource server): the
//! claims and their names, how they are checked, their freshness (refresh grants carry the
//! change; a rename refuses older tokens), and the Authorization Extension switched on for one
//! API (its object in tokens, its scope-driven top-level claims, the users' computed
//! `app_metadata.authorization`).

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const API: &str = "https://claims.example/api";

/// bob: `writer` directly, `reader` through the group `eng` above his group `backend`.
struct Fixture {
    app: TestApp,
    api_id: String,
    bob: String,
    client: (String, String),
}

/// The groups `/eng` (holding `role`) and `/eng/backend` (with `member`): their ids.
async fn eng_backend(app: &TestApp, role: &str, member: &str) -> (String, String) {
    let group = async |body: Value| app.api_post("/groups", body).await.assert(201).field("id");
    let eng = group(json!({"name": "eng"})).await;
    let backend = group(json!({"name": "backend", "parent_id": eng})).await;
    let add = async |path: String, body: Value| {
        app.api_post(&path, body).await.assert(201);
    };
    add(format!("/groups/{eng}/roles"), json!({"roles": [role]})).await;
    add(
        format!("/groups/{backend}/members"),
        json!({"members": [member]}),
    )
    .await;
    (eng, backend)
}

async fn fixture(vars: &[(&str, &str)]) -> Fixture {
    let app = TestApp::spawn_with_vars(vars).await;
    let api_id = app
        .create_api(API, "RS256", &["read:x", "write:x"], true)
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let reader = app.create_role("reader", API, &["read:x"]).await;
    let writer = app.create_role("writer", API, &["write:x"]).await;
    let bob = app.create_user("bob@example.com", "bob-password-1").await;
    app.assign_roles(&bob, &[&writer]).await;
    eng_backend(&app, &reader, &bob).await;
    let client = app.password_client().await;
    Fixture {
        app,
        api_id,
        bob,
        client,
    }
}

impl Fixture {
    /// PATCHes the API's `token_claims`; the answer's `token_claims`.
    async fn set(&self, token_claims: Value) -> Value {
        self.app
            .api(
                Method::PATCH,
                &format!("/resource-servers/{}", self.api_id),
                Some(json!({ "token_claims": token_claims })),
            )
            .await
            .assert(200)
            .body["token_claims"]
            .clone()
    }

    /// bob's password-grant token response for the API with `scope`.
    async fn token(&self, scope: Option<&str>) -> Value {
        self.app
            .password_token(
                &self.client,
                "bob@example.com",
                "bob-password-1",
                API,
                scope,
            )
            .await
            .assert(200)
            .body
    }

    /// The claims of bob's access token.
    async fn claims(&self, scope: Option<&str>) -> Value {
        let t = self.token(scope).await;
        jwt_parts(t["access_token"].as_str().unwrap()).1
    }
}

#[tokio::test]
async fn an_api_can_carry_roles_and_groups_under_names_it_chooses() {
    let f = fixture(&[]).await;
    let iss = f.app.issuer.clone();
    // By default: nothing besides permissions.
    let c = f.claims(None).await;
    assert_eq!(c["permissions"], json!(["read:x", "write:x"]));
    assert!(c.get(format!("{iss}roles")).is_none() && c.get("roles").is_none());
    let rs = f
        .app
        .api_get(&format!("/resource-servers/{}", f.api_id))
        .await;
    assert_eq!(
        rs["token_claims"],
        json!({"roles": false, "roles_claim": null, "groups": "none", "groups_claim": null,
               "authorization_extension": false, "authorization_claim": null})
    );

    // Roles and group paths under the namespaced defaults, resolved when saved.
    let tc = f.set(json!({"roles": true, "groups": "paths"})).await;
    assert_eq!(tc["roles_claim"], format!("{iss}roles"));
    assert_eq!(tc["groups_claim"], format!("{iss}groups"));
    let c = f.claims(None).await;
    assert_eq!(c[format!("{iss}roles")], json!(["reader", "writer"]), "{c}");
    assert_eq!(c[format!("{iss}groups")], json!(["/eng/backend"]));
    assert_eq!(c["permissions"], json!(["read:x", "write:x"]));

    // Plain names, and group names with the groups above them.
    let tc = f
        .set(json!({"groups": "names", "groups_claim": "groups", "roles_claim": "roles"}))
        .await;
    assert_eq!(
        (tc["roles_claim"].as_str(), tc["groups_claim"].as_str()),
        (Some("roles"), Some("groups"))
    );
    let c = f.claims(None).await;
    assert_eq!(c["roles"], json!(["reader", "writer"]));
    assert_eq!(c["groups"], json!(["backend", "eng"]));
    // `null` (or an empty name) returns a name to its default.
    let tc = f.set(json!({"roles_claim": null})).await;
    assert_eq!(tc["roles_claim"], format!("{iss}roles"));
    f.set(json!({"roles_claim": "roles"})).await;
    let tc = f.set(json!({"roles_claim": ""})).await;
    assert_eq!(tc["roles_claim"], format!("{iss}roles"));

    // Checked: restricted or repeated names, unknown modes and fields, each naming the field.
    let api = format!("/resource-servers/{}", f.api_id);
    let refused = |tc: Value| {
        let app = &f.app;
        let api = api.clone();
        async move {
            app.api(Method::PATCH, &api, Some(json!({ "token_claims": tc })))
                .await
                .assert(400)
                .body["message"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let m = refused(json!({"roles_claim": "permissions"})).await;
    assert!(m.contains("reserved") && m.contains("token_claims"), "{m}");
    assert!(
        refused(json!({"groups_claim": "sub"}))
            .await
            .contains("reserved")
    );
    let m = refused(json!({"groups_claim": "roles", "roles_claim": "roles"})).await;
    assert!(m.contains("already used"), "{m}");
    let m = refused(json!({"groups": "everything"})).await;
    assert!(m.contains("none, names, paths"), "{m}");
    refused(json!({"colour": "blue"})).await;
    // Nothing refused was saved.
    let c = f.claims(None).await;
    assert_eq!(c["groups"], json!(["backend", "eng"]));
}

#[tokio::test]
async fn role_and_group_claims_stay_fresh() {
    use crate::login::{TODOS, exchange, login_alice, query_param, refresh, setup};
    // alice signs in to the SPA (code flow, a refresh token) as a member of /eng/backend, with
    // `editor` directly and `reader` through eng.
    let s = setup().await;
    let app = &s.app;
    app.patch_api(TODOS, json!({"token_claims": {"roles": true, "roles_claim": "roles", "groups": "paths", "groups_claim": "groups"}})).await;
    let reader = app.create_role("reader", TODOS, &["read:todos"]).await;
    let (eng, backend) = eng_backend(app, &reader, &s.alice).await;
    let (loc, _) = login_alice(&s).await;
    let t = exchange(
        &s,
        &query_param(&loc, "code").unwrap(),
        crate::login::VERIFIER,
    )
    .await
    .assert(200)
    .body;
    let c = jwt_parts(t["access_token"].as_str().unwrap()).1;
    assert_eq!(c["roles"], json!(["editor", "reader"]), "{c}");
    assert_eq!(c["groups"], json!(["/eng/backend"]));
    let api_client = app.machine(TODOS, &[]).await;
    let mut last = t;
    // Each change: alice's older token is stale (introspection says inactive), and her next
    // refresh carries the change without a new login.
    let mut after = async |status: u16, method: Method, path: String, body: Value| {
        app.api(method, &path, Some(body)).await.assert(status);
        let old = last["access_token"].as_str().unwrap();
        assert_eq!(app.introspect(&api_client, old).await["active"], false);
        let rt = last["refresh_token"].as_str().unwrap();
        last = refresh(&s, rt).await.assert(200).body;
        jwt_parts(last["access_token"].as_str().unwrap()).1
    };
    // A group rename.
    let c = after(
        200,
        Method::PATCH,
        format!("/groups/{eng}"),
        json!({"name": "engineering"}),
    )
    .await;
    assert_eq!(c["groups"], json!(["/engineering/backend"]), "{c}");
    // A role rename.
    let c = after(
        200,
        Method::PATCH,
        format!("/roles/{reader}"),
        json!({"name": "readers"}),
    )
    .await;
    assert_eq!(c["roles"], json!(["editor", "readers"]), "{c}");
    // Leaving the group.
    let c = after(
        204,
        Method::DELETE,
        format!("/groups/{backend}/members"),
        json!({"members": [s.alice]}),
    )
    .await;
    assert_eq!(
        (c["roles"].clone(), c["groups"].clone()),
        (json!(["editor"]), json!([]))
    );
}

#[tokio::test]
async fn the_authorization_extension_switched_on_for_one_api() {
    let f = fixture(&[]).await;
    let iss = f.app.issuer.clone();
    let user = format!("/users/{}", f.bob);
    // Off everywhere: app_metadata is the user's own.
    assert!(
        f.app.api_get(&user).await["app_metadata"]
            .get("authorization")
            .is_none()
    );

    let tc = f.set(json!({"authorization_extension": true})).await;
    assert_eq!(tc["authorization_claim"], format!("{iss}authorization"));
    // The Management API now shows the computed object (across every API) and refuses to set it.
    let u = f.app.api_get(&user).await;
    assert_eq!(
        u["app_metadata"]["authorization"],
        json!({"groups": ["backend", "eng"], "roles": ["reader", "writer"], "permissions": ["read:x", "write:x"]})
    );
    f.app
        .api(
            Method::PATCH,
            &user,
            Some(json!({"app_metadata": {"authorization": {}}})),
        )
        .await
        .assert_message(400, "computed by Writ");

    // Tokens: the object under its claim (this API's permissions); the top-level `groups` and
    // `roles` only when the scope asks for them, and then granted in `scope`.
    let c = f.claims(Some("read:x")).await;
    assert_eq!(
        c[format!("{iss}authorization")],
        json!({"groups": ["backend", "eng"], "roles": ["reader", "writer"], "permissions": ["read:x", "write:x"]})
    );
    assert!(c.get("groups").is_none() && c.get("roles").is_none(), "{c}");
    let t = f.token(Some("openid groups roles read:x")).await;
    let c = jwt_parts(t["access_token"].as_str().unwrap()).1;
    assert_eq!(c["groups"], json!(["backend", "eng"]));
    assert_eq!(c["roles"], json!(["reader", "writer"]));
    assert_eq!(t["scope"], "openid groups roles read:x");
    assert_eq!(c["permissions"], json!(["read:x", "write:x"]));

    // Another API without the switch does not grant those scopes.
    f.app
        .create_api("https://other.example/", "RS256", &["a"], true)
        .await;
    let t = f
        .app
        .password_token(
            &f.client,
            "bob@example.com",
            "bob-password-1",
            "https://other.example/",
            Some("openid groups roles"),
        )
        .await
        .assert(200)
        .body;
    assert_eq!(t["scope"], "openid");
    let c = jwt_parts(t["access_token"].as_str().unwrap()).1;
    assert!(c.get("groups").is_none() && c.get("roles").is_none(), "{c}");
}
