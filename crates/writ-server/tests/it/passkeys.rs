//! Passkeys on the hosted pages without a browser (the browser suite's `passkeys.test.mjs`
//! runs real ceremonies in Chromium): the login page offers them only with a relying party
//! (an issuer whose host is a domain, not an IP address), with the autofill hint and a CSP
//! nonce; the options are WebAuthn's (relying party = the issuer's host, user verification
//! required) and need the page's CSRF token; a bad, unknown or replayed answer gets the login
//! page again (never a 500, never a word about any account); the endpoints are rate-limited;
//! passkeys are listed and deleted with the other authentication methods, and a deleted one's
//! credential is gone (with its user too).

use reqwest::Method;
use serde_json::{Value, json};
use writ_store::{Authenticator, PasskeyCredential};

use crate::helpers::*;
use crate::login::{authorize_url, setup_with};

/// A server whose issuer is `http://localhost:<port>/` (a valid relying-party id).
async fn localhost_app() -> TestApp {
    TestApp::spawn_with(|v| {
        let listen = v
            .iter()
            .find(|(k, _)| k == "WRIT_LISTEN")
            .map(|(_, x)| x.clone())
            .unwrap();
        let port = listen.rsplit(':').next().unwrap().to_owned();
        v.push(("WRIT_ISSUER".into(), format!("http://localhost:{port}/")));
    })
    .await
}

fn origin(app: &TestApp) -> String {
    app.issuer.trim_end_matches('/').to_owned()
}

