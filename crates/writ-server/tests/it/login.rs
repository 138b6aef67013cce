//! Browser login protocol (no browser): /authorize, the hosted login form, codes with PKCE,
//! refresh rotation and reuse detection, sessions, logout, CORS, userinfo, revoke, introspect.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

pub(crate) const TODOS: &str = "https://todos.example/api";
pub(crate) const SPA: &str = "http://127.0.0.1:5173";
pub(crate) const CB: &str = "http://127.0.0.1:5173/callback";
pub(crate) const VERIFIER: &str =
    "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-and-some-more-entropy";

pub(crate) struct Setup {
    pub app: TestApp,
    pub spa: String,
    pub alice: String,
    pub editor: String,
}

pub(crate) async fn setup() -> Setup {
    setup_with(TestApp::spawn().await).await
}

pub(crate) async fn setup_with(app: TestApp) -> Setup {
    let (editor, alice) = app
        .todo_editor(TODOS, "alice@example.com", "alice-password-1")
        .await;
    app.allow_offline_access(TODOS).await;
    let spa = todo_spa(&app).await;
    Setup {
        app,
        spa,
        alice,
        editor,
    }
}

/// The SPA the login tests sign in through.
pub(crate) async fn todo_spa(app: &TestApp) -> String {
    app.create_client(json!({"name": "Todo SPA", "app_type": "spa", "callbacks": [CB], "web_origins": [SPA], "allowed_logout_urls": [format!("{SPA}/")]}))
        .await
        .0
}

pub(crate) fn authorize_url(s: &Setup, extra: &[(&str, &str)]) -> String {
    let ch = challenge(VERIFIER);
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.extend_pairs([
        ("response_type", "code"),
        ("client_id", s.spa.as_str()),
        ("redirect_uri", CB),
        (
            "scope",
            "openid profile email offline_access read:todos write:todos",
        ),
        ("audience", TODOS),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", ch.as_str()),
        ("code_challenge_method", "S256"),
        ("auth0Client", "eyJuYW1lIjoiYXV0aDAtcmVhY3QifQ"),
    ]);
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!("{}/authorize?{}", s.app.base, q.finish())
}

pub(crate) fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .expect("redirect")
        .to_str()
        .unwrap()
        .to_owned()
}

pub(crate) fn query_param(url: &str, key: &str) -> Option<String> {
    let u = url::Url::parse(url).unwrap();
    u.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// Logs in through the hosted page; returns (redirect location, session cookie).
pub(crate) async fn login(s: &Setup, authorize: &str, user: &str, pw: &str) -> (String, String) {
    let h = http();
    let page = h.get(authorize).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let csrf_cookie = set_cookie(&page, "writ_csrf").expect("csrf cookie");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(
        page.headers()["referrer-policy"],
        "same-origin",
        "keeps a real Origin on the form POST"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"username\"") && html.contains("name=\"password\""));
    let r = post_form(
        format!("{}/u/login", s.app.base),
        Some(&csrf_cookie),
        Some(&s.app.base),
        &login_form(&html, user, pw),
    )
    .await;
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap());
    let session = set_cookie(&r, "writ_session").expect("session cookie");
    (location(&r), session)
}

/// A `web_message` answer: a 200 page that only `origin` may frame; its HTML.
pub(crate) async fn web_message_page(r: reqwest::Response, origin: &str) -> String {
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains(&format!("frame-ancestors {origin}")), "{csp}");
    r.text().await.unwrap()
}

/// Alice's login through the hosted page from the usual `/authorize`.
pub(crate) async fn login_alice(s: &Setup) -> (String, String) {
    login(
        s,
        &authorize_url(s, &[]),
        "alice@example.com",
        "alice-password-1",
    )
    .await
}

pub(crate) async fn exchange(s: &Setup, code: &str, verifier: &str) -> Resp {
    s.app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &s.spa),
            ("code", code),
            ("redirect_uri", CB),
            ("code_verifier", verifier),
        ])
        .await
}

pub(crate) async fn refresh(s: &Setup, rt: &str) -> Resp {
    s.app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &s.spa),
            ("refresh_token", rt),
        ])
        .await
}

