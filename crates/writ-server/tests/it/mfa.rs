//! Multi-factor authentication (TOTP): enrollment and challenge on the hosted page (the test
//! computes codes with totp-rs from the secret the page shows), wrong and replayed codes, the
//! recovery code's single use, Auth0's MFA API for the password grant (`mfa_required` →
//! associate → `mfa-otp` → tokens with `amr`), `too_many_attempts`, the
//! authentication-methods Management API and the console's reset, policy by role and by a
//! post-login hook, "remember this browser".

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::login::{CB, TODOS, VERIFIER, authorize_url, query_param, setup_with};

/// The 6-digit code of the base32 `secret` at `at` (Unix seconds).
fn code_at(secret: &str, at: u64) -> String {
    // SHA-1, 6 digits, 30-second steps: the builder's defaults, RFC 6238's.
    let t = totp_rs::Builder::new()
        .with_secret(totp_rs::Secret::try_from_base32(secret).expect("a base32 secret"))
        .build()
        .expect("a TOTP");
    t.generate(at).to_string()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The text of the element marked `data-testid="{id}"` (its first text node).
fn testid(html: &str, id: &str) -> String {
    let marker = format!("data-testid=\"{id}\">");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id} in page: {html}"))
        + marker.len();
    let end = html[start..].find('<').unwrap() + start;
    html[start..end].to_owned()
}

/// Posts the login form of `authorize` in `b`: the page after the password.
async fn password_step(b: &mut Browser, authorize: &str, user: &str, pw: &str) -> Page {
    let login = b.get(authorize).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let tx = hidden(&login.body, "tx");
    let csrf = hidden(&login.body, "csrf");
    b.post(
        "/u/login",
        &[
            ("tx", tx.as_str()),
            ("csrf", csrf.as_str()),
            ("username", user),
            ("password", pw),
        ],
    )
    .await
}

/// Posts a code (or recovery code) on the second-factor page `page`.
async fn send_code(b: &mut Browser, page: &Page, code: &str) -> Page {
    let csrf = hidden(&page.body, "csrf");
    b.post("/u/mfa", &[("csrf", csrf.as_str()), ("code", code)])
        .await
}

/// The ID token's claims of the code in the redirect `loc`.
async fn id_token_of(app: &TestApp, spa: &str, loc: &str) -> (Value, Value) {
    assert!(loc.starts_with(CB), "{loc}");
    let code = query_param(loc, "code").expect("a code");
    let t = app
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", spa),
            ("code", &code),
            ("redirect_uri", CB),
            ("code_verifier", VERIFIER),
        ])
        .await
        .assert(200)
        .body;
    let (_, id) = jwt_parts(t["id_token"].as_str().unwrap());
    let (_, at) = jwt_parts(t["access_token"].as_str().unwrap());
    (id, at)
}

const ACR: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";

