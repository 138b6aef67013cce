//! The admin console at `/admin`, through HTTP with a hand-kept cookie jar: the real sign-in
//! (authorization code + PKCE through the hosted login), page access decided by the token's
//! Management API permissions, CSRF refusals, forms that create APIs, roles and users, the
//! confirmation step of destructive actions, and effective permissions with their sources.

use reqwest::Method;
use serde_json::json;
use writ_core::MANAGEMENT_SCOPES;

use crate::helpers::*;

const ADMIN_EMAIL: &str = "root@example.com";
const ADMIN_PW: &str = "root-password-1";
const PAGES: [&str; 9] = [
    "/admin",
    "/admin/actions",
    "/admin/logs",
    "/admin/apis",
    "/admin/roles",
    "/admin/groups",
    "/admin/users",
    "/admin/clients",
    "/admin/keys",
];

/// A user holding a role with every Management API permission (or only `perms`).
async fn admin_user(app: &TestApp, email: &str, pw: &str, perms: Option<&[&str]>) -> String {
    let perms = perms.unwrap_or(MANAGEMENT_SCOPES);
    app.create_admin(&format!("admins-{}", perms.len()), perms, email, pw)
        .await
}

async fn signed_in_admin() -> (TestApp, Browser, String) {
    let app = TestApp::spawn().await;
    admin_user(&app, ADMIN_EMAIL, ADMIN_PW, None).await;
    let mut b = Browser::new(&app);
    let page = b.sign_in("/admin", ADMIN_EMAIL, ADMIN_PW).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = hidden(&page.body, "csrf");
    (app, b, csrf)
}

#[tokio::test]
async fn sign_in_through_writ_then_every_page() {
    let app = TestApp::spawn().await;
    admin_user(&app, ADMIN_EMAIL, ADMIN_PW, None).await;
    let mut b = Browser::new(&app);
    // Not signed in: every page sends the browser to Writ's /authorize, never a page of its own.
    for p in PAGES {
        let r = b.get(p).await;
        assert_eq!(r.status, 302, "{p}");
        assert!(
            r.location
                .as_deref()
                .unwrap()
                .starts_with(&format!("{}authorize?", app.issuer)),
            "{p}"
        );
    }
    let users = b
        .sign_in("/admin/users?q=root", ADMIN_EMAIL, ADMIN_PW)
        .await;
    assert_eq!(users.status, 200, "{}", users.body);
    assert!(users.body.contains(ADMIN_EMAIL));
    let r = b.raw_get("/admin/users").await;
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'sha256-"),
        "{csp}"
    );
    assert_eq!(r.headers()["referrer-policy"], "same-origin");
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    for p in PAGES {
        let r = b.get(p).await;
        assert_eq!(r.status, 200, "{p}: {}", r.body);
        assert!(r.body.contains("name=\"viewport\""));
    }
    // The console's session cookie is scoped and strict.
    let setup = app
        .state
        .store
        .get_client(writ_core::CONSOLE_CLIENT_ID)
        .await
        .unwrap();
    assert_eq!(
        setup.callbacks,
        vec![format!("{}admin/callback", app.issuer)]
    );
    assert!(setup.secret_hash.is_none(), "public client with PKCE");
    // Signing out ends the console session and Writ's session.
    let csrf = hidden(&b.get("/admin").await.body, "csrf");
    let out = b.submit("/admin/logout", &csrf, &[]).await;
    assert_eq!(out.status, 303);
    assert!(
        out.location
            .unwrap()
            .starts_with("/v2/logout?client_id=writ-admin-console")
    );
    assert!(!b.jar.contains_key("writ_admin"));
    assert_eq!(b.get("/admin").await.status, 302);
}

#[tokio::test]
async fn session_cookie_is_httponly_strict_and_scoped() {
    let app = TestApp::spawn().await;
    admin_user(&app, ADMIN_EMAIL, ADMIN_PW, None).await;
    let mut b = Browser::new(&app);
    let start = b.get("/admin").await;
    let login = b.get(&start.location.unwrap()).await;
    let tx = hidden(&login.body, "tx");
    let csrf = hidden(&login.body, "csrf");
    let sent = b
        .post(
            "/u/login",
            &[
                ("tx", &tx),
                ("csrf", &csrf),
                ("username", ADMIN_EMAIL),
                ("password", ADMIN_PW),
            ],
        )
        .await;
    let r = b.raw_get(&sent.location.unwrap()).await;
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("writ_admin="))
        .expect("session cookie");
    // `Path=/` like every Writ cookie: the `__Host-` prefix of https issuers requires it.
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/;"] {
        assert!(session.contains(attr), "{session}");
    }
    // The callback cannot be replayed: its state cookie is gone.
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("writ_admin_tx_") && c.contains("Max-Age=0"))
    );
}

