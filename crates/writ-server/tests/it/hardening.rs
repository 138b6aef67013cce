//! The security review's findings, each reproduced as an attack that must now fail: who may get
//! a Management API token, machine tokens that outlive a change to their client, sessions and
//! refresh tokens that outlive a password change or a block, PKCE downgrade, code replay racing
//! the first use, and introspection of other clients' tokens.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::events::{Guarded, until_stale};
use crate::helpers::*;
use crate::login::{
    CB, Setup, TODOS, VERIFIER, authorize_url, exchange, location, login, login_alice, query_param,
    refresh, setup,
};

/// Asserts an authorization error sent back to the callback: `error`, and the issuer named
/// (RFC 9207).
fn assert_error_redirect(loc: &str, error: &str, issuer: &str) {
    assert_eq!(query_param(loc, "error").as_deref(), Some(error), "{loc}");
    assert_eq!(query_param(loc, "iss").as_deref(), Some(issuer), "{loc}");
}

/// An admin role holding every Management API permission, assigned to alice.
async fn make_alice_admin(s: &Setup) {
    let role = s
        .app
        .create_role(
            "admin",
            &s.app.mgmt_audience(),
            writ_core::MANAGEMENT_SCOPES,
        )
        .await;
    s.app.assign_roles(&s.alice, &[&role]).await;
}

/// `/authorize` for `client` asking for the Management API, in the browser holding `session`.
async fn authorize_mgmt(s: &Setup, client: &str, session: &str, prompt_none: bool) -> String {
    let mut url = authorize_url(s, &[])
        .replace(
            &format!("client_id={}", s.spa),
            &format!("client_id={client}"),
        )
        .replace(
            &format!(
                "audience={}",
                url::form_urlencoded::byte_serialize(TODOS.as_bytes()).collect::<String>()
            ),
            &format!(
                "audience={}",
                url::form_urlencoded::byte_serialize(s.app.mgmt_audience().as_bytes())
                    .collect::<String>()
            ),
        );
    if prompt_none {
        url.push_str("&prompt=none");
    }
    let r = get_with_cookie(url, session).await;
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    location(&r)
}

/// The attack: a signed-in admin visits a page whose hidden iframe runs `/authorize` with
/// `prompt=none` for the Management API through a client the attacker registered (third-party
/// or not). Only Writ's console may get user tokens for that audience.
#[tokio::test]
async fn only_the_console_gets_user_tokens_for_the_management_api() {
    let s = setup().await;
    make_alice_admin(&s).await;
    let (_, session) = login_alice(&s).await;
    let (third, _) = s
        .app
        .create_client(
            json!({"name": "evil", "app_type": "spa", "callbacks": [CB], "is_first_party": false}),
        )
        .await;
    for client in [s.spa.clone(), third] {
        let loc = authorize_mgmt(&s, &client, &session, true).await;
        assert!(loc.starts_with(CB), "{loc}");
        assert_eq!(query_param(&loc, "code"), None, "{loc}");
        assert_eq!(
            query_param(&loc, "error").as_deref(),
            Some("access_denied"),
            "{loc}"
        );
    }
    // The password grant cannot be used for it either, even by a first-party client.
    let pw = s.app.password_client().await;
    s.app
        .password_token(
            &pw,
            "alice@example.com",
            "alice-password-1",
            &s.app.mgmt_audience(),
            None,
        )
        .await
        .assert_error(403, "access_denied");
    // Machine tokens still come from client grants, and the console still signs in (see the
    // admin tests).
    s.app.admin_token().await;
}