#[tokio::test]
async fn hosted_page_enrollment_challenge_replay_and_recovery_code() {
    let app = TestApp::spawn_with_vars(&[
        ("WRIT_MFA_POLICY", "always"),
        ("WRIT_MFA_AMR_AUDIENCES", TODOS),
    ])
    .await;
    let s = setup_with(app).await;
    let (alice, pw) = ("alice@example.com", "alice-password-1");

    // Enrollment: the password, then the QR page (an inline SVG) with the key in text.
    let mut b = Browser::new(&s.app);
    let enroll = password_step(&mut b, &authorize_url(&s, &[]), alice, pw).await;
    assert_eq!(enroll.status, 200, "{}", enroll.body);
    assert!(
        enroll.body.contains("data-testid=\"mfa-qr\"><svg"),
        "{}",
        enroll.body
    );
    assert!(b.jar.contains_key("writ_mfa") && !b.jar.contains_key("writ_session"));
    let secret = testid(&enroll.body, "mfa-secret");
    // A wrong code: the enrollment page again, with the error.
    let wrong = send_code(&mut b, &enroll, "000000").await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(wrong.body.contains("mfa-error") && wrong.body.contains("mfa-qr"));
    assert_eq!(testid(&wrong.body, "mfa-secret"), secret, "the same key");
    // A form without its CSRF token is refused.
    let forged = b
        .post("/u/mfa", &[("csrf", "nope"), ("code", "123456")])
        .await;
    assert_eq!(forged.status, 403);
    let t0 = now();
    let shown = send_code(&mut b, &wrong, &code_at(&secret, t0)).await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    let recovery = testid(&shown.body, "mfa-recovery-code");
    assert_eq!(recovery.len(), 24);
    assert!(
        !b.jar.contains_key("writ_session"),
        "no session before continuing"
    );
    let csrf = hidden(&shown.body, "csrf");
    let done = b.post("/u/mfa/continue", &[("csrf", csrf.as_str())]).await;
    assert_eq!(done.status, 302, "{}", done.body);
    assert!(b.jar.contains_key("writ_session"));
    let (id, at) = id_token_of(&s.app, &s.spa, &done.location.unwrap()).await;
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(id["acr"], ACR);
    assert_eq!(
        at["amr"],
        json!(["pwd", "otp", "mfa"]),
        "the API asks for amr"
    );
    // The continue form is single use.
    let again = b.post("/u/mfa/continue", &[("csrf", csrf.as_str())]).await;
    assert_eq!(again.status, 400);

    // Next login: the challenge page (no QR). The code already used is refused (replay);
    // the next step's code is accepted.
    let mut b = Browser::new(&s.app);
    let challenge = password_step(&mut b, &authorize_url(&s, &[]), alice, pw).await;
    assert_eq!(challenge.status, 200);
    assert!(!challenge.body.contains("mfa-qr"));
    let replayed = send_code(&mut b, &challenge, &code_at(&secret, t0)).await;
    assert_eq!(replayed.status, 400, "a replayed code is refused");
    let ok = send_code(&mut b, &replayed, &code_at(&secret, t0 + 30)).await;
    assert_eq!(ok.status, 302, "{}", ok.body);
    let (id, _) = id_token_of(&s.app, &s.spa, &ok.location.unwrap()).await;
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));

    // The recovery code logs in once and hands out the next one.
    let mut b = Browser::new(&s.app);
    let challenge = password_step(&mut b, &authorize_url(&s, &[]), alice, pw).await;
    let used = send_code(&mut b, &challenge, &recovery.to_lowercase()).await;
    assert_eq!(used.status, 200, "{}", used.body);
    let next = testid(&used.body, "mfa-recovery-code");
    assert_ne!(next, recovery);
    let csrf = hidden(&used.body, "csrf");
    let done = b.post("/u/mfa/continue", &[("csrf", csrf.as_str())]).await;
    assert_eq!(done.status, 302);
    let mut b = Browser::new(&s.app);
    let challenge = password_step(&mut b, &authorize_url(&s, &[]), alice, pw).await;
    let reused = send_code(&mut b, &challenge, &recovery).await;
    assert_eq!(reused.status, 400, "a recovery code is single use");
    let fresh = send_code(&mut b, &reused, &next).await;
    assert_eq!(fresh.status, 200);

    // Codes and secrets are never logged.
    let logs = s.app.api_get("/logs?per_page=100").await.to_string();
    for secret_thing in [&secret, &recovery, &next] {
        assert!(!logs.contains(secret_thing.as_str()));
    }
    assert!(logs.contains("gd_enrollment_complete") && logs.contains("gd_auth_failed"));
}