#[tokio::test]
async fn code_flow_with_pkce_then_refresh_rotation() {
    let s = setup().await;
    let (loc, _session) = login_alice(&s).await;
    assert!(loc.starts_with(CB));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("st-123"));
    let code = query_param(&loc, "code").unwrap();
    let t = exchange(&s, &code, VERIFIER).await.assert(200).body;
    let (h, at) = jwt_parts(t["access_token"].as_str().unwrap());
    assert_eq!(h["alg"], "ES256");
    assert_eq!(at["sub"], s.alice);
    assert_eq!(
        at["aud"],
        json!([TODOS, format!("{}userinfo", s.app.issuer)])
    );
    assert_eq!(at["permissions"], json!(["read:todos", "write:todos"]));
    assert_eq!(
        at["scope"],
        "openid profile email offline_access read:todos write:todos"
    );
    assert_eq!(at["gty"], "authorization_code");
    let (ih, idt) = jwt_parts(t["id_token"].as_str().unwrap());
    assert_eq!(ih["alg"], "RS256");
    assert_eq!(idt["aud"], s.spa);
    assert_eq!(idt["nonce"], "n-456");
    assert!(idt["sid"].is_string() && idt["auth_time"].is_i64());
    assert_eq!(idt["email"], "alice@example.com");
    // userinfo with the access token.
    let ui = s
        .app
        .http
        .get(format!("{}/userinfo", s.app.base))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(ui.status(), 200);
    assert_eq!(
        ui.json::<Value>().await.unwrap()["email"],
        "alice@example.com"
    );
    // Without a token: 401 and a bare challenge (RFC 6750 §3.1); with a bad one, `invalid_token`.
    let url = format!("{}/userinfo", s.app.base);
    let none = s.app.http.get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer realm=\"writ\"");
    let bad = s
        .app
        .http
        .get(&url)
        .bearer_auth("x.y.z")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let challenge = bad.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    assert_eq!(bad.json::<Value>().await.unwrap()["error"], "invalid_token");
    // A refresh re-evaluates RBAC: revoke write:todos from the role, refresh, it is gone.
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    s.app
        .permissions(
            Method::DELETE,
            &format!("/roles/{}", s.editor),
            TODOS,
            &["write:todos"],
        )
        .await
        .assert(204);
    let t2 = refresh(&s, &rt1).await.assert(200).body;
    let rt2 = t2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated");
    let (_, at2) = jwt_parts(t2["access_token"].as_str().unwrap());
    assert_eq!(at2["permissions"], json!(["read:todos"]));
    assert_eq!(at2["gty"], "refresh_token");
    assert!(at2["authz_ver"].as_i64() > at["authz_ver"].as_i64());
    // Reusing the rotated token revokes the family: the newest token dies too.
    let r = refresh(&s, &rt1).await.assert(400);
    assert_eq!(
        r.body,
        json!({"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."})
    );
    refresh(&s, &rt2).await.assert(400);
}

#[tokio::test]
async fn code_is_single_use_and_reuse_revokes_what_it_issued() {
    let s = setup().await;
    let (loc, _) = login_alice(&s).await;
    let code = query_param(&loc, "code").unwrap();
    let t = exchange(&s, &code, VERIFIER).await.assert(200).body;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let again = exchange(&s, &code, VERIFIER).await.assert(400);
    assert_eq!(again.body["error"], "invalid_grant");
    refresh(&s, &rt).await.assert(400);
}

