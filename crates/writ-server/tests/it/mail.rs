//! Email for real: the outbox sends over SMTP to a real server on 127.0.0.1 (Python's
//! `aiosmtpd`, `tests/interop/smtp_sink.py`), and the tests read what it received and follow
//! the links: verification, password reset (sessions and refresh tokens end), single use,
//! expiry, the same answer for unknown addresses, and no mail lost while the server is down.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::helpers::*;
use crate::interop::{python, repo_root};
use crate::login::{exchange, login_alice, query_param, refresh, setup_with};

const FROM: &str = "Writ <no-reply@writ.test>";
const SENT: &str = "We've just sent you an email to reset your password.";

/// A running `smtp_sink.py`: the messages it received, decoded.
pub struct Sink {
    pub port: u16,
    dir: tempfile::TempDir,
    // Killed when dropped.
    _child: tokio::process::Child,
}

impl Sink {
    /// Starts the sink on `port` (0: a free one).
    pub async fn start(port: u16) -> Sink {
        let dir = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(python())
            .arg(repo_root().join("tests/interop/smtp_sink.py"))
            .arg(dir.path())
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect(
                "start tests/interop/smtp_sink.py (pip install -r tests/interop/requirements.txt)",
            );
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("the sink starts")
            .unwrap()
            .expect("the sink prints its port");
        let port = line
            .strip_prefix("PORT ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("not a port line: {line}"));
        Sink {
            port,
            dir,
            _child: child,
        }
    }

    /// The messages received so far, in order.
    pub fn messages(&self) -> Vec<Value> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
            .collect()
    }

    /// Waits until `n` messages arrived (a minute at most); returns them.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..600 {
            let m = self.messages();
            if m.len() >= n {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{n} messages expected, got {:?}", self.messages());
    }
}

/// The settings of a server sending through `port` on 127.0.0.1.
fn smtp_vars(port: u16) -> Vec<(String, String)> {
    vec![
        ("WRIT_SMTP_URL".into(), format!("smtp://127.0.0.1:{port}")),
        ("WRIT_SMTP_FROM".into(), FROM.into()),
    ]
}

async fn app_with_smtp(port: u16) -> TestApp {
    TestApp::spawn_with(|v| v.extend(smtp_vars(port))).await
}

/// A new email verification ticket of `user` (`POST /tickets/email-verification`): its link.
async fn verification_link(app: &TestApp, user: &str) -> String {
    app.api_post("/tickets/email-verification", json!({"user_id": user}))
        .await
        .assert(201)
        .field("ticket")
}

/// The stored ticket of a link's `token` (the store keys tickets by the token's hash).
async fn stored_ticket(app: &TestApp, token: &str) -> writ_store::Ticket {
    app.state
        .store
        .get_ticket(&writ_service::crypto::sha256_hex(token))
        .await
        .unwrap()
        .expect("stored by hash")
}

/// A port on 127.0.0.1 with nothing listening (free when this returns).
fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The one-time link in a message's text, and its token.
fn link_of(msg: &Value, path: &str) -> (String, String) {
    let text = msg["text"].as_str().unwrap();
    let link = text
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.contains(path))
        .unwrap_or_else(|| panic!("no {path} link in {text}"))
        .to_owned();
    // The HTML part carries it too (escaped: `/` as `&#x2f;`, `&` as `&amp;`).
    let html = msg["html"]
        .as_str()
        .unwrap()
        .replace("&#x2f;", "/")
        .replace("&amp;", "&");
    assert!(html.contains(&link), "the HTML carries the link: {html}");
    let token = query_param(&link, "ticket").expect("ticket");
    (link, token)
}

/// `url`'s path and query (the test's browser talks to the server's base).
fn local(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}?{}", u.path(), u.query().unwrap_or_default())
}