/// RFC 9700 §2.1.1: a `code_verifier` for a code issued without a challenge is refused.
#[tokio::test]
async fn a_code_verifier_for_a_code_without_a_challenge_is_refused() {
    let s = setup().await;
    let (id, secret) = s
        .app
        .create_client(json!({"name": "web", "app_type": "regular_web", "callbacks": [CB]}))
        .await;
    let url = format!(
        "{}/authorize?response_type=code&client_id={id}&redirect_uri={}&scope=openid&state=s",
        s.app.base,
        url::form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>()
    );
    let (loc, _) = login(&s, &url, "alice@example.com", "alice-password-1").await;
    let code = query_param(&loc, "code").expect("a code");
    let ex = |verifier: Option<&'static str>| {
        let (code, id, secret) = (code.clone(), id.clone(), secret.clone());
        let app = &s.app;
        async move {
            let mut f = vec![
                ("grant_type", "authorization_code".to_string()),
                ("client_id", id),
                ("client_secret", secret),
                ("code", code),
                ("redirect_uri", CB.to_string()),
            ];
            if let Some(v) = verifier {
                f.push(("code_verifier", v.to_string()));
            }
            let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.token_form(&f).await
        }
    };
    let r = ex(Some(VERIFIER)).await.assert_error(400, "invalid_grant");
    assert!(
        r.body["error_description"]
            .as_str()
            .unwrap()
            .contains("code_challenge"),
        "{}",
        r.body
    );
    // The refusal did not spend the code: its rightful client still redeems it, once.
    ex(None).await.assert(200);
    ex(None).await.assert(400);
}

/// Many exchanges of one code at once: exactly one gets tokens, and since the others are
/// replays, the refresh token it got is revoked whatever the interleaving (the code's use and
/// its refresh family are recorded in one transaction).
#[tokio::test]
async fn a_code_replayed_while_its_first_use_runs_revokes_what_it_issued() {
    let s = setup().await;
    let (loc, _) = login_alice(&s).await;
    let code = query_param(&loc, "code").unwrap();
    let tries: Vec<_> = (0..8).map(|_| exchange(&s, &code, VERIFIER)).collect();
    let results = futures_util::future::join_all(tries).await;
    let won: Vec<&Resp> = results.iter().filter(|r| r.status == 200).collect();
    assert_eq!(won.len(), 1, "exactly one exchange wins");
    let rt = won[0].body["refresh_token"].as_str().unwrap();
    refresh(&s, rt).await.assert(400);
}

/// What a browser session of alice's left behind: the SSO cookie, an access token and a
/// refresh token (the SPA's).
struct SignedIn {
    session: String,
    access: String,
    refresh: String,
}

async fn sign_in(s: &Setup) -> SignedIn {
    sign_in_with(s, "alice-password-1").await
}

async fn sign_in_with(s: &Setup, password: &str) -> SignedIn {
    let (loc, session) = login(s, &authorize_url(s, &[]), "alice@example.com", password).await;
    let t = exchange(s, &query_param(&loc, "code").unwrap(), VERIFIER)
        .await
        .assert(200)
        .body;
    SignedIn {
        session,
        access: t["access_token"].as_str().unwrap().to_owned(),
        refresh: t["refresh_token"].as_str().unwrap().to_owned(),
    }
}

/// Whether `/authorize` with `prompt=none` still finds a live session.
async fn silent_login_works(s: &Setup, session: &str) -> bool {
    let r = get_with_cookie(authorize_url(s, &[("prompt", "none")]), session).await;
    query_param(&location(&r), "code").is_some()
}

/// An introspection of `token` by the API's own client.
async fn active(s: &Setup, api_client: &(String, String), token: &str) -> bool {
    s.app.introspect(api_client, token).await["active"] == true
}

/// An admin resets a user's password, blocks them, deletes them: every SSO session and
/// refresh token of the user ends at once, and their access tokens are stale.
#[tokio::test]
async fn password_resets_blocks_and_deletes_end_every_session_and_token() {
    let s = setup().await;
    let api_client = s.app.machine(TODOS, &["read:todos"]).await;
    let user = format!("/users/{}", s.alice);

    let a = sign_in(&s).await;
    assert!(silent_login_works(&s, &a.session).await);
    assert!(active(&s, &api_client, &a.access).await);
    s.app
        .api(
            Method::PATCH,
            &user,
            Some(json!({"password": "a-new-password-2", "connection": "Username-Password-Authentication"})),
        )
        .await
        .assert(200);
    assert!(
        !silent_login_works(&s, &a.session).await,
        "SSO session ended"
    );
    refresh(&s, &a.refresh).await.assert(400);
    assert!(
        !active(&s, &api_client, &a.access).await,
        "access token stale"
    );

    // A block, then a delete, do the same.
    let b = sign_in_with(&s, "a-new-password-2").await;
    s.app
        .api(Method::PATCH, &user, Some(json!({"blocked": true})))
        .await
        .assert(200);
    assert!(!silent_login_works(&s, &b.session).await);
    refresh(&s, &b.refresh).await.assert(400);
    assert!(!active(&s, &api_client, &b.access).await);
    s.app
        .api(Method::PATCH, &user, Some(json!({"blocked": false})))
        .await
        .assert(200);

    let c = sign_in_with(&s, "a-new-password-2").await;
    s.app.api_delete(&user).await.assert(204);
    assert!(!silent_login_works(&s, &c.session).await);
    refresh(&s, &c.refresh).await.assert(400);
    assert!(!active(&s, &api_client, &c.access).await);
}