#[tokio::test]
async fn pkce_and_redirect_rules() {
    let s = setup().await;
    let h = http();
    // Unknown client / unregistered redirect URI: an error page, never a redirect.
    for url in [
        format!(
            "{}/authorize?response_type=code&client_id=nope&redirect_uri={CB}",
            s.app.base
        ),
        authorize_url(&s, &[]).replace("%2Fcallback", "%2Fevil"),
    ] {
        let r = h.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.headers().get("location").is_none());
    }
    // A public client without PKCE, or with plain: error sent back to the redirect URI.
    let no_pkce = format!(
        "{}/authorize?response_type=code&client_id={}&redirect_uri={}&state=x",
        s.app.base,
        s.spa,
        url::form_urlencoded::byte_serialize(CB.as_bytes()).collect::<String>()
    );
    let r = h.get(&no_pkce).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&location(&r), "state").as_deref(), Some("x"));
    let plain =
        authorize_url(&s, &[]).replace("code_challenge_method=S256", "code_challenge_method=plain");
    let r = h.get(&plain).send().await.unwrap();
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("invalid_request")
    );
    let r = h
        .get(authorize_url(&s, &[]).replace("response_type=code", "response_type=token"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("unsupported_response_type")
    );
    // Wrong verifier, missing verifier, wrong redirect_uri at the token endpoint.
    for (verifier, redirect) in [
        ("wrong-verifier-wrong-verifier-wrong-verifier-000", CB),
        ("", CB),
        (VERIFIER, "http://127.0.0.1:5173/other"),
    ] {
        let (loc, _) = login_alice(&s).await;
        let code = query_param(&loc, "code").unwrap();
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("client_id", s.spa.as_str()),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
        ];
        if !verifier.is_empty() {
            form.push(("code_verifier", verifier));
        }
        s.app
            .token_form(&form)
            .await
            .assert_error(400, "invalid_grant");
    }
}

#[tokio::test]
async fn login_form_protections() {
    let s = setup().await;
    let page = http().get(authorize_url(&s, &[])).send().await.unwrap();
    let csrf_cookie = set_cookie(&page, "writ_csrf").unwrap();
    let html = page.text().await.unwrap();
    let form = login_form(&html, "alice@example.com", "alice-password-1");
    let url = format!("{}/u/login", s.app.base);
    // No CSRF cookie (a cross-site post) → refused; a foreign or opaque Origin → refused even
    // with the cookie.
    for (cookie, origin) in [
        (None, None),
        (Some(csrf_cookie.as_str()), Some("null")),
        (Some(csrf_cookie.as_str()), Some("https://evil.example")),
    ] {
        let r = post_form(&url, cookie, origin, &form).await;
        assert_eq!(r.status(), 403, "cookie {cookie:?}, origin {origin:?}");
    }
    let cookie = Some(csrf_cookie.as_str());
    // Wrong password and unknown email read the same.
    let mut bad = form.clone();
    bad[3].1 = "wrong-password".into();
    let r = post_form(&url, cookie, None, &bad).await;
    assert_eq!(r.status(), 400);
    let t1 = r.text().await.unwrap();
    assert!(t1.contains("Wrong email or password."));
    let mut unknown = form.clone();
    unknown[2].1 = "nobody@example.com".into();
    let t2 = post_form(&url, cookie, None, &unknown)
        .await
        .text()
        .await
        .unwrap();
    assert!(t2.contains("Wrong email or password."));
    // Brute force: after 10 failures the pair is blocked, even with the right password.
    for _ in 0..9 {
        post_form(&url, cookie, None, &bad).await;
    }
    let r = post_form(&url, cookie, None, &form).await;
    assert_eq!(r.status(), 429);
    assert!(r.text().await.unwrap().contains("blocked"));
}