#[tokio::test]
async fn without_management_roles_every_page_is_403_not_a_redirect() {
    let app = TestApp::spawn().await;
    app.create_user("alice@example.com", "alice-password-1")
        .await;
    let mut b = Browser::new(&app);
    let first = b
        .sign_in("/admin/users", "alice@example.com", "alice-password-1")
        .await;
    assert_eq!(first.status, 403);
    assert!(first.body.contains("read:users"), "{}", first.body);
    for p in PAGES
        .iter()
        .chain(&["/admin/apis/new", "/admin/roles/new", "/admin/users/new"])
    {
        let r = b.get(p).await;
        assert_eq!(r.status, 403, "{p}: {}", r.body);
        assert!(r.body.contains("You need"), "{p}");
    }
    // Forms are refused too, by the same permissions.
    let csrf = hidden(&b.get("/admin").await.body, "csrf");
    let r = b
        .submit("/admin/roles/new", &csrf, &[("name", "sneaky")])
        .await;
    assert_eq!(r.status, 403);
    assert!(r.body.contains("create:roles"));
    let roles = app
        .api(Method::GET, "/roles?name_filter=sneaky", None)
        .await
        .body;
    assert_eq!(roles.as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn pages_follow_each_permission() {
    let app = TestApp::spawn().await;
    admin_user(
        &app,
        "reader@example.com",
        "reader-password-1",
        Some(&["read:users"]),
    )
    .await;
    let mut b = Browser::new(&app);
    let users = b
        .sign_in("/admin/users", "reader@example.com", "reader-password-1")
        .await;
    assert_eq!(users.status, 200);
    assert!(!users.body.contains("New user"), "no create:users");
    let roles = b.get("/admin/roles").await;
    assert_eq!(roles.status, 403);
    assert!(roles.body.contains("read:roles"));
    assert_eq!(b.get("/admin/users/new").await.status, 403);
    // The overview shows what may be read, and dashes for the rest.
    let overview = b.get("/admin").await;
    assert_eq!(overview.status, 200);
    assert!(overview.body.contains("1 of the"), "{}", overview.body);
}

#[tokio::test]
async fn forms_without_csrf_token_or_from_another_origin_are_refused() {
    let (app, mut b, csrf) = signed_in_admin().await;
    let own = b.base.clone();
    let refusals: [(&str, &Pairs<'_>, Option<&str>); 4] = [
        ("no token", &[("name", "no-token")], Some(own.as_str())),
        (
            "a wrong token",
            &[("csrf", "forged"), ("name", "forged")],
            Some(own.as_str()),
        ),
        (
            "the right token from another origin",
            &[("csrf", csrf.as_str()), ("name", "cross")],
            Some("https://evil.example"),
        ),
        (
            "the right token with no origin at all",
            &[("csrf", csrf.as_str()), ("name", "none")],
            None,
        ),
    ];
    for (label, fields, origin) in refusals {
        let r = b.post_from("/admin/roles/new", fields, origin).await;
        assert_eq!(r.status, 403, "{label}: {}", r.body);
    }
    let total = app.api(Method::GET, "/roles", None).await.body;
    assert_eq!(
        total.as_array().unwrap().len(),
        1,
        "only the admins role: {total}"
    );
    // Each refusal is in the audit log, with the signed-in admin and the console's channel.
    let refused = app.api_get("/logs?q=type:fapi&per_page=100").await;
    let refused: Vec<_> = refused
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["response"]["errorCode"] == "csrf_check_failed")
        .collect();
    assert_eq!(refused.len(), 4, "{refused:#?}");
    for e in refused {
        assert_eq!(e["details"]["request"]["path"], "/admin/roles/new");
        assert_eq!(e["details"]["request"]["channel"], "console");
        assert_eq!(e["client_id"], writ_core::CONSOLE_CLIENT_ID);
        assert!(
            e["user_id"].as_str().is_some_and(|u| u.starts_with("usr_")),
            "{e}"
        );
        assert!(!e.to_string().contains(&csrf), "the token is never logged");
    }
    // With both, it works.
    b.submit_ok("/admin/roles/new", &csrf, &[("name", "fine")])
        .await;
}

#[tokio::test]
async fn create_api_role_user_then_effective_permissions_and_token() {
    let (app, mut b, csrf) = signed_in_admin().await;
    // An API with two permissions.
    let api_path = b
        .create(
            "/admin/apis/new",
            &csrf,
            &[
                ("identifier", "https://shop.example/api"),
                ("name", "Shop"),
                ("signing_alg", "RS256"),
                ("token_lifetime", "3600"),
                ("enforce_policies", "on"),
                ("token_dialect", "access_token_authz"),
            ],
        )
        .await;
    for (v, d) in [
        ("read:orders", "Read orders"),
        ("write:orders", "Write orders"),
    ] {
        b.submit_ok(
            &format!("{api_path}/permissions"),
            &csrf,
            &[("value", v), ("description", d)],
        )
        .await;
    }
    let page = b.get(&api_path).await;
    assert!(page.body.contains("read:orders") && page.body.contains("write:orders"));
    let rs = app
        .api_get("/resource-servers/https%3A%2F%2Fshop.example%2Fapi")
        .await;
    assert_eq!(rs["token_lifetime"], 3600);
    assert_eq!(rs["enforce_policies"], true);
    assert_eq!(rs["scopes"].as_array().unwrap().len(), 2);
    assert_eq!(rs["token_claims"]["roles"], false);

    // Token claims: roles under a plain name, group paths under the default name; a
    // restricted name is refused next to the claims' fields and nothing is saved.
    let settings = |roles_claim: &'static str| {
        [
            ("name", "Shop"),
            ("signing_alg", "RS256"),
            ("token_lifetime", "3600"),
            ("enforce_policies", "on"),
            ("token_dialect", "access_token_authz"),
            ("token_roles", "on"),
            ("roles_claim", roles_claim),
            ("token_groups", "paths"),
        ]
    };
    b.submit_refused(&api_path, &csrf, &settings("permissions"), "token_claims")
        .await;
    b.submit_ok(&api_path, &csrf, &settings("roles")).await;
    let rs = app
        .api_get("/resource-servers/https%3A%2F%2Fshop.example%2Fapi")
        .await;
    assert_eq!(rs["token_claims"]["roles_claim"], "roles");
    assert_eq!(rs["token_claims"]["groups"], "paths");
    assert_eq!(
        rs["token_claims"]["groups_claim"],
        format!("{}groups", app.issuer)
    );
    let page = b.get(&api_path).await;
    assert!(page.body.contains("value=\"roles\""), "{}", page.body);

    // A role with one of them.
    let role_path = b
        .create(
            "/admin/roles/new",
            &csrf,
            &[("name", "clerk"), ("description", "Reads orders")],
        )
        .await;

    // A user, created through the form, given the role and a direct grant.
    let user_path = b
        .create(
            "/admin/users/new",
            &csrf,
            &[("email", "Bob@Example.com"), ("password", "bob-password-1")],
        )
        .await;
    let (read_orders, write_orders) = (
        "https://shop.example/api read:orders",
        "https://shop.example/api write:orders",
    );
    for (action, field, value) in [
        (
            format!("{role_path}/permissions"),
            "permission",
            read_orders,
        ),
        (format!("{role_path}/members"), "email", "bob@example.com"),
        (
            format!("{user_path}/permissions"),
            "permission",
            read_orders,
        ),
        (
            format!("{user_path}/permissions"),
            "permission",
            write_orders,
        ),
    ] {
        b.submit_ok(&action, &csrf, &[(field, value)]).await;
    }

    let page = b.get(&user_path).await;
    assert_eq!(page.status, 200);
    let row = |perm: &str| {
        let at = page
            .body
            .find(&format!("data-permission=\"{perm}\""))
            .unwrap_or_else(|| panic!("no {perm}: {}", page.body));
        let end = page.body[at..].find("</tr>").unwrap() + at;
        page.body[at..end].to_owned()
    };
    let read = row("read:orders");
    assert!(
        read.contains(">direct<") && read.contains(">role: clerk<"),
        "{read}"
    );
    let write = row("write:orders");
    assert!(
        write.contains(">direct<") && !write.contains("role: clerk"),
        "{write}"
    );

    // The user's next token carries both.
    let cli = app.password_client().await;
    let t = app
        .password_token(
            &cli,
            "bob@example.com",
            "bob-password-1",
            "https://shop.example/api",
            None,
        )
        .await
        .assert(200);
    let (_, claims) = jwt_parts(t.body["access_token"].as_str().unwrap());
    assert_eq!(
        claims["permissions"],
        json!(["read:orders", "write:orders"])
    );

    // Removing the role asks first (no JavaScript), then removes it.
    let role_id = role_path.rsplit('/').next().unwrap().to_owned();
    let remove = format!("{user_path}/roles/remove");
    let ask = b.ask(&remove, &csrf, &[("role_id", &role_id)]).await;
    assert!(
        ask.body.contains("name=\"confirmed\" value=\"yes\""),
        "{}",
        ask.body
    );
    assert!(ask.body.contains(&format!("value=\"{role_id}\"")));
    let roles = app
        .api(
            Method::GET,
            &format!("/users/{}/roles", user_path.rsplit('/').next().unwrap()),
            None,
        )
        .await
        .body;
    assert_eq!(
        roles.as_array().unwrap().len(),
        1,
        "not removed before confirmation"
    );
    let done = b.confirmed(&remove, &csrf, &[("role_id", &role_id)]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let page = b.get(&user_path).await;
    assert!(!page.body.contains("role: clerk"));
}

#[tokio::test]
async fn errors_are_shown_next_to_the_field_with_the_input_kept() {
    let (app, mut b, csrf) = signed_in_admin().await;
    let api = |lifetime, dialect| {
        [
            ("identifier", "https://x.example/"),
            ("token_lifetime", lifetime),
            ("token_dialect", dialect),
            ("signing_alg", "RS256"),
        ]
    };
    // (form, fields, the field refused, the input the page keeps)
    let cases: [(&str, &Pairs<'_>, &str, Option<&str>); 4] = [
        (
            "/admin/users/new",
            &[("email", "not-an-email"), ("password", "long-enough-1")],
            "email",
            Some("not-an-email"),
        ),
        (
            "/admin/users/new",
            &[("email", "carol@example.com"), ("password", "short")],
            "password",
            Some("carol@example.com"),
        ),
        (
            "/admin/apis/new",
            &api("forever", "access_token"),
            "token_lifetime",
            Some("https://x.example/"),
        ),
        // RBAC off with a permissions dialect: the Management API's own rule, at its field.
        (
            "/admin/apis/new",
            &api("60", "access_token_authz"),
            "token_dialect",
            None,
        ),
    ];
    for (form, fields, field, kept) in cases {
        let r = b.submit_refused(form, &csrf, fields, field).await;
        if let Some(kept) = kept {
            assert!(r.body.contains(&format!("value=\"{kept}\"")), "{field}");
        }
    }

    // Metadata: invalid JSON is refused at its field and the text stays.
    let user = app.create_user("dave@example.com", "dave-password-1").await;
    let path = format!("/admin/users/{user}/metadata");
    let metadata = |app_metadata, user_metadata| {
        [
            ("app_metadata", app_metadata),
            ("user_metadata", user_metadata),
        ]
    };
    let r = b
        .submit_refused(&path, &csrf, &metadata("{\"plan\": ", "{}"), "app_metadata")
        .await;
    assert!(
        r.body.contains("{&quot;plan&quot;: </textarea>")
            || r.body.contains("{&#34;plan&#34;: </textarea>"),
        "{}",
        r.body
    );
    let pro = "{\"plan\": \"pro\"}";
    b.submit_refused(&path, &csrf, &metadata(pro, "[]"), "user_metadata")
        .await;
    let dark = "{\"theme\": \"dark\"}";
    b.submit_ok(&path, &csrf, &metadata(pro, dark)).await;
    let u = app.api_get(&format!("/users/{user}")).await;
    assert_eq!(u["app_metadata"], json!({"plan": "pro"}));
    assert_eq!(u["user_metadata"], json!({"theme": "dark"}));
    // Removing a key in the editor removes it.
    b.submit_ok(&path, &csrf, &metadata("{}", dark)).await;
    let u = app.api_get(&format!("/users/{user}")).await;
    assert_eq!(u["app_metadata"], json!({}));
}

#[tokio::test]
async fn destructive_actions_ask_first() {
    let (app, mut b, csrf) = signed_in_admin().await;
    let role = app.create_role("doomed", &app.mgmt_audience(), &[]).await;
    let path = format!("/admin/roles/{role}/delete");
    let ask = b.ask(&path, &csrf, &[]).await;
    assert!(ask.body.contains("data-testid=\"confirm\""), "{}", ask.body);
    app.api(Method::GET, &format!("/roles/{role}"), None)
        .await
        .assert(200);
    let done = b.confirmed(&path, &csrf, &[]).await;
    assert_eq!(done.status, 303);
    app.api(Method::GET, &format!("/roles/{role}"), None)
        .await
        .assert(404);

    // Blocking a user, rotating a secret: the same.
    let user = app.create_user("erin@example.com", "erin-password-1").await;
    let block = format!("/admin/users/{user}/block");
    let blocked = || async { app.api_get(&format!("/users/{user}")).await["blocked"].clone() };
    b.ask(&block, &csrf, &[]).await;
    assert_eq!(blocked().await, false);
    let done = b.confirmed(&block, &csrf, &[]).await;
    assert_eq!(done.status, 303);
    assert_eq!(blocked().await, true);

    let (id, old) = app.machine(&app.mgmt_audience(), &["read:users"]).await;
    let rotate = format!("/admin/clients/{id}/rotate");
    b.ask(&rotate, &csrf, &[]).await;
    let shown = b.confirmed(&rotate, &csrf, &[]).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    let secret = {
        let at = shown.body.find("data-testid=\"client-secret\">").unwrap() + 28;
        let end = shown.body[at..].find('<').unwrap() + at;
        shown.body[at..end].to_owned()
    };
    assert_ne!(secret, old);
    app.cc_form(&id, &secret, &app.mgmt_audience())
        .await
        .assert(200);
    // Shown once: the client's page does not show it.
    let page = b.get(&format!("/admin/clients/{id}")).await;
    assert!(!page.body.contains(&secret));
}

#[tokio::test]
async fn a_revoked_admin_is_sent_back_to_sign_in_and_then_refused() {
    let app = TestApp::spawn().await;
    let user = admin_user(&app, ADMIN_EMAIL, ADMIN_PW, None).await;
    let mut b = Browser::new(&app);
    assert_eq!(
        b.sign_in("/admin/users", ADMIN_EMAIL, ADMIN_PW)
            .await
            .status,
        200
    );
    let roles = app
        .api(Method::GET, &format!("/users/{user}/roles"), None)
        .await
        .body;
    let role = roles[0]["id"].as_str().unwrap();
    app.remove_roles(&user, &[role]).await;
    // The token predates the change: a fresh one is needed (silently, through the SSO session).
    let r = b.get("/admin/users").await;
    assert_eq!(r.status, 302);
    let again = b.get(&r.location.unwrap()).await;
    assert_eq!(again.status, 302, "SSO: straight back with a code");
    let hop = b.get(&again.location.unwrap()).await;
    assert_eq!(hop.status, 200);
    let r = b.get("/admin/users").await;
    assert_eq!(r.status, 403, "{}", r.body);
}

#[tokio::test]
async fn callback_without_its_sign_in_is_refused() {
    let app = TestApp::spawn().await;
    let mut b = Browser::new(&app);
    let r = b.get("/admin/callback?code=abc&state=xyz").await;
    assert_eq!(r.status, 400);
    assert!(!b.jar.contains_key("writ_admin"));
    // A forged session cookie is no session.
    b.jar.insert("writ_admin".into(), "not.a.token".into());
    assert_eq!(b.get("/admin").await.status, 302);
    // A Management API token from a machine client is not a console session either.
    let token = app.admin_token().await;
    b.jar.insert("writ_admin".into(), token);
    assert_eq!(b.get("/admin").await.status, 302);
}

/// The console's session lives on the server: the cookie is an opaque id (not the token), a
/// copy of it stops working once the admin signs out, and the admin's block (or password
/// change) ends every console session at once.
#[tokio::test]
async fn a_copied_console_cookie_dies_with_logout_and_with_the_admins_block() {
    let (app, mut b, csrf) = signed_in_admin().await;
    let cookie = b.jar["writ_admin"].clone();
    assert_eq!(cookie.matches('.').count(), 0, "an opaque id, not a JWT");
    let id = writ_service::crypto::sha256_hex(&cookie);
    assert!(
        app.state
            .store
            .get_console_session(&id)
            .await
            .unwrap()
            .is_some()
    );
    // The stored token is sealed: the row does not hold it in clear.
    let row = app
        .state
        .store
        .get_console_session(&id)
        .await
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&row.token).contains("eyJ"));
    // A thief's copy of the cookie works while the session does...
    let mut thief = Browser::new(&app);
    thief.jar.insert("writ_admin".into(), cookie.clone());
    assert_eq!(thief.get("/admin/users").await.status, 200);
    // ...and not once the admin signs out.
    let out = b.submit("/admin/logout", &csrf, &[]).await;
    assert_eq!(out.status, 303);
    assert_eq!(thief.get("/admin/users").await.status, 302);
    assert!(
        app.state
            .store
            .get_console_session(&id)
            .await
            .unwrap()
            .is_none()
    );

    // A second admin session, then the admin is blocked through the Management API: the
    // session row is gone and the copy is refused.
    let mut b2 = Browser::new(&app);
    b2.sign_in("/admin", ADMIN_EMAIL, ADMIN_PW).await;
    let cookie2 = b2.jar["writ_admin"].clone();
    let mut thief2 = Browser::new(&app);
    thief2.jar.insert("writ_admin".into(), cookie2.clone());
    assert_eq!(thief2.get("/admin/users").await.status, 200);
    let users = app
        .api(
            Method::GET,
            &format!("/users-by-email?email={ADMIN_EMAIL}"),
            None,
        )
        .await
        .body;
    let uid = users[0]["user_id"].as_str().unwrap().to_owned();
    app.block_user(&uid).await;
    assert!(
        app.state
            .store
            .get_console_session(&writ_service::crypto::sha256_hex(&cookie2))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(thief2.get("/admin/users").await.status, 302);
}

/// The user page lists the user's consents to third-party clients and revokes them.
#[tokio::test]
async fn the_user_page_lists_and_revokes_consents() {
    let (app, mut b, _) = signed_in_admin().await;
    app.create_api("https://todos.example/api", "RS256", &["read:todos"], true)
        .await;
    let user = app
        .create_user("carol@example.com", "carol-password-1")
        .await;
    let (partner, _) = app
        .create_client(json!({"name": "Partner App", "app_type": "spa", "callbacks": ["https://partner.example/cb"], "is_first_party": false}))
        .await;
    let consent = app
        .state
        .store
        .record_consent(
            &user,
            &partner,
            "https://todos.example/api",
            &["read:todos".into()],
        )
        .await
        .unwrap();
    let page = b.get(&format!("/admin/users/{user}")).await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("data-testid=\"user-consent\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("Partner App") && page.body.contains("read:todos"));
    let csrf = hidden(&page.body, "csrf");
    let action = format!("/admin/users/{user}/consents/{}/revoke", consent.id);
    // Confirmation first, then the revocation.
    b.ask(&action, &csrf, &[]).await;
    let done = b.confirmed(&action, &csrf, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(
        app.state
            .store
            .consent(&user, &partner, "https://todos.example/api")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn groups_page_builds_the_tree_and_members_inherit_roles_from_above() {
    let (app, mut b, csrf) = signed_in_admin().await;
    let api = "https://groups.example/api";
    app.create_api(api, "RS256", &["read:x"], true).await;
    let reader = app.create_role("reader", api, &["read:x"]).await;
    let bob = app.create_user("bob@example.com", "bob-password-1").await;
    let new_group = [("name", "eng"), ("description", ""), ("parent_id", "")];
    let eng = b.create("/admin/groups", &csrf, &new_group).await;
    let eng_id = eng.rsplit('/').next().unwrap().to_owned();
    let new_group = [
        ("name", "backend"),
        ("description", ""),
        ("parent_id", &eng_id),
    ];
    let backend = b.create("/admin/groups", &csrf, &new_group).await;
    let backend_id = backend.rsplit('/').next().unwrap().to_owned();

    // The tree, with paths; a move under its own child is refused next to the field.
    let page = b.get("/admin/groups").await;
    assert!(
        page.body.contains("<code>/eng/backend</code>"),
        "{}",
        page.body
    );
    let cycle = [
        ("name", "eng"),
        ("description", ""),
        ("parent_id", backend_id.as_str()),
    ];
    b.submit_refused(&eng, &csrf, &cycle, "parent_id").await;

    // A role on eng reaches bob, a member of backend: the user page says how.
    b.submit_ok(&format!("{eng}/roles"), &csrf, &[("role_id", &reader)])
        .await;
    b.submit_ok(
        &format!("{backend}/members"),
        &csrf,
        &[("email", "bob@example.com")],
    )
    .await;
    let user = b.get(&format!("/admin/users/{bob}")).await;
    assert!(
        user.body.contains("data-testid=\"user-group\""),
        "{}",
        user.body
    );
    assert!(
        user.body.contains("role: reader (group /eng)"),
        "{}",
        user.body
    );
    let detail = b.get(&backend).await;
    assert!(
        detail.body.contains("data-testid=\"group-member\""),
        "{}",
        detail.body
    );

    // Leaving, then deleting eng with its subtree, each after a confirmation.
    let gone = [("user_id", bob.as_str())];
    assert_eq!(
        b.ask(&format!("{backend}/members/remove"), &csrf, &gone)
            .await
            .status,
        200
    );
    let done = b
        .confirmed(&format!("{backend}/members/remove"), &csrf, &gone)
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let done = b.confirmed(&format!("{eng}/delete"), &csrf, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(b.get(&backend).await.status, 404);
}

#[tokio::test]
async fn the_member_and_role_cards_refuse_at_their_field_and_remove_after_asking() {
    let (app, mut b, csrf) = signed_in_admin().await;
    let role = app.create_role("auditor", &app.mgmt_audience(), &[]).await;
    let bob = app.create_user("bob@example.com", "bob-password-1").await;
    let group_path = b
        .create(
            "/admin/groups",
            &csrf,
            &[("name", "ops"), ("description", ""), ("parent_id", "")],
        )
        .await;
    let role_path = format!("/admin/roles/{role}");
    let user_path = format!("/admin/users/{bob}");

    // An unknown email on a role's and on a group's members card, an empty pick on a group's
    // and on a user's roles card: refused next to the field, with what was typed kept.
    let unknown = ("email", "nobody@example.com");
    let none = ("role_id", "");
    let refusals = [
        (
            format!("{role_path}/members"),
            unknown,
            "email",
            "No user has this email address.",
        ),
        (
            format!("{group_path}/members"),
            unknown,
            "email",
            "No user has this email address.",
        ),
        (
            format!("{group_path}/roles"),
            none,
            "role",
            "Choose a role.",
        ),
        (format!("{user_path}/roles"), none, "role", "Choose a role."),
    ];
    for (path, typed, field, message) in &refusals {
        let r = b.submit_refused(path, &csrf, &[*typed], field).await;
        assert!(r.body.contains(message), "{}", r.body);
        assert!(
            r.body.contains(&format!("value=\"{}\"", typed.1)),
            "{}",
            r.body
        );
    }

    // Added through the cards, then removed: each removal asks first, naming who or what.
    let bob_email = [("email", "bob@example.com")];
    b.submit_ok(&format!("{role_path}/members"), &csrf, &bob_email)
        .await;
    b.submit_ok(&format!("{group_path}/members"), &csrf, &bob_email)
        .await;
    b.submit_ok(&format!("{group_path}/roles"), &csrf, &[("role_id", &role)])
        .await;
    let cases = [
        (
            format!("{role_path}/members/remove"),
            ("user_id", bob.as_str()),
            "Remove bob@example.com from auditor?",
        ),
        (
            format!("{group_path}/members/remove"),
            ("user_id", bob.as_str()),
            "Remove bob@example.com from ops?",
        ),
        (
            format!("{group_path}/roles/remove"),
            ("role_id", role.as_str()),
            "Remove this role from ops?",
        ),
    ];
    for (path, field, heading) in &cases {
        let ask = b.ask(path, &csrf, &[*field]).await;
        assert!(ask.body.contains(heading), "{}", ask.body);
        assert!(ask.body.contains("data-testid=\"confirm\""), "{}", ask.body);
    }
    let shown = |body: &str| {
        ["role-member", "group-member", "group-role"]
            .map(|t| body.contains(&format!("data-testid=\"{t}\"")))
    };
    let before = (b.get(&role_path).await.body, b.get(&group_path).await.body);
    assert!(shown(&before.0)[0], "asked, not removed: {}", before.0);
    assert_eq!(
        shown(&before.1)[1..],
        [true, true],
        "asked, not removed: {}",
        before.1
    );
    for (path, field, _) in &cases {
        let done = b.confirmed(path, &csrf, &[*field]).await;
        assert_eq!(done.status, 303, "{}", done.body);
        let to = done.location.unwrap();
        assert!(
            to.ends_with("?flash=removed#members") || to.ends_with("?flash=removed#roles"),
            "{to}"
        );
    }
    let after = (b.get(&role_path).await.body, b.get(&group_path).await.body);
    assert!(!shown(&after.0)[0], "{}", after.0);
    assert_eq!(shown(&after.1)[1..], [false, false], "{}", after.1);
    assert_eq!(app.api_get(&format!("/users/{bob}/roles")).await, json!([]));
}

/// The actions page: a new action from the trigger's template, a test run of the draft against
/// the sample event (claims shown, a restricted claim dropped, the secret used but not shown),
/// a bad event refused at its field, then deploy and bind make a real token carry the claim.
#[tokio::test]
async fn actions_page_edits_tests_deploys_and_binds_a_hook() {
    let (app, mut b, csrf) = signed_in_admin().await;
    let api = "https://actions.example/api";
    app.create_api(api, "RS256", &["read:x"], true).await;
    app.create_user("bob@example.com", "bob-password-1").await;
    let client = app.password_client().await;
    // The hook's claim in bob's next access token, if any.
    let plan = async |app: &TestApp| {
        let t = app
            .password_token(&client, "bob@example.com", "bob-password-1", api, None)
            .await
            .assert(200)
            .body;
        jwt_parts(t["access_token"].as_str().unwrap())
            .1
            .get("https://a.example/plan")
            .cloned()
    };

    let new = [
        ("name", "plan claim"),
        ("trigger", "post-login"),
        ("code", ""),
    ];
    let page = b.create("/admin/actions/new", &csrf, &new).await;
    let detail = b.get(&page).await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert!(
        detail.body.contains("exports.onExecutePostLogin"),
        "template code"
    );
    assert!(detail.body.contains("not deployed"));

    let code = "exports.onExecutePostLogin = async (event, api) => { api.accessToken.setCustomClaim('https://a.example/plan', event.user.app_metadata.plan || 'free'); api.accessToken.setCustomClaim('scope', 'admin'); api.idToken.setCustomClaim('https://a.example/key', event.secrets.KEY.length); };";
    b.submit_ok(&page, &csrf, &[("name", "plan claim"), ("code", code)])
        .await;
    b.submit_ok(
        &format!("{page}/secrets"),
        &csrf,
        &[("secret_name", "KEY"), ("secret_value", "s3cr3t-value")],
    )
    .await;
    let bad = b
        .submit(
            &format!("{page}/secrets"),
            &csrf,
            &[("secret_name", "no spaces"), ("secret_value", "x")],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("data-testid=\"error-secret_name\""));

    let sample =
        serde_json::to_string(&json!({"user": {"app_metadata": {"plan": "pro"}}})).unwrap();
    let run = b
        .submit(&format!("{page}/test"), &csrf, &[("event", &sample)])
        .await;
    assert_eq!(run.status, 200, "{}", run.body);
    assert!(
        run.body.contains("data-testid=\"test-result\""),
        "{}",
        run.body
    );
    assert!(run.body.contains("https://a.example/plan"), "{}", run.body);
    assert!(
        run.body.contains("&#34;pro&#34;") || run.body.contains("&quot;pro&quot;"),
        "{}",
        run.body
    );
    assert!(
        !run.body.contains("s3cr3t-value"),
        "the secret is never shown"
    );
    assert!(
        !run.body.contains("&#34;scope&#34;"),
        "restricted claim dropped"
    );
    let broken = b
        .submit(&format!("{page}/test"), &csrf, &[("event", "{not json")])
        .await;
    assert_eq!(broken.status, 400);
    assert!(broken.body.contains("data-testid=\"error-event\""));

    // Nothing runs at token requests before deploy and bind.
    assert!(plan(&app).await.is_none());
    let done = b.submit(&format!("{page}/deploy"), &csrf, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let done = b
        .submit(&format!("{page}/binding"), &csrf, &[("bind", "true")])
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let list = b.get("/admin/actions").await;
    assert!(list.body.contains("data-testid=\"action-row\""));
    assert!(
        list.body.contains(">deployed<") && list.body.contains(">bound<"),
        "{}",
        list.body
    );
    assert_eq!(plan(&app).await, Some(json!("free")));

    // Deleting asks first, then the hook stops running at once.
    let done = b.confirmed(&format!("{page}/delete"), &csrf, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(b.get(&page).await.status, 404);
    assert!(plan(&app).await.is_none());
}