/// The status of a login through the hosted form: 302 signed in, 400 refused.
async fn login_status(s: &crate::login::Setup, user: &str, pw: &str) -> u16 {
    let h = http();
    let page = h
        .get(crate::login::authorize_url(s, &[]))
        .send()
        .await
        .unwrap();
    let csrf = set_cookie(&page, "writ_csrf").expect("csrf cookie");
    let html = page.text().await.unwrap();
    post_form(
        format!("{}/u/login", s.app.base),
        Some(&csrf),
        Some(&s.app.base),
        &login_form(&html, user, pw),
    )
    .await
    .status()
    .as_u16()
}

/// The newest message of the outbox once `ready` holds for it (waits up to a minute).
async fn newest_mail(
    app: &TestApp,
    ready: impl Fn(&writ_store::OutboxMail) -> bool,
    what: &str,
) -> writ_store::OutboxMail {
    let page = writ_store::Page {
        page: 0,
        per_page: 1,
    };
    for _ in 0..600 {
        let out = app.state.store.list_outbox(page).await.unwrap();
        if let Some(m) = out.items.into_iter().next().filter(|m| ready(m)) {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the newest message was not {what}");
}

/// The newest message of the outbox once its sender recorded it sent (the mail server has it
/// a moment before).
async fn sent_mail(app: &TestApp) -> writ_store::OutboxMail {
    newest_mail(app, |m| m.state() == "sent", "recorded sent").await
}

/// The newest message of the outbox once an attempt to send it failed.
async fn failed_mail(app: &TestApp) -> writ_store::OutboxMail {
    newest_mail(
        app,
        |m| m.last_error.is_some(),
        "refused by the mail server",
    )
    .await
}

/// Queues a verification email to `user` through the Management API's job.
async fn verification_job(app: &TestApp, user: &str) {
    app.api_post("/jobs/verification-email", json!({"user_id": user}))
        .await
        .assert(201);
}

/// Posts the reset-password page's form: the link's `ticket`, the page's `csrf`, the new
/// password twice.
async fn reset(b: &mut Browser, ticket: &str, csrf: &str, password: &str, confirm: &str) -> Page {
    let form = [
        ("ticket", ticket),
        ("csrf", csrf),
        ("password", password),
        ("password_confirm", confirm),
    ];
    b.post("/u/reset-password", &form).await
}

async fn authz_version(app: &TestApp, user: &str) -> i64 {
    app.state.store.authz_version(user).await.unwrap()
}

#[tokio::test]
async fn verification_email_link_verifies_once_and_bumps_the_version() {
    let sink = Sink::start(0).await;
    let app = app_with_smtp(sink.port).await;
    let user = app.create_user("vera@example.com", "vera-password-1").await;
    let job = app
        .api_post("/jobs/verification-email", json!({"user_id": user}))
        .await
        .assert(201);
    assert_eq!(job.body["type"], "verification_email");
    assert!(job.field("id").starts_with("job_"));
    let msgs = sink.wait_for(1).await;
    let m = &msgs[0];
    assert_eq!(m["rcpt_tos"], json!(["vera@example.com"]));
    assert_eq!(m["subject"], "Verify your email address");
    assert!(m["from"].as_str().unwrap().contains("no-reply@writ.test"));
    let (link, token) = link_of(m, "/u/email-verification");
    assert!(link.starts_with(&app.issuer), "{link}");
    // The outbox keeps no link once the message is sent.
    let sent = sent_mail(&app).await;
    assert!(sent.text_body.is_empty() && !sent.html_body.contains(&token));
    // Opening the link changes nothing (a mail scanner may fetch it): a button does.
    let mut b = Browser::new(&app);
    let page = b.get(&local(&link)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!app.stored_users("vera@example.com").await[0].email_verified);
    let before = authz_version(&app, &user).await;
    let csrf = hidden(&page.body, "csrf");
    assert_eq!(hidden(&page.body, "ticket"), token);
    // Without the page's CSRF token: refused.
    let r = b
        .post(
            "/u/email-verification",
            &[("ticket", &token), ("csrf", "forged")],
        )
        .await;
    assert_eq!(r.status, 403);
    let r = b
        .post(
            "/u/email-verification",
            &[("ticket", &token), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Email verified"), "{}", r.body);
    assert!(app.stored_users("vera@example.com").await[0].email_verified);
    assert!(authz_version(&app, &user).await > before, "tokens learn it");
    // Used: the link is refused from now on.
    let again = b.get(&local(&link)).await;
    assert_eq!(again.status, 400);
    assert!(
        again
            .body
            .contains("invalid, was already used or has expired")
    );
    let r = b
        .post(
            "/u/email-verification",
            &[("ticket", &token), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 400);
    // Audited.
    let logs = app
        .state
        .store
        .list_logs(
            &writ_store::LogFilter {
                types: vec!["sv".into()],
                ..Default::default()
            },
            writ_store::Page {
                page: 0,
                per_page: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(logs.total, 1);
    assert_eq!(logs.items[0].user_id.as_deref(), Some(user.as_str()));
}

#[tokio::test]
async fn a_reset_ends_sessions_and_refresh_tokens_and_only_the_new_password_works() {
    let sink = Sink::start(0).await;
    let s = setup_with(app_with_smtp(sink.port).await).await;
    let app = &s.app;
    // Alice is signed in: an SSO session and a refresh token.
    let (loc, session) = login_alice(&s).await;
    let code = query_param(&loc, "code").unwrap();
    let tokens = exchange(&s, &code, crate::login::VERIFIER)
        .await
        .assert(200);
    let rt = tokens.field("refresh_token");
    // Auth0's endpoint: the same sentence, the mail in the background.
    let r = app
        .http
        .post(format!("{}/dbconnections/change_password", app.base))
        .json(&json!({"client_id": s.spa, "email": "Alice@Example.com", "connection": "Username-Password-Authentication"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), SENT);
    let msgs = sink.wait_for(1).await;
    assert_eq!(msgs[0]["rcpt_tos"], json!(["alice@example.com"]));
    assert_eq!(msgs[0]["subject"], "Reset your password");
    let (link, token) = link_of(&msgs[0], "/u/reset-password");
    let mut b = Browser::new(app);
    let page = b.get(&local(&link)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = hidden(&page.body, "csrf");
    // Two different passwords: the form again, the link still usable.
    let r = reset(&mut b, &token, &csrf, "new-password-1", "new-password-2").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("The two passwords differ."));
    // Too short: refused by the password policy, as every new password.
    let csrf = hidden(&r.body, "csrf");
    let r = reset(&mut b, &token, &csrf, "short", "short").await;
    assert_eq!(r.status, 400);
    assert!(
        r.body
            .contains("Choose a password of at least 8 characters."),
        "{}",
        r.body
    );
    // A common one: refused by the policy's dictionary, with its advice.
    let csrf = hidden(&r.body, "csrf");
    let r = reset(&mut b, &token, &csrf, "Password123", "Password123").await;
    assert_eq!(r.status, 400);
    assert!(r.body.contains("most common ones"), "{}", r.body);
    let csrf = hidden(&r.body, "csrf");
    let before = authz_version(app, &s.alice).await;
    let r = reset(
        &mut b,
        &token,
        &csrf,
        "alice-new-password-9",
        "alice-new-password-9",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("Password changed"));
    assert!(authz_version(app, &s.alice).await > before);
    // The refresh token and the SSO session are dead.
    refresh(&s, &rt).await.assert_error(400, "invalid_grant");
    let again = get_with_cookie(crate::login::authorize_url(&s, &[]), &session).await;
    assert_eq!(again.status(), 200, "the login form again, not a code");
    // The old password no longer logs in; the new one does.
    let fail = login_status(&s, "alice@example.com", "alice-password-1").await;
    assert_eq!(fail, 400);
    let ok = login_status(&s, "alice@example.com", "alice-new-password-9").await;
    assert_eq!(ok, 302);
    // The link worked once.
    assert_eq!(b.get(&local(&link)).await.status, 400);
}

#[tokio::test]
async fn change_password_answers_the_same_for_an_unknown_address() {
    let sink = Sink::start(0).await;
    let app = app_with_smtp(sink.port).await;
    app.create_user("known@example.com", "known-password-1")
        .await;
    let spa = crate::login::todo_spa(&app).await;
    let ask = |email: &'static str| {
        let (http, base, spa) = (app.http.clone(), app.base.clone(), spa.clone());
        async move {
            let r = http
                .post(format!("{base}/dbconnections/change_password"))
                .form(&[("client_id", spa.as_str()), ("email", email)])
                .send()
                .await
                .unwrap();
            let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
            (r.status().as_u16(), ct, r.text().await.unwrap())
        }
    };
    let unknown = ask("nobody@example.com").await;
    let known = ask("known@example.com").await;
    assert_eq!(unknown, known, "the same answer");
    assert_eq!(known.0, 200);
    assert_eq!(known.2, SENT);
    // Only the known address gets mail (the unknown one was asked first).
    let msgs = sink.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let msgs_after = sink.messages();
    assert_eq!(msgs_after.len(), 1, "{msgs_after:?}");
    assert_eq!(msgs[0]["rcpt_tos"], json!(["known@example.com"]));
    // An unknown client is refused (Auth0's error shape), the same for every address.
    let r = app
        .http
        .post(format!("{}/dbconnections/change_password", app.base))
        .json(&json!({"client_id": "nope", "email": "known@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["statusCode"], 400);
    // Per address, a few requests only; then 429, for known and unknown alike.
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(ask("nobody@example.com").await.0);
    }
    assert_eq!(statuses, [200, 200, 429]);
}

#[tokio::test]
async fn tickets_expire_and_are_single_use() {
    let app = TestApp::spawn().await;
    let user = app.create_user("tix@example.com", "tix-password-1").await;
    // Tickets need no mail server: the caller delivers the link.
    let t = app
        .api_post("/tickets/password-change", json!({"user_id": user, "result_url": "https://app.example/done", "mark_email_as_verified": true}))
        .await
        .assert(201);
    let link = t.field("ticket");
    assert!(link.starts_with(&format!("{}u/reset-password?ticket=", app.issuer)));
    let token = query_param(&link, "ticket").unwrap();
    // The store keeps only its hash.
    let stored = stored_ticket(&app, &token).await;
    assert!(stored.expires_at - stored.created_at == 3600, "one hour");
    assert!(app.state.store.get_ticket(&token).await.unwrap().is_none());
    let mut b = Browser::new(&app);
    let page = b.get(&local(&link)).await;
    assert_eq!(page.status, 200);
    let csrf = hidden(&page.body, "csrf");
    let form = [
        ("ticket", token.as_str()),
        ("csrf", csrf.as_str()),
        ("password", "tix-new-password-2"),
        ("password_confirm", "tix-new-password-2"),
    ];
    let r = b.post("/u/reset-password", &form).await;
    assert_eq!(r.status, 303, "to result_url: {}", r.body);
    assert_eq!(r.location.as_deref(), Some("https://app.example/done"));
    assert!(app.stored_users("tix@example.com").await[0].email_verified);
    // Reused: refused, nothing changes.
    let r = b.post("/u/reset-password", &form).await;
    assert_eq!(r.status, 400);
    // A verification ticket (5 days by default) past its expiry is refused.
    let vtoken = query_param(&verification_link(&app, &user).await, "ticket").unwrap();
    let vt = stored_ticket(&app, &vtoken).await;
    assert_eq!(vt.expires_at - vt.created_at, 5 * 86_400);
    let expired = "expired-token-0123456789";
    app.state
        .store
        .create_ticket(&writ_store::Ticket {
            id: writ_service::crypto::sha256_hex(expired),
            expires_at: writ_service::time::now() - 1,
            ..vt
        })
        .await
        .unwrap();
    let page = b
        .get(&format!("/u/email-verification?ticket={expired}"))
        .await;
    assert_eq!(page.status, 400);
    // Bad input: Auth0's error shape.
    app.api_post(
        "/tickets/password-change",
        json!({"user_id": user, "ttl_sec": -5}),
    )
    .await
    .assert(400);
    app.api_post(
        "/tickets/email-verification",
        json!({"user_id": "auth0|nobody"}),
    )
    .await
    .assert(404);
    app.api_post(
        "/tickets/password-change",
        json!({"email": "nobody@example.com"}),
    )
    .await
    .assert(404);
}

#[tokio::test]
async fn without_smtp_the_flows_that_need_mail_are_refused_clearly() {
    let app = TestApp::spawn().await;
    let user = app
        .create_user("nomail@example.com", "nomail-password-1")
        .await;
    let r = app
        .api_post("/jobs/verification-email", json!({"user_id": user}))
        .await
        .assert(400);
    assert_eq!(r.body["errorCode"], "email_not_configured");
    assert!(r.field("message").contains("WRIT_SMTP_URL"));
    let spa = crate::login::todo_spa(&app).await;
    let r = app
        .http
        .post(format!("{}/dbconnections/change_password", app.base))
        .json(&json!({"client_id": spa, "email": "nomail@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let mut b = Browser::new(&app);
    let page = b.get("/u/forgot-password").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("no mail server is configured"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("name=\"email\""));
}

#[tokio::test]
async fn the_hosted_forgot_password_form_emails_a_link() {
    let sink = Sink::start(0).await;
    let s = setup_with(app_with_smtp(sink.port).await).await;
    let mut b = Browser::new(&s.app);
    // The login form links to it.
    let login = b.get(&local(&crate::login::authorize_url(&s, &[]))).await;
    assert!(
        login.body.contains("/u/forgot-password?tx="),
        "{}",
        login.body
    );
    let tx = hidden(&login.body, "tx");
    let q: String = url::form_urlencoded::byte_serialize(tx.as_bytes()).collect();
    let page = b.get(&format!("/u/forgot-password?tx={q}")).await;
    assert_eq!(page.status, 200);
    let csrf = hidden(&page.body, "csrf");
    let r = b
        .post(
            "/u/forgot-password",
            &[("tx", &tx), ("csrf", &csrf), ("email", "alice@example.com")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.body.contains("If an account uses this address"));
    let unknown = b
        .post(
            "/u/forgot-password",
            &[("tx", &tx), ("csrf", &csrf), ("email", "zed@example.com")],
        )
        .await;
    assert_eq!(
        (unknown.status, unknown.body.len()),
        (r.status, r.body.len())
    );
    let msgs = sink.wait_for(1).await;
    assert_eq!(msgs[0]["rcpt_tos"], json!(["alice@example.com"]));
    link_of(&msgs[0], "/u/reset-password");
}

#[tokio::test]
async fn mail_queued_while_the_smtp_server_is_down_arrives_once_it_is_up() {
    // A port with nothing listening yet.
    let port = unused_port();
    let app = app_with_smtp(port).await;
    let user = app
        .create_user("patient@example.com", "patient-password-1")
        .await;
    // The request does not wait for the mail server.
    verification_job(&app, &user).await;
    // The sender tried and failed; the message waits in the outbox with the error.
    let failed = failed_mail(&app).await;
    assert_eq!(failed.state(), "pending");
    assert!(failed.attempts >= 1);
    // The server comes up on that port: the retry delivers it.
    let sink = Sink::start(port).await;
    let msgs = sink.wait_for(1).await;
    assert_eq!(msgs[0]["rcpt_tos"], json!(["patient@example.com"]));
    link_of(&msgs[0], "/u/email-verification");
    assert!(sent_mail(&app).await.attempts > failed.attempts);
}

#[tokio::test]
async fn ticket_scopes_are_auth0s() {
    let app = TestApp::spawn().await;
    let user = app
        .create_user("scoped@example.com", "scoped-password-1")
        .await;
    let aud = app.mgmt_audience();
    let (id, secret) = app.machine(&aud, &["update:users"]).await;
    let token = app.mgmt_token(&id, &secret).await;
    let r = app
        .api_as(
            &token,
            Method::POST,
            "/tickets/email-verification",
            Some(json!({"user_id": user})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 403, "{}", r.body);
    let (id, secret) = app.machine(&aud, &["create:user_tickets"]).await;
    let token = app.mgmt_token(&id, &secret).await;
    app.api_as(
        &token,
        Method::POST,
        "/tickets/email-verification",
        Some(json!({"user_id": user})),
    )
    .await
    .assert(201);
}

#[tokio::test]
async fn a_client_may_require_a_verified_email() {
    let app = TestApp::spawn_with_vars(&[("WRIT_REQUIRE_VERIFIED_EMAIL", "*")]).await;
    app.create_api("https://api.example/", "RS256", &["read:x"], true)
        .await;
    let user = app
        .create_user("unverified@example.com", "unverified-pw-1")
        .await;
    let client = app.password_client().await;
    let r = app
        .password_token(
            &client,
            "unverified@example.com",
            "unverified-pw-1",
            "https://api.example/",
            None,
        )
        .await;
    assert_eq!(r.body["error"], "access_denied", "{}", r.body);
    assert_eq!(
        r.body["error_description"],
        "Please verify your email before logging in."
    );
    // The verification link, used: tokens are issued.
    let link = verification_link(&app, &user).await;
    let token = query_param(&link, "ticket").unwrap();
    let mut b = Browser::new(&app);
    let page = b.get(&local(&link)).await;
    let csrf = hidden(&page.body, "csrf");
    let r = b
        .post(
            "/u/email-verification",
            &[("ticket", &token), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, 200);
    app.password_token(
        &client,
        "unverified@example.com",
        "unverified-pw-1",
        "https://api.example/",
        None,
    )
    .await
    .assert(200);
}

#[tokio::test]
async fn the_console_lists_the_outbox_without_bodies() {
    // Nothing listens on the port: the message stays pending with its error.
    let port = unused_port();
    let app = app_with_smtp(port).await;
    app.create_admin(
        "mail-admins",
        writ_core::MANAGEMENT_SCOPES,
        "root@example.com",
        "root-password-1",
    )
    .await;
    let user = app
        .create_user("queued@example.com", "queued-password-1")
        .await;
    verification_job(&app, &user).await;
    failed_mail(&app).await;
    let mut b = Browser::new(&app);
    let r = b
        .sign_in("/admin/mail", "root@example.com", "root-password-1")
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("queued@example.com"), "{}", r.body);
    assert!(r.body.contains("verify_email"));
    assert!(r.body.contains("pending"));
    assert!(!r.body.contains("ticket="), "no link on the page");
    // The audit log links to it.
    let logs = b.get("/admin/logs").await;
    assert!(logs.body.contains("/admin/mail"));
}

#[tokio::test]
async fn bad_links_are_limited_per_ip() {
    let app = TestApp::spawn().await;
    let user = app
        .create_user("guess@example.com", "guess-password-1")
        .await;
    let link = verification_link(&app, &user).await;
    let mut b = Browser::new(&app);
    for i in 0..writ_service::limiter::MAX_LINK_FAILURES {
        let r = b
            .get(&format!("/u/email-verification?ticket=guess-{i}"))
            .await;
        assert_eq!(r.status, 400);
    }
    // From this IP, even a good link is refused for a while.
    assert_eq!(b.get(&local(&link)).await.status, 400);
}