#[tokio::test]
async fn sso_prompt_none_web_message_and_logout() {
    let s = setup().await;
    // prompt=none without a session → login_required.
    assert_login_required(&s, None).await;
    let (_, session) = login_alice(&s).await;
    // With the session: a code without any UI.
    let r = get_with_cookie(authorize_url(&s, &[("prompt", "none")]), &session).await;
    assert_eq!(r.status(), 302);
    assert!(query_param(&location(&r), "code").is_some());
    // web_message (auth0-spa-js's silent iframe): posts to the redirect origin only, framable by it.
    let r = get_with_cookie(
        authorize_url(&s, &[("prompt", "none"), ("response_mode", "web_message")]),
        &session,
    )
    .await;
    let html = web_message_page(r, SPA).await;
    assert!(
        html.contains("\"type\":\"authorization_response\"")
            && html.contains(&format!("\"{SPA}\""))
            && html.contains("\"code\"")
    );
    // prompt=login forces the form.
    let r = get_with_cookie(authorize_url(&s, &[("prompt", "login")]), &session).await;
    assert_eq!(r.status(), 200);
    // Logout: returnTo off the allow list → refused; on it → redirect, and the session is gone.
    let logout = |return_to: &str| {
        let return_to: String =
            url::form_urlencoded::byte_serialize(return_to.as_bytes()).collect();
        format!(
            "{}/v2/logout?client_id={}&returnTo={return_to}",
            s.app.base, s.spa
        )
    };
    let r = get_with_cookie(logout("https://evil.example/"), &session).await;
    assert_eq!(r.status(), 400);
    let r = get_with_cookie(logout(&format!("{SPA}/")), &session).await;
    assert_eq!(r.status(), 302);
    assert_eq!(location(&r), format!("{SPA}/"));
    assert_login_required(&s, Some(&session)).await;
}

/// `/authorize?prompt=none` from a browser sending the `cookie` header (or none) answers
/// `login_required`.
async fn assert_login_required(s: &Setup, cookie: Option<&str>) {
    let mut req = http().get(authorize_url(s, &[("prompt", "none")]));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    let r = req.send().await.unwrap();
    assert_eq!(
        query_param(&location(&r), "error").as_deref(),
        Some("login_required"),
        "cookie {cookie:?}"
    );
}

#[tokio::test]
async fn expired_sessions_are_not_used() {
    let s = setup().await;
    let now = chrono::Utc::now().timestamp();
    for (auth, seen, exp) in [
        (now - 100, now - 10, now - 1),
        (now - 10 * 86_400, now - 4 * 86_400, now + 86_400),
    ] {
        let token = format!("t{exp}{seen}");
        s.app
            .state
            .store
            .create_session(&writ_store::Session {
                id: writ_service::crypto::sha256_hex(&token),
                sid: format!("sid{exp}"),
                user_id: s.alice.clone(),
                auth_time: auth,
                last_seen: seen,
                expires_at: exp,
                amr: None,
            })
            .await
            .unwrap();
        assert_login_required(&s, Some(&format!("writ_session={token}"))).await;
    }
}