#[tokio::test]
async fn remember_this_browser_when_turned_on() {
    let app = TestApp::spawn_with_vars(&[
        ("WRIT_MFA_POLICY", "always"),
        ("WRIT_MFA_REMEMBER_BROWSER_DAYS", "30"),
    ])
    .await;
    let s = setup_with(app).await;
    let (alice, pw) = ("alice@example.com", "alice-password-1");
    let mut b = Browser::new(&s.app);
    let enroll = password_step(&mut b, &authorize_url(&s, &[]), alice, pw).await;
    let secret = testid(&enroll.body, "mfa-secret");
    let shown = send_code(&mut b, &enroll, &code_at(&secret, now())).await;
    let csrf = hidden(&shown.body, "csrf");
    let done = b.post("/u/mfa/continue", &[("csrf", csrf.as_str())]).await;
    assert_eq!(done.status, 302);
    assert!(b.jar.contains_key("writ_mfa_remember"));
    // The same browser, a new login (prompt=login): no challenge, and amr says so.
    let again = password_step(
        &mut b,
        &authorize_url(&s, &[("prompt", "login")]),
        alice,
        pw,
    )
    .await;
    assert_eq!(again.status, 302, "{}", again.body);
    let (id, _) = id_token_of(&s.app, &s.spa, &again.location.unwrap()).await;
    assert_eq!(id["amr"], json!(["pwd"]));
    // Another browser is challenged.
    let mut other = Browser::new(&s.app);
    let challenged = password_step(&mut other, &authorize_url(&s, &[]), alice, pw).await;
    assert_eq!(challenged.status, 200);
    assert!(challenged.body.contains("mfa-submit"));
}

/// The password grant's form with a scope.
async fn password_grant(app: &TestApp, client: &(String, String), user: &str, pw: &str) -> Resp {
    app.password_token(client, user, pw, TODOS, Some("openid read:todos"))
        .await
}

async fn mfa_grant(app: &TestApp, client: &(String, String), fields: &[(&str, &str)]) -> Resp {
    let mut f = vec![
        ("client_id", client.0.as_str()),
        ("client_secret", client.1.as_str()),
    ];
    f.extend_from_slice(fields);
    app.token_form(&f).await
}

/// The `mfa-otp` grant of the half-login `token` with `otp`.
async fn otp_grant(app: &TestApp, client: &(String, String), token: &str, otp: &str) -> Resp {
    mfa_grant(
        app,
        client,
        &[("grant_type", OTP), ("mfa_token", token), ("otp", otp)],
    )
    .await
}

/// The `mfa-recovery-code` grant of the half-login `token` with `code`.
async fn recovery_grant(app: &TestApp, client: &(String, String), token: &str, code: &str) -> Resp {
    mfa_grant(
        app,
        client,
        &[
            ("grant_type", RECOVERY),
            ("mfa_token", token),
            ("recovery_code", code),
        ],
    )
    .await
}