/// The login page's options request: status and JSON body.
async fn options(b: &mut Browser, app: &TestApp, tx: &str, csrf: &str) -> (u16, Value) {
    let o = origin(app);
    let p = b
        .post_from(
            "/u/passkey/options",
            &[("tx", tx), ("csrf", csrf)],
            Some(&o),
        )
        .await;
    (
        p.status,
        serde_json::from_str(&p.body).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn login_page_offers_passkeys_with_a_relying_party() {
    let s = setup_with(localhost_app().await).await;
    let app = &s.app;
    let mut b = Browser::new(app);
    let page = b.get(&authorize_url(&s, &[])).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"data-testid="passkey-login""#));
    assert!(page.body.contains(r#"autocomplete="username webauthn""#));
    let tx = hidden(&page.body, "tx");
    let csrf = hidden(&page.body, "csrf");

    let (status, body) = options(&mut b, app, &tx, &csrf).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mode"], "get");
    let pk = &body["publicKey"];
    assert_eq!(pk["rpId"], "localhost");
    assert_eq!(pk["userVerification"], "required");
    assert!(pk["challenge"].as_str().is_some_and(|c| c.len() >= 22));
    // A fresh challenge each time.
    let (_, again) = options(&mut b, app, &tx, &csrf).await;
    assert_ne!(again["publicKey"]["challenge"], pk["challenge"]);

    // Without the page's CSRF token: refused.
    let (status, _) = options(&mut b, app, &tx, "forged").await;
    assert_eq!(status, 403);

    // Answers that are not a passkey's, or name a challenge never handed out (or already
    // used): the login page again, the same words for each.
    let o = origin(app);
    let client_data = |challenge: &str| {
        base64url(
            json!({"type": "webauthn.get", "challenge": challenge, "origin": o})
                .to_string()
                .as_bytes(),
        )
    };
    let forged = |challenge: &str| {
        json!({
            "id": "AAAA", "rawId": "AAAA", "type": "public-key",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": client_data(challenge),
                "authenticatorData": base64url(&[0u8; 37]),
                "signature": base64url(&[1u8; 64]),
                "userHandle": base64url(&[2u8; 64]),
            }
        })
        .to_string()
    };
    let used = again["publicKey"]["challenge"].as_str().unwrap().to_owned();
    let mut csrf = csrf;
    for credential in [
        "not json".to_owned(),
        forged("AAAAAAAAAAAAAAAAAAAAAA"),
        forged(&used),
        forged(&used),
    ] {
        let p = b
            .post_from(
                "/u/passkey/login",
                &[
                    ("tx", tx.as_str()),
                    ("csrf", csrf.as_str()),
                    ("credential", credential.as_str()),
                ],
                Some(&o),
            )
            .await;
        assert_eq!(p.status, 400, "{}", p.body);
        assert!(
            p.body.contains("That passkey was not accepted"),
            "{}",
            p.body
        );
        assert!(p.location.is_none());
        // The page comes back with a new CSRF token (and so a new binding for ceremonies).
        csrf = hidden(&p.body, "csrf");
    }
    // Each refusal is in the audit log, with no user named.
    let logs = app
        .api(Method::GET, "/logs?q=type:fu", None)
        .await
        .assert(200)
        .body;
    assert!(
        logs.as_array()
            .unwrap()
            .iter()
            .any(|e| e["details"]["strategy"] == "passkey"),
        "{logs}"
    );
}

#[tokio::test]
async fn no_passkeys_when_the_issuer_is_an_ip_address() {
    let s = setup_with(TestApp::spawn().await).await;
    let mut b = Browser::new(&s.app);
    let page = b.get(&authorize_url(&s, &[])).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("passkey-login"));
    assert!(page.body.contains(r#"autocomplete="username""#));
    let tx = hidden(&page.body, "tx");
    let csrf = hidden(&page.body, "csrf");
    let p = b
        .post("/u/passkey/options", &[("tx", &tx), ("csrf", &csrf)])
        .await;
    assert_eq!(p.status, 404, "{}", p.body);
}

#[tokio::test]
async fn passkey_endpoints_are_rate_limited() {
    let s = setup_with(localhost_app().await).await;
    let app = &s.app;
    let mut b = Browser::new(app);
    let page = b.get(&authorize_url(&s, &[])).await;
    let tx = hidden(&page.body, "tx");
    let csrf = hidden(&page.body, "csrf");
    let mut statuses = Vec::new();
    for _ in 0..32 {
        statuses.push(options(&mut b, app, &tx, &csrf).await.0);
    }
    assert!(statuses[..30].iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(statuses[31], 429);
    // The refusal says when to try again, in whole seconds, at least one.
    let refused = b
        .post_from(
            "/u/passkey/options",
            &[("tx", &tx), ("csrf", &csrf)],
            Some(&origin(app)),
        )
        .await;
    assert_eq!(refused.status, 429);
    let wait: u64 = refused.retry_after.expect("Retry-After").parse().unwrap();
    assert!(wait >= 1, "{wait}");
}

#[tokio::test]
async fn passkeys_are_listed_and_deleted_with_the_other_methods() {
    let app = localhost_app().await;
    let uid = app.create_user("pk@example.com", "pk-password-1").await;
    let a = Authenticator {
        id: "passkey_test1".into(),
        user_id: uid.clone(),
        kind: "passkey".into(),
        name: Some("Passkey".into()),
        secret: Vec::new(),
        confirmed: true,
        created_at: 1_700_000_000,
        last_used_at: None,
        last_step: None,
    };
    let c = PasskeyCredential {
        authenticator_id: a.id.clone(),
        user_id: uid.clone(),
        credential_id: "Y3JlZA".into(),
        user_handle: base64url(&[7u8; 64]),
        static_state: vec![1],
        dynamic_state: vec![0; 7],
        sign_count: 0,
        backup_eligible: false,
        backed_up: false,
        transports: 0,
    };
    app.state.store.create_passkey(&a, &c, &[]).await.unwrap();
    let path = format!("/users/{uid}/authentication-methods");
    let listed = app.api(Method::GET, &path, None).await.assert(200).body;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["type"], "passkey");
    assert_eq!(listed[0]["id"], "passkey_test1");
    assert_eq!(listed[0]["confirmed"], true);
    app.api_delete(&format!("{path}/passkey_test1"))
        .await
        .assert(204);
    assert_eq!(
        app.state
            .store
            .passkey_by_credential("Y3JlZA")
            .await
            .unwrap(),
        None
    );
    assert!(
        app.state
            .store
            .authenticators(&uid)
            .await
            .unwrap()
            .is_empty()
    );
    // A user's passkeys go with the user.
    let b = Authenticator {
        id: "passkey_test2".into(),
        ..a
    };
    let d = PasskeyCredential {
        authenticator_id: b.id.clone(),
        credential_id: "Y3JlZDI".into(),
        ..c
    };
    app.state.store.create_passkey(&b, &d, &[]).await.unwrap();
    app.api_delete(&format!("/users/{uid}")).await.assert(204);
    assert_eq!(
        app.state
            .store
            .passkey_by_credential("Y3JlZDI")
            .await
            .unwrap(),
        None
    );
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}