#[tokio::test]
async fn cors_revoke_and_introspect() {
    let s = setup().await;
    // Preflight from the SPA's origin allows Auth0-Client; another origin gets nothing.
    let pre = |origin: &'static str| {
        s.app
            .http
            .request(Method::OPTIONS, format!("{}/oauth/token", s.app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,auth0-client",
            )
            .send()
    };
    let r = pre(SPA).await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], SPA);
    assert!(
        r.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("Auth0-Client")
    );
    let r = pre("https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // Tokens for introspection and revocation.
    let (loc, _) = login_alice(&s).await;
    let t = exchange(&s, &query_param(&loc, "code").unwrap(), VERIFIER)
        .await
        .assert(200)
        .body;
    let at = t["access_token"].as_str().unwrap().to_owned();
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    // The API's own client: introspection answers it for access tokens of its API.
    let rs_client = s.app.machine(TODOS, &["read:todos"]).await;
    let introspect = |token: String| {
        let (app, rs_client) = (&s.app, &rs_client);
        async move { app.introspect(rs_client, &token).await }
    };
    let i = introspect(at.clone()).await;
    assert_eq!(i["active"], true);
    assert_eq!(i["sub"], s.alice);
    assert_eq!(i["permissions"], json!(["read:todos", "write:todos"]));
    // Not its refresh token (issued to the SPA): nothing to learn.
    assert_eq!(introspect(rt.clone()).await["active"], false);
    assert_eq!(introspect("garbage".into()).await["active"], false);
    // Freshness: a role change makes the old access token inactive.
    s.app.remove_roles(&s.alice, &[&s.editor]).await;
    assert_eq!(introspect(at).await["active"], false);
    // Public clients cannot introspect.
    let r = s.app.token_form(&[("client_id", &s.spa)]).await;
    assert_eq!(r.status, 400);
    // Revocation (RFC 7009) kills the refresh family.
    let r = s
        .app
        .http
        .post(format!("{}/oauth/revoke", s.app.base))
        .form(&[("client_id", s.spa.as_str()), ("token", rt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(introspect(rt.clone()).await["active"], false);
    refresh(&s, &rt).await.assert(400);
}

/// Starts `n` refresh families for alice through the code flow; returns their refresh tokens.
async fn families(s: &Setup, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    let (_, session) = login_alice(s).await;
    for _ in 0..n {
        let r = get_with_cookie(authorize_url(s, &[("prompt", "none")]), &session).await;
        let code = query_param(&location(&r), "code").unwrap();
        out.push(
            exchange(s, &code, VERIFIER)
                .await
                .assert(200)
                .field("refresh_token"),
        );
    }
    out
}

#[tokio::test]
async fn refresh_races_have_exactly_one_winner() {
    let s = setup().await;
    for rt in families(&s, 5).await {
        let (a, b) = tokio::join!(refresh(&s, &rt), refresh(&s, &rt));
        let wins = [a.status.as_u16(), b.status.as_u16()]
            .iter()
            .filter(|c| **c == 200)
            .count();
        assert_eq!(wins, 1, "one winner: {} / {}", a.body, b.body);
        // The loser's reuse revoked the family, so the winner's new token is dead as well.
        let winner = if a.status == 200 { a } else { b };
        refresh(&s, winner.body["refresh_token"].as_str().unwrap())
            .await
            .assert(400);
    }
}

#[tokio::test]
async fn another_clients_refresh_token_is_refused_and_left_as_it_was() {
    let s = setup().await;
    let rt = families(&s, 1).await.remove(0);
    // A second SPA, allowed the refresh_token grant too, presents the first one's token.
    let other = todo_spa(&s.app).await;
    let r = s
        .app
        .token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &other),
            ("refresh_token", &rt),
        ])
        .await
        .assert(400);
    assert_eq!(r.body["error"], "invalid_grant");
    // Nothing was used or revoked: the token still rotates, once, for its own client.
    let next = refresh(&s, &rt).await.assert(200).field("refresh_token");
    refresh(&s, &next).await.assert(200);
}

#[tokio::test]
async fn sixteen_concurrent_refreshers_lose_nothing() {
    let s = setup().await;
    let mut tokens = families(&s, 16).await;
    for _round in 0..5 {
        let mut set = tokio::task::JoinSet::new();
        for (i, rt) in tokens.iter().enumerate() {
            let (url, spa, rt) = (
                format!("{}/oauth/token", s.app.base),
                s.spa.clone(),
                rt.clone(),
            );
            set.spawn(async move {
                let r = reqwest::Client::new()
                    .post(url)
                    .form(&[
                        ("grant_type", "refresh_token"),
                        ("client_id", spa.as_str()),
                        ("refresh_token", rt.as_str()),
                    ])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                (
                    i,
                    r.json::<Value>().await.unwrap()["refresh_token"]
                        .as_str()
                        .unwrap()
                        .to_owned(),
                )
            });
        }
        while let Some(res) = set.join_next().await {
            let (i, next) = res.unwrap();
            tokens[i] = next;
        }
        let unique: std::collections::HashSet<_> = tokens.iter().collect();
        assert_eq!(unique.len(), 16, "no lost or duplicated rotation");
    }
}