/// `POST /mfa/challenge` of the half-login `token` (an OTP challenge), with the client's secret.
async fn otp_challenge(app: &TestApp, client: &(String, String), token: &str) -> Resp {
    let ch = json!({"client_id": client.0, "client_secret": client.1, "mfa_token": token, "challenge_type": "otp"});
    to_resp(
        app.http
            .post(format!("{}/mfa/challenge", app.base))
            .json(&ch)
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn mfa_call(app: &TestApp, method: Method, path: &str, bearer: &str, body: Value) -> Resp {
    let mut r = app
        .http
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(bearer);
    if !body.is_null() {
        r = r.json(&body);
    }
    to_resp(r.send().await.unwrap()).await
}

/// The password grant of a user who must pass a second factor: its `mfa_token`.
async fn mfa_token(app: &TestApp, client: &(String, String), user: &str, pw: &str) -> String {
    password_grant(app, client, user, pw)
        .await
        .assert(403)
        .field("mfa_token")
}

/// `GET /mfa/authenticators` with a valid `mfa_token`: the list.
async fn authenticators(app: &TestApp, token: &str) -> Value {
    mfa_call(app, Method::GET, "/mfa/authenticators", token, Value::Null)
        .await
        .assert(200)
        .body
}

/// An app whose role `mfa-admins` must pass a second factor (and whose todos API learns the
/// `amr`), and bob (`bob-password-123`), a todo editor holding that role; returns bob's id.
async fn app_with_bob_needing_mfa() -> (TestApp, String) {
    let app = TestApp::spawn_with_vars(&[
        ("WRIT_MFA_ROLES", "mfa-admins"),
        ("WRIT_MFA_AMR_AUDIENCES", TODOS),
    ])
    .await;
    let (_, bob) = app
        .todo_editor(TODOS, "bob@example.com", "bob-password-123")
        .await;
    let admins = app.create_role("mfa-admins", TODOS, &["write:todos"]).await;
    app.assign_roles(&bob, &[&admins]).await;
    (app, bob)
}

/// Enrolls an OTP authenticator through the MFA API with a pending login's `mfa_token`, for
/// `client`; returns its secret.
async fn associate_otp(app: &TestApp, client: &(String, String), token: &str) -> String {
    let body =
        json!({"client_id": client.0, "client_secret": client.1, "authenticator_types": ["otp"]});
    let a = mfa_call(app, Method::POST, "/mfa/associate", token, body)
        .await
        .assert(200)
        .body;
    a["secret"].as_str().unwrap().to_owned()
}

const OTP: &str = "http://auth0.com/oauth/grant-type/mfa-otp";
const RECOVERY: &str = "http://auth0.com/oauth/grant-type/mfa-recovery-code";

/// The `mfa-otp` grant that finishes a password login hands out a refresh token on the
/// password grant's rule (`offline_access` asked for, allowed by the API and the client), and a
/// refresh keeps saying a second factor was used.
#[tokio::test]
async fn mfa_otp_grant_issues_a_refresh_token_that_keeps_the_amr() {
    let (app, bob) = app_with_bob_needing_mfa().await;
    app.allow_offline_access(TODOS).await;
    let client = app
        .create_client(json!({"name": "cli", "app_type": "regular_web",
            "grant_types": ["password", "refresh_token"]}))
        .await;
    let scope = Some("openid offline_access read:todos");
    let token = app
        .password_token(&client, "bob@example.com", "bob-password-123", TODOS, scope)
        .await
        .assert(403)
        .field("mfa_token");
    let code = code_at(&associate_otp(&app, &client, &token).await, now());
    let t = otp_grant(&app, &client, &token, &code)
        .await
        .assert(200)
        .body;
    let refresh = t["refresh_token"].as_str().expect("a refresh token");
    let r = mfa_grant(
        &app,
        &client,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await
    .assert(200)
    .body;
    let (_, at) = jwt_parts(r["access_token"].as_str().unwrap());
    assert_eq!(at["sub"], bob);
    assert_eq!(at["amr"], json!(["pwd", "otp", "mfa"]));
    assert!(r["refresh_token"].is_string(), "rotated: {r}");
}

#[tokio::test]
async fn password_grant_mfa_api_by_role() {
    let (app, bob) = app_with_bob_needing_mfa().await;
    let carol = app
        .create_user("carol@example.com", "carol-password-1")
        .await;
    let client = app.password_client().await;

    // Without the role: tokens at once, `amr` saying how.
    let t = password_grant(&app, &client, "carol@example.com", "carol-password-1")
        .await
        .assert(200)
        .body;
    let (_, id) = jwt_parts(t["id_token"].as_str().unwrap());
    assert_eq!(id["amr"], json!(["pwd"]));
    assert!(id.get("acr").is_none());
    let _ = carol;

    // With it: `mfa_required` and an mfa_token.
    let r = password_grant(&app, &client, "bob@example.com", "bob-password-123")
        .await
        .assert(403);
    assert_eq!(r.body["error"], "mfa_required");
    assert_eq!(
        r.body["error_description"],
        "Multifactor authentication required"
    );
    let token = r.field("mfa_token");
    // Not enrolled: no authenticators; a challenge is refused; associate enrolls.
    assert_eq!(authenticators(&app, &token).await, json!([]));
    otp_challenge(&app, &client, &token).await.assert(400);
    mfa_call(
        &app,
        Method::GET,
        "/mfa/authenticators",
        "not-a-token",
        Value::Null,
    )
    .await
    .assert_error(401, "invalid_token");
    let body =
        json!({"client_id": client.0, "client_secret": client.1, "authenticator_types": ["otp"]});
    let a = mfa_call(&app, Method::POST, "/mfa/associate", &token, body.clone())
        .await
        .assert(200)
        .body;
    assert_eq!(a["authenticator_type"], "otp");
    let secret = a["secret"].as_str().unwrap().to_owned();
    let uri = a["barcode_uri"].as_str().unwrap();
    assert!(
        uri.starts_with("otpauth://totp/127.0.0.1:bob%40example.com?"),
        "{uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")) && uri.contains("issuer=127.0.0.1"));
    let recovery = a["recovery_codes"][0].as_str().unwrap().to_owned();

    // A wrong code; then the right one: tokens whose amr says a second factor was used.
    let wrong = otp_grant(&app, &client, &token, "000001").await.assert(400);
    assert_eq!(
        wrong.body,
        json!({"error": "invalid_grant", "error_description": "Invalid otp_code."})
    );
    let t0 = now();
    let code = code_at(&secret, t0);
    let t = otp_grant(&app, &client, &token, &code)
        .await
        .assert(200)
        .body;
    let (_, at) = jwt_parts(t["access_token"].as_str().unwrap());
    let (_, id) = jwt_parts(t["id_token"].as_str().unwrap());
    assert_eq!(at["sub"], bob);
    assert_eq!(at["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(at["acr"], ACR);
    assert_eq!(id["amr"], json!(["pwd", "otp", "mfa"]));
    assert_eq!(at["scope"], "openid read:todos");
    // The mfa_token is single use.
    let code2 = code_at(&secret, t0 + 30);
    otp_grant(&app, &client, &token, &code2)
        .await
        .assert_error(400, "invalid_grant");

    // Enrolled now: a new login is challenged; a replayed code is refused; associate is refused.
    let token = mfa_token(&app, &client, "bob@example.com", "bob-password-123").await;
    let list = authenticators(&app, &token).await;
    assert_eq!(list[0]["authenticator_type"], "otp");
    assert_eq!(list[0]["active"], true);
    mfa_call(&app, Method::POST, "/mfa/associate", &token, body)
        .await
        .assert_error(403, "access_denied");
    let c = otp_challenge(&app, &client, &token).await.assert(200);
    assert_eq!(c.body, json!({"challenge_type": "otp"}));
    otp_grant(&app, &client, &token, &code)
        .await
        .assert_error(400, "invalid_grant");
    // Another client cannot use this mfa_token.
    let other = app.password_client().await;
    otp_grant(&app, &other, &token, &code2)
        .await
        .assert_error(400, "invalid_grant");
    // The recovery code: tokens and the next recovery code; then it is spent.
    let t = recovery_grant(&app, &client, &token, &recovery)
        .await
        .assert(200)
        .body;
    let next = t["recovery_code"].as_str().unwrap();
    assert!(next.len() == 24 && next != recovery);
    let token = mfa_token(&app, &client, "bob@example.com", "bob-password-123").await;
    recovery_grant(&app, &client, &token, &recovery)
        .await
        .assert_error(400, "invalid_grant");
}

#[tokio::test]
async fn too_many_attempts_then_management_api_resets_the_factor() {
    let app = TestApp::spawn_with_vars(&[("WRIT_MFA_POLICY", "always")]).await;
    let (_, dave) = app
        .todo_editor(TODOS, "dave@example.com", "dave-password-123")
        .await;
    let client = app.password_client().await;
    let token = mfa_token(&app, &client, "dave@example.com", "dave-password-123").await;
    let secret = associate_otp(&app, &client, &token).await;
    // Ten wrong codes, then even the right one is refused: the bucket is empty.
    for _ in 0..10 {
        otp_grant(&app, &client, &token, "999999")
            .await
            .assert_error(400, "invalid_grant");
    }
    let code = code_at(&secret, now());
    let r = otp_grant(&app, &client, &token, &code)
        .await
        .assert_error(429, "too_many_attempts");
    assert!(r.header("retry-after").is_some());

    // The Management API: the factor listed (Auth0's shape), deleted, audited.
    let path = format!("/users/{dave}/authentication-methods");
    let list = app.api(Method::GET, &path, None).await.assert(200).body;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["type"], "totp");
    assert_eq!(list[0]["confirmed"], false, "never confirmed");
    let id = list[0]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("totp_"));
    app.api_delete(&format!("{path}/nope")).await.assert(404);
    app.api_delete(&format!("{path}/{id}")).await.assert(204);
    assert_eq!(
        app.api(Method::GET, &path, None).await.assert(200).body,
        json!([])
    );
    app.api_delete(&path).await.assert(204);
    app.api(Method::GET, "/users/usr_nope/authentication-methods", None)
        .await
        .assert(404);
    let logs = app.api_get("/logs?per_page=100").await.to_string();
    assert!(
        logs.contains("Delete a user's authentication method"),
        "{logs}"
    );
    // A token without the scopes is refused.
    let (mid, msecret) = app.machine(&app.mgmt_audience(), &["read:users"]).await;
    let weak = app
        .cc_token(&mid, &msecret, &app.mgmt_audience(), None)
        .await;
    let r = app.get_as(&weak, &path).await.assert(403);
    assert_eq!(r.body["errorCode"], "insufficient_scope");
}

#[tokio::test]
async fn a_post_login_hook_can_require_a_second_factor() {
    let s = setup_with(TestApp::spawn().await).await;
    let app = &s.app;
    let erin = app
        .create_user("erin@example.com", "erin-password-123")
        .await;
    app.assign_roles(&erin, &[&s.editor]).await;
    let client = app.password_client().await;
    password_grant(app, &client, "erin@example.com", "erin-password-123")
        .await
        .assert(200);
    app.bind_action(
        "post-login",
        json!({"name": "mfa", "runtime": "node18", "code": "exports.onExecutePostLogin = async (event, api) => { if (event.user.email.startsWith('erin')) api.multifactor.enable('any'); };"}),
    )
    .await;
    // The password grant: the action runs as the tokens are minted and asks for a factor.
    let r = password_grant(app, &client, "erin@example.com", "erin-password-123")
        .await
        .assert(403);
    assert_eq!(r.body["error"], "mfa_required");
    // The hosted page asks the action before it opens the session: erin enrolls.
    let (erin_email, erin_pw) = ("erin@example.com", "erin-password-123");
    let mut b = Browser::new(app);
    let page = password_step(&mut b, &authorize_url(&s, &[]), erin_email, erin_pw).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("mfa-qr"));
    // alice is not asked by the action: logged in at once, with amr pwd.
    let mut b = Browser::new(app);
    let (alice, pw) = ("alice@example.com", "alice-password-1");
    let page = password_step(&mut b, &authorize_url(&s, &[]), alice, pw).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let (id, _) = id_token_of(app, &s.spa, &page.location.unwrap()).await;
    assert_eq!(id["amr"], json!(["pwd"]));
}

