//! `response_mode=web_message`, as auth0-spa-js's silent check uses it: `redirect_uri` is the
//! page's origin, accepted when it is one of the client's Allowed Web Origins, and every answer —
//! a code or an error, even for an invalid request — is a message posted to the frame's parent,
//! never an error page the SDK would wait 60 s behind.

use serde_json::Value;

use crate::helpers::*;
use crate::login::{SPA, VERIFIER, authorize_url, login_alice, setup, web_message_page};

/// The `authorization_response` message a web_message page posts, and the origin it posts to.
fn posted(html: &str) -> (Value, String) {
    let at = html
        .find("postMessage(")
        .unwrap_or_else(|| panic!("no posted message in {html}"))
        + "postMessage(".len();
    let mut values = serde_json::Deserializer::from_str(&html[at..]).into_iter::<Value>();
    let msg = values.next().unwrap().unwrap();
    assert_eq!(msg["type"], "authorization_response", "{msg}");
    (msg["response"].clone(), target_origin(html))
}

/// The origin the page's script posts to (the JSON string the template embeds).
fn target_origin(html: &str) -> String {
    for candidate in [SPA, "http://evil.example"] {
        if html.contains(&format!("\"{candidate}\"")) {
            return candidate.to_owned();
        }
    }
    String::new()
}

/// `/authorize` for the SPA with web_message and `redirect_uri` replaced by `redirect_uri`.
fn silent(s: &crate::login::Setup, redirect_uri: &str, extra: &[(&str, &str)]) -> String {
    let url = authorize_url(s, &[("prompt", "none"), ("response_mode", "web_message")]);
    let mut u = url::Url::parse(&url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "redirect_uri" {
                redirect_uri.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .chain(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

#[tokio::test]
async fn the_pages_origin_in_web_origins_gets_a_code_by_message() {
    let s = setup().await;
    // No session yet: login_required, posted to the SPA's origin (not an error page).
    let r = http().get(silent(&s, SPA, &[])).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let (resp, to) = posted(&r.text().await.unwrap());
    assert_eq!(resp["error"], "login_required");
    assert_eq!(resp["state"], "st-123");
    assert_eq!(to, SPA);

    // With a session: a code, bound to the origin it was sent to.
    let (_, session) = login_alice(&s).await;
    let r = get_with_cookie(silent(&s, SPA, &[]), &session).await;
    let (resp, to) = posted(&web_message_page(r, SPA).await);
    assert_eq!(to, SPA);
    let code = resp["code"].as_str().expect("a code").to_owned();
    let token = |redirect_uri: &'static str, code: String| {
        let app = &s.app;
        let spa = s.spa.clone();
        async move {
            app.token_form(&[
                ("grant_type", "authorization_code"),
                ("client_id", &spa),
                ("code", &code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", VERIFIER),
            ])
            .await
        }
    };
    // The code is bound to the redirect URI of its request: a callback URL does not redeem it.
    token(crate::login::CB, code.clone()).await.assert(400);
    // That attempt did not use it up (the redirect URI is checked before the code is used)…
    let t = token(SPA, code).await.assert(200).body;
    assert!(t["access_token"].is_string());

    // A trailing slash names the same origin.
    let r = get_with_cookie(silent(&s, &format!("{SPA}/"), &[]), &session).await;
    let (resp, _) = posted(&r.text().await.unwrap());
    assert!(resp["code"].is_string(), "{resp}");
}

#[tokio::test]
async fn a_refused_web_message_request_is_answered_by_message_without_a_code() {
    let s = setup().await;
    let (_, session) = login_alice(&s).await;
    // An origin the client does not list: the refusal is posted there, with no code, even
    // though the browser has a session.
    let r = get_with_cookie(silent(&s, "http://evil.example", &[]), &session).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    let (resp, to) = posted(&html);
    assert_eq!(resp["error"], "invalid_request");
    assert!(
        resp.get("code").is_none() && !html.contains("\"code\""),
        "{html}"
    );
    assert_eq!(to, "http://evil.example");
    // An unknown client: the same, with the request's state.
    let url = silent(&s, SPA, &[]).replace(&s.spa, "no-such-client");
    let r = http().get(url).send().await.unwrap();
    let (resp, _) = posted(&r.text().await.unwrap());
    assert_eq!(resp["error"], "invalid_request");
    assert_eq!(resp["error_description"], "Unknown client.");
    assert_eq!(resp["state"], "st-123");

    // Other response modes keep the exact callback match and the error page.
    let url = authorize_url(&s, &[]).replace(
        &url::form_urlencoded::byte_serialize(crate::login::CB.as_bytes()).collect::<String>(),
        &url::form_urlencoded::byte_serialize(SPA.as_bytes()).collect::<String>(),
    );
    let r = get_with_cookie(url, &session).await;
    assert_eq!(r.status(), 400);
    assert!(r.headers().get("location").is_none());
    // web_message without an http(s) redirect URI: the error page, nothing posted.
    let r = http()
        .get(silent(&s, "javascript:alert(1)", &[]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(!r.text().await.unwrap().contains("authorization_response"));
}