#[tokio::test]
async fn sign_up_is_off_by_default_and_works_when_enabled() {
    let s = setup().await;
    let h = http();
    let html = text_of(h.get(authorize_url(&s, &[]))).await;
    assert!(!html.contains("/u/signup"), "no sign-up link when disabled");
    assert_eq!(
        h.get(format!("{}/u/signup?tx=x", s.app.base))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let s = setup_with(TestApp::spawn_with_vars(&[("WRIT_SIGNUP_ENABLED", "true")]).await).await;
    let page = h.get(authorize_url(&s, &[])).send().await.unwrap();
    let login_html = page.text().await.unwrap();
    assert!(
        login_html.contains("/u/signup?tx="),
        "sign-up link on the login page"
    );
    let tx = hidden(&login_html, "tx");
    let q: String = url::form_urlencoded::byte_serialize(tx.as_bytes()).collect();
    let form_page = h
        .get(format!("{}/u/signup?tx={q}", s.app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(form_page.status(), 200);
    let csrf_cookie = set_cookie(&form_page, "writ_csrf").unwrap();
    let html = form_page.text().await.unwrap();
    assert!(html.contains("action=\"/u/signup\""));
    let signup = format!("{}/u/signup", s.app.base);
    let post = |user: &'static str, pw: &'static str| {
        let form = login_form(&html, user, pw);
        let (signup, cookie, origin) = (&signup, &csrf_cookie, &s.app.base);
        async move { post_form(signup, Some(cookie), Some(origin), &form).await }
    };
    // Validation errors are answered on the form.
    assert_eq!(post("not-an-email", "long-enough-1").await.status(), 400);
    assert_eq!(post("carol@example.com", "short").await.status(), 400);
    // The password policy's dictionary, with advice on the page.
    let common = post("carol@example.com", "Password123").await;
    assert_eq!(common.status(), 400);
    assert!(common.text().await.unwrap().contains("most common ones"));
    // A taken email and a new one end on the same page: the login form with a neutral notice,
    // no session. Nothing tells them apart (see `proxy::sign_up_answers_the_same_for_taken_and_new_emails`).
    let dup = post("alice@example.com", "long-enough-1").await;
    assert_eq!(dup.status(), 200);
    assert!(set_cookie(&dup, "writ_session").is_none());
    let dup = dup.text().await.unwrap();
    assert!(dup.contains("If this address was not registered yet, your account is ready: log in."));
    assert!(!dup.contains("already exists"));
    assert!(dup.contains("action=\"/u/login\""));
    // alice's password did not change.
    login_alice(&s).await;
    // A new user is created and logs in from that page; no role, no permissions.
    let r = post("carol@example.com", "carol-password-1").await;
    assert_eq!(r.status(), 200);
    assert!(set_cookie(&r, "writ_session").is_none());
    let csrf_cookie = set_cookie(&r, "writ_csrf").unwrap();
    let page = r.text().await.unwrap();
    assert!(page.contains("your account is ready"));
    let r = post_form(
        format!("{}/u/login", s.app.base),
        Some(&csrf_cookie),
        Some(&s.app.base),
        &login_form(&page, "carol@example.com", "carol-password-1"),
    )
    .await;
    assert_eq!(r.status(), 302);
    assert!(set_cookie(&r, "writ_session").is_some());
    let code = query_param(&location(&r), "code").unwrap();
    let t = exchange(&s, &code, VERIFIER).await.assert(200).body;
    let (_, at) = jwt_parts(t["access_token"].as_str().unwrap());
    assert_eq!(at["permissions"], json!([]));
    let users = s
        .app
        .api_get("/users-by-email?email=carol%40example.com")
        .await;
    assert_eq!(users[0]["user_id"], at["sub"]);
    // Cross-site posts are refused here too.
    let r = post_form(
        &signup,
        None,
        None,
        &[
            ("tx", tx.as_str()),
            ("csrf", "x"),
            ("username", "dave@example.com"),
            ("password", "dave-password-1"),
        ],
    )
    .await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn an_imported_hash_logs_in_through_the_hosted_page_and_is_upgraded() {
    let s = setup().await;
    let bcrypt = bcrypt::hash("bob-password-1", 4).unwrap();
    s.app
        .state
        .store
        .create_user(writ_store::NewUser {
            email: "bob@example.com".into(),
            password_hash: Some(bcrypt.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    let (loc, _session) = login(
        &s,
        &authorize_url(&s, &[]),
        "bob@example.com",
        "bob-password-1",
    )
    .await;
    assert!(query_param(&loc, "code").is_some(), "{loc}");
    let stored = s
        .app
        .state
        .store
        .credentials_by_email("bob@example.com")
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert!(stored.starts_with("$argon2id$"), "re-hashed: {stored}");
    assert_ne!(stored, bcrypt);
}