#[tokio::test]
async fn the_console_lists_a_users_factor_and_resets_it() {
    let app = TestApp::spawn_with_vars(&[("WRIT_MFA_ROLES", "mfa-admins")]).await;
    let (_, frank) = app
        .todo_editor(TODOS, "frank@example.com", "frank-password-1")
        .await;
    let admins = app.create_role("mfa-admins", TODOS, &["write:todos"]).await;
    app.assign_roles(&frank, &[&admins]).await;
    // frank enrolls through the MFA API.
    let client = app.password_client().await;
    let token = mfa_token(&app, &client, "frank@example.com", "frank-password-1").await;
    let code = code_at(&associate_otp(&app, &client, &token).await, now());
    otp_grant(&app, &client, &token, &code).await.assert(200);

    // An administrator with the scopes sees the factor on frank's page and resets it.
    let perms = [
        "read:users",
        "read:authentication_methods",
        "delete:authentication_methods",
    ];
    let (email, pw) = ("root@example.com", "root-password-123");
    app.create_admin("console-admins", &perms, email, pw).await;
    let mut b = Browser::new(&app);
    let path = format!("/admin/users/{frank}");
    let page = b.sign_in(&path, email, pw).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains("data-testid=\"user-factor\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("data-testid=\"reset-factors\""));
    let csrf = hidden(&page.body, "csrf");
    let reset = format!("{path}/factors/reset");
    b.ask(&reset, &csrf, &[]).await;
    let methods = format!("/users/{frank}/authentication-methods");
    assert_eq!(app.api_get(&methods).await.as_array().unwrap().len(), 1);
    let done = b.confirmed(&reset, &csrf, &[]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(app.api_get(&methods).await, json!([]));
    // frank's next login asks him to enroll again (the role requires a factor).
    let token = mfa_token(&app, &client, "frank@example.com", "frank-password-1").await;
    assert_eq!(authenticators(&app, &token).await, json!([]));
}