/// The id of the (one) client grant of `client_id`.
async fn grant_id(app: &TestApp, client_id: &str) -> String {
    app.api(
        Method::GET,
        &format!("/client-grants?client_id={client_id}"),
        None,
    )
    .await
    .body[0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// A machine client's tokens die with what made them: a rotated secret, a removed scope of
/// its grant, the client's deletion — at the Management API, at introspection and at a guard
/// following the feed.
#[tokio::test]
async fn machine_tokens_go_stale_when_their_client_changes() {
    let g = Guarded::spawn().await;
    let app = &g.app;
    let (id, secret) = app
        .machine(&app.mgmt_audience(), &["read:users", "read:roles"])
        .await;
    let mgmt = app.mgmt_token(&id, &secret).await;
    let (_, claims) = jwt_parts(&mgmt);
    assert!(
        claims["authz_ver"].is_i64(),
        "machine tokens carry authz_ver"
    );
    app.get_as(&mgmt, "/users").await.assert(200);

    // Rotating the secret: the old token is refused at once.
    let rotated = app.rotate_secret(&id).await;
    let r = app.get_as(&mgmt, "/users").await.assert(401);
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains("permissions changed")
    );
    let mgmt = app.mgmt_token(&id, &rotated).await;
    app.get_as(&mgmt, "/users").await.assert(200);

    // Removing a scope from its grant.
    let gid = grant_id(app, &id).await;
    app.set_grant_scopes(&gid, &["read:roles"])
        .await
        .assert(200);
    app.get_as(&mgmt, "/roles").await.assert(401);
    let mgmt = app.mgmt_token(&id, &rotated).await;
    app.get_as(&mgmt, "/roles").await.assert(200);

    // A token for the guarded API, then the client's deletion: the guard (following the
    // feed), introspection and the Management API all refuse what it got before.
    app.grant_client(&id, TODOS, &["read:todos"])
        .await
        .assert(201);
    let api_token = app.cc_token(&id, &rotated, TODOS, None).await;
    let mgmt = app.mgmt_token(&id, &rotated).await;
    g.guard.verify(&api_token).await.expect("valid before");
    let introspector = app.machine(TODOS, &["read:todos"]).await;
    let introspect = |token: String| {
        let (app, introspector) = (&app, &introspector);
        async move { app.introspect(introspector, &token).await["active"].clone() }
    };
    assert_eq!(introspect(api_token.clone()).await, true);
    app.api_delete(&format!("/clients/{id}")).await.assert(204);
    until_stale(&g.guard, &api_token, 5, "the client's deletion").await;
    assert_eq!(introspect(api_token).await, false);
    app.get_as(&mgmt, "/roles").await.assert(401);
}

/// An authz event stream already open ends once its client no longer holds
/// `read:authz_events`.
#[tokio::test]
async fn an_open_event_stream_ends_when_its_client_loses_the_scope() {
    let app = TestApp::spawn().await;
    let (id, secret) = app
        .machine(&app.mgmt_audience(), &["read:authz_events", "read:users"])
        .await;
    let token = app.mgmt_token(&id, &secret).await;
    let mut stream = app
        .http
        .get(format!("{}/api/v2/authz-events", app.base))
        .bearer_auth(&token)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let gid = grant_id(&app, &id).await;
    app.set_grant_scopes(&gid, &["read:users"])
        .await
        .assert(200);
    // The stream ends (the body completes) rather than staying open.
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream was still open 5 s after");
}

/// Callback and logout URLs that a browser would run (`javascript:`, `data:`…) are refused;
/// custom schemes only for native apps.
#[tokio::test]
async fn script_and_custom_scheme_urls_are_refused_outside_native_apps() {
    let app = TestApp::spawn().await;
    for (field, url) in [
        ("callbacks", "javascript:alert(document.cookie)//"),
        ("callbacks", "data:text/html,<script>alert(1)</script>"),
        ("allowed_logout_urls", "javascript:alert(1)"),
        ("callbacks", "com.example.app:/callback"),
    ] {
        app.api_post(
            "/clients",
            json!({"name": "x", "app_type": "spa", field: [url]}),
        )
        .await
        .assert_message(400, field);
    }
    let (native, _) = app
        .create_client(json!({"name": "app", "app_type": "native", "callbacks": ["com.example.app:/callback"]}))
        .await;
    // Still never a script, even for a native app; and a native app turned SPA keeps no
    // custom scheme.
    app.api(
        Method::PATCH,
        &format!("/clients/{native}"),
        Some(json!({"callbacks": ["javascript:alert(1)"]})),
    )
    .await
    .assert(400);
    app.api(
        Method::PATCH,
        &format!("/clients/{native}"),
        Some(json!({"app_type": "spa"})),
    )
    .await
    .assert(400);
}

/// `/oidc/logout`: the `id_token_hint` must be an ID token of this issuer issued to the
/// `client_id` given; an access token, or another client's ID token, is refused (and no
/// redirect happens to that client's logout URL).
#[tokio::test]
async fn logout_hints_must_be_id_tokens_of_the_client_named() {
    let s = setup().await;
    let (other, _) = s
        .app
        .create_client(json!({"name": "other", "app_type": "spa", "allowed_logout_urls": ["https://other.example/bye"]}))
        .await;
    let (loc, session) = login_alice(&s).await;
    let t = exchange(&s, &query_param(&loc, "code").unwrap(), VERIFIER)
        .await
        .assert(200)
        .body;
    let id_token = t["id_token"].as_str().unwrap();
    let access = t["access_token"].as_str().unwrap();
    let logout = |hint: &str, client: &str, to: &str| {
        let url = format!(
            "{}/oidc/logout?{}",
            s.app.base,
            url::form_urlencoded::Serializer::new(String::new())
                .append_pair("id_token_hint", hint)
                .append_pair("client_id", client)
                .append_pair("post_logout_redirect_uri", to)
                .finish()
        );
        let session = session.clone();
        async move { get_with_cookie(url, &session).await }
    };
    for (hint, client, to) in [
        (id_token, other.as_str(), "https://other.example/bye"),
        (access, s.spa.as_str(), "http://127.0.0.1:5173/"),
    ] {
        let r = logout(hint, client, to).await;
        assert_eq!(r.status(), 400);
        assert!(r.headers().get("location").is_none());
    }
    // The session survived the refused attempts; the right hint logs out.
    assert!(silent_login_works(&s, &session).await);
    let r = logout(id_token, &s.spa, "http://127.0.0.1:5173/").await;
    assert_eq!(r.status(), 302);
    assert!(!silent_login_works(&s, &session).await);
}

/// A third-party client (`is_first_party: false`): the user sees what it asks for and allows
/// or denies it, once per (user, client, API, scopes); `prompt=none` without consent gets
/// `consent_required`; `prompt=consent` asks again; its tokens carry only the permissions it
/// asked for; consents are listed and revoked through `/api/v2/grants`, which revokes its
/// refresh tokens.
#[tokio::test]
async fn third_party_clients_need_the_users_consent() {
    let s = setup().await;
    let (third, _) = s
        .app
        .create_client(json!({"name": "Partner App", "app_type": "spa", "callbacks": [CB], "is_first_party": false}))
        .await;
    // The SPA's request, for the partner client, asking for `read:todos` (or the `scope`
    // given in `extra`).
    let url = |extra: &[(&str, &str)]| {
        let mut all: Vec<(&str, &str)> = extra.to_vec();
        if !extra.iter().any(|(k, _)| *k == "scope") {
            all.push(("scope", "openid offline_access read:todos"));
        }
        authorize_url(&s, &[])
            .replace(
                &format!("client_id={}", s.spa),
                &format!("client_id={third}"),
            )
            .replace(
                "&scope=openid+profile+email+offline_access+read%3Atodos+write%3Atodos",
                "",
            )
            + "&"
            + &url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(all)
                .finish()
    };
    let h = http();
    // Sign in through the hosted page: the consent page comes instead of a code.
    let page = h.get(url(&[])).send().await.unwrap();
    let csrf_cookie = set_cookie(&page, "writ_csrf").unwrap();
    let html = page.text().await.unwrap();
    let r = h
        .post(format!("{}/u/login", s.app.base))
        .header("cookie", &csrf_cookie)
        .header("origin", &s.app.base)
        .form(&login_form(&html, "alice@example.com", "alice-password-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the consent page, not a redirect");
    let session = set_cookie(&r, "writ_session").unwrap();
    let consent_csrf = set_cookie(&r, "writ_csrf").unwrap();
    let html = r.text().await.unwrap();
    assert!(html.contains("Partner App") && html.contains("action=\"/u/consent\""));
    assert!(html.contains("data-scope=\"read:todos\"") && html.contains("read:todos desc"));
    assert!(!html.contains("data-scope=\"write:todos\""));
    let decide = |decision: &'static str, html: String, cookie: String| {
        let session = session.clone();
        let h = h.clone();
        let base = s.app.base.clone();
        async move {
            h.post(format!("{base}/u/consent"))
                .header("cookie", format!("{session}; {cookie}"))
                .header("origin", &base)
                .form(&[
                    ("tx", hidden(&html, "tx")),
                    ("csrf", hidden(&html, "csrf")),
                    ("decision", decision.into()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    // Silent authentication cannot skip the page.
    let silent = |extra: &[(&str, &str)]| {
        let u = url(extra);
        let session = session.clone();
        async move {
            let r = get_with_cookie(u, &session).await;
            (
                r.status().as_u16(),
                r.headers()
                    .get("location")
                    .map(|l| l.to_str().unwrap().to_owned()),
            )
        }
    };
    let (_, loc) = silent(&[("prompt", "none")]).await;
    assert_error_redirect(&loc.unwrap(), "consent_required", &s.app.issuer);
    // A refusal goes back as access_denied; another site cannot post the form.
    let r = decide("deny", html.clone(), consent_csrf.clone()).await;
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("access_denied")
    );
    let forged = h
        .post(format!("{}/u/consent", s.app.base))
        .header("cookie", format!("{session}; {consent_csrf}"))
        .header("origin", "https://evil.example")
        .form(&[
            ("tx", hidden(&html, "tx")),
            ("csrf", hidden(&html, "csrf")),
            ("decision", "allow".to_string()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    // Allowed: a code, and tokens that carry only what was asked for (alice also holds
    // write:todos).
    let r = decide("allow", html.clone(), consent_csrf.clone()).await;
    let loc = location(&r);
    assert_eq!(
        query_param(&loc, "iss").as_deref(),
        Some(s.app.issuer.as_str())
    );
    let t = s
        .app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &third),
            ("code", &query_param(&loc, "code").unwrap()),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ])
        .await
        .assert(200)
        .body;
    let (_, at) = jwt_parts(t["access_token"].as_str().unwrap());
    assert_eq!(at["permissions"], json!(["read:todos"]));
    let rt = t["refresh_token"].as_str().unwrap().to_owned();

    // Once given, silent authentication works; prompt=consent or more scopes ask again.
    let (_, loc) = silent(&[("prompt", "none")]).await;
    assert!(query_param(&loc.unwrap(), "code").is_some());
    assert_eq!(silent(&[("prompt", "consent")]).await.0, 200);
    let (_, loc) = silent(&[
        ("prompt", "none"),
        ("scope", "openid read:todos write:todos"),
    ])
    .await;
    assert_eq!(
        query_param(&loc.unwrap(), "error").as_deref(),
        Some("consent_required")
    );
    // A first-party client never asks.
    assert!(
        query_param(
            &crate::login::location(
                &get_with_cookie(authorize_url(&s, &[("prompt", "none")]), &session).await
            ),
            "code"
        )
        .is_some()
    );

    // The Management API lists and revokes it; revoking ends the client's refresh tokens.
    let grants = s.app.api_get(&format!("/grants?user_id={}", s.alice)).await;
    assert_eq!(grants.as_array().unwrap().len(), 1, "{grants}");
    let g = &grants[0];
    assert_eq!(g["clientID"], third);
    assert_eq!(g["user_id"], s.alice);
    assert_eq!(g["audience"], TODOS);
    assert_eq!(
        g["scope"],
        json!(["offline_access", "openid", "read:todos"])
    );
    let paged = s.app.api_get("/grants?include_totals=true").await;
    assert_eq!(paged["total"], 1);
    s.app
        .api_delete(&format!("/grants/{}", g["id"].as_str().unwrap()))
        .await
        .assert(204);
    s.app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &third),
            ("refresh_token", &rt),
        ])
        .await
        .assert_error(400, "invalid_grant");
    let (_, loc) = silent(&[("prompt", "none")]).await;
    assert_eq!(
        query_param(&loc.unwrap(), "error").as_deref(),
        Some("consent_required")
    );
    s.app
        .api_delete(&format!("/grants?user_id={}", s.alice))
        .await
        .assert(204);
    s.app.api_delete("/grants").await.assert(400);
    // A third-party client cannot use the password grant (no consent step), even when its
    // grant types include it.
    let partner = s
        .app
        .create_client(json!({"name": "partner cli", "app_type": "regular_web", "grant_types": ["password"], "is_first_party": false}))
        .await;
    let r = s
        .app
        .password_token(
            &partner,
            "alice@example.com",
            "alice-password-1",
            TODOS,
            None,
        )
        .await;
    assert_eq!(r.body["error"], "unauthorized_client", "{}", r.body);
    assert!(
        r.body["error_description"]
            .as_str()
            .unwrap()
            .contains("Third-party"),
        "{}",
        r.body
    );
}

/// RFC 9207: every authorization response names the issuer, in every response mode, errors
/// included.
#[tokio::test]
async fn every_authorization_response_names_its_issuer() {
    let s = setup().await;
    let (_, session) = login_alice(&s).await;
    let get = |extra: &[(&str, &str)]| {
        let url = authorize_url(&s, extra);
        let session = session.clone();
        async move {
            let r = get_with_cookie(url, &session).await;
            let loc = r
                .headers()
                .get("location")
                .map(|l| l.to_str().unwrap().to_owned());
            (loc, r.text().await.unwrap())
        }
    };
    let iss_json = serde_json::to_string(&s.app.issuer).unwrap();
    // Query (success and error) and fragment.
    let (loc, _) = get(&[]).await;
    assert_eq!(
        query_param(&loc.unwrap(), "iss").as_deref(),
        Some(s.app.issuer.as_str())
    );
    let (loc, _) = get(&[("max_age", "soon")]).await;
    assert_error_redirect(&loc.unwrap(), "invalid_request", &s.app.issuer);
    let (loc, _) = get(&[("response_mode", "fragment")]).await;
    let loc = loc.unwrap();
    let frag = loc.split_once('#').unwrap().1;
    assert!(
        url::form_urlencoded::parse(frag.as_bytes()).any(|(k, v)| k == "iss" && v == s.app.issuer),
        "{loc}"
    );
    // form_post and web_message carry it in the page.
    let (_, html) = get(&[("response_mode", "form_post")]).await;
    assert!(html.contains("name=\"iss\""), "{html}");
    let (_, html) = get(&[("response_mode", "web_message"), ("prompt", "none")]).await;
    assert!(html.contains(&format!("\"iss\":{iss_json}")), "{html}");
    // And discovery says so.
    let d = s.app.get("/.well-known/openid-configuration").await.body;
    assert_eq!(d["authorization_response_iss_parameter_supported"], true);
}
