//! Server-rendered pages of the hosted login: the login form, error and logged-out pages, and
//! the `form_post` / `web_message` responses. No assets from the internet; a strict CSP built
//! from hashes and nonces; framing denied except for the `web_message` response.

use std::sync::LazyLock;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("style.css");

static CSS_HASH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS.as_bytes()))
    )
});

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn shell(title: &str, body: &str, head_extra: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>{t}</title><style>{CSS}</style>{head_extra}</head><body><main><div class="brand"><svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><path d="M12 2l8 4v6c0 5-3.5 8.5-8 10-4.5-1.5-8-5-8-10V6z"/><path d="M9 12l2 2 4-4"/></svg>Writ</div>{body}</main></body></html>"#,
        t = esc(title)
    )
}

/// Adds the security headers of every page. `frame_ancestors` is `'none'` except for the
/// `web_message` response, framed by the client's origin.
pub fn secure(
    mut r: Response,
    script_nonce: Option<&str>,
    form_action: Option<&str>,
    frame_ancestors: &str,
) -> Response {
    let script = script_nonce
        .map(|n| format!(" script-src 'nonce-{n}';"))
        .unwrap_or_default();
    let form = form_action
        .map(|o| format!(" form-action 'self' {o};"))
        .unwrap_or_else(|| " form-action 'self';".into());
    let csp = format!(
        "default-src 'none'; style-src {css};{script} img-src 'self' data:;{form} base-uri 'none'; frame-ancestors {frame_ancestors}",
        css = &*CSS_HASH
    );
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if frame_ancestors == "'none'" {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    // `same-origin`, not `no-referrer`: under no-referrer Chromium sends `Origin: null` with the
    // login form's POST, which the Origin check must refuse.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// Which form the hosted page shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Login,
    Signup,
}

/// A message shown above the hosted form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Note<'a> {
    /// What went wrong (the page answers 400).
    Error(&'a str),
    /// A neutral notice (the page answers 200).
    Info(&'a str),
}

/// The hosted login (or sign-up) page. `signup_enabled` adds the link between the two.
#[allow(clippy::too_many_arguments)]
pub fn login(
    form: Form,
    tx: &str,
    csrf: &str,
    email: &str,
    note: Option<Note<'_>>,
    client_name: &str,
    redirect_origin: &str,
    signup_enabled: bool,
) -> Response {
    let err = match note {
        Some(Note::Error(e)) => format!(
            r#"<div class="error" role="alert" data-testid="login-error">{}</div>"#,
            esc(e)
        ),
        Some(Note::Info(m)) => format!(
            r#"<div class="notice" role="status" data-testid="login-notice">{}</div>"#,
            esc(m)
        ),
        None => String::new(),
    };
    let tx_q: String = url::form_urlencoded::byte_serialize(tx.as_bytes()).collect();
    let (title, action, button, pw_auto, switch) = match form {
        Form::Login => (
            "Log in",
            "/u/login",
            "Continue",
            "current-password",
            if signup_enabled {
                format!(
                    r#"<p class="foot">Don't have an account? <a href="/u/signup?tx={tx_q}">Sign up</a></p>"#
                )
            } else {
                String::new()
            },
        ),
        Form::Signup => (
            "Sign up",
            "/u/signup",
            "Create account",
            "new-password",
            format!(
                r#"<p class="foot">Already have an account? <a href="/authorize?{}">Log in</a></p>"#,
                esc(tx)
            ),
        ),
    };
    let body = format!(
        r#"<h1>{title}</h1><p class="sub">to continue to {client}</p>{err}<form method="post" action="{action}" novalidate>
<input type="hidden" name="tx" value="{tx}"><input type="hidden" name="csrf" value="{csrf}">
<label for="username">Email address</label><input id="username" name="username" type="email" autocomplete="username" autocapitalize="none" required value="{email}" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password" autocomplete="{pw_auto}" required>
<button type="submit" name="action" value="{action}">{button}</button></form>{switch}<div class="foot">Secured by Writ</div>"#,
        client = esc(client_name),
        tx = esc(tx),
        csrf = esc(csrf),
        email = esc(email),
    );
    let status = if matches!(note, Some(Note::Error(_))) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    secure(
        (status, Html(shell(title, &body, ""))).into_response(),
        None,
        Some(redirect_origin),
        "'none'",
    )
}

/// What a third-party client asks for, as the consent page lists it.
pub struct Asked<'a> {
    /// The API's name (`None`: no API, only the OpenID scopes).
    pub api_name: Option<&'a str>,
    /// `(scope, what it allows)`.
    pub scopes: Vec<(String, String)>,
}

/// The consent page of a third-party client: what it asks for, Allow or Deny.
pub fn consent(
    tx: &str,
    csrf: &str,
    client_name: &str,
    email: &str,
    asked: &Asked<'_>,
    redirect_origin: &str,
) -> Response {
    let items: String = asked
        .scopes
        .iter()
        .map(|(s, d)| {
            format!(
                r#"<li data-testid="consent-scope" data-scope="{s}"><code>{s}</code>{d}</li>"#,
                s = esc(s),
                d = if d.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", esc(d))
                }
            )
        })
        .collect();
    let api = asked
        .api_name
        .map(|a| {
            format!(
                r#" on <strong data-testid="consent-api">{}</strong>"#,
                esc(a)
            )
        })
        .unwrap_or_default();
    let body = format!(
        r#"<h1>Authorize {client}</h1><p class="sub"><strong>{client}</strong> is not part of this organization and asks to act for you ({email}){api}:</p>
<ul class="scopes">{items}</ul><form method="post" action="/u/consent">
<input type="hidden" name="tx" value="{tx}"><input type="hidden" name="csrf" value="{csrf}">
<button type="submit" name="decision" value="allow" data-testid="consent-allow">Allow</button>
<button type="submit" name="decision" value="deny" class="secondary" data-testid="consent-deny">Deny</button></form>
<div class="foot">You can withdraw this consent later. Secured by Writ</div>"#,
        client = esc(client_name),
        email = esc(email),
        tx = esc(tx),
        csrf = esc(csrf),
    );
    secure(
        (StatusCode::OK, Html(shell("Authorize", &body, ""))).into_response(),
        None,
        Some(redirect_origin),
        "'none'",
    )
}

/// An error page that never redirects (bad client or redirect URI, CSRF failure).
pub fn error(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = format!(
        r#"<h1>{}</h1><p class="sub" data-testid="error-detail">{}</p>"#,
        esc(title),
        esc(detail)
    );
    secure(
        (status, Html(shell(title, &body, ""))).into_response(),
        None,
        None,
        "'none'",
    )
}

pub fn logged_out() -> Response {
    let body = r#"<h1>You are logged out</h1><p class="sub">You can close this window.</p>"#;
    secure(
        (StatusCode::OK, Html(shell("Logged out", body, ""))).into_response(),
        None,
        None,
        "'none'",
    )
}

/// `response_mode=form_post`: an auto-submitting form to the redirect URI.
pub fn form_post(
    redirect_uri: &str,
    fields: &[(&str, &str)],
    nonce: &str,
    origin: &str,
) -> Response {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                esc(k),
                esc(v)
            )
        })
        .collect();
    let body = format!(
        r#"<form method="post" action="{}" id="f">{inputs}<noscript><button type="submit">Continue</button></noscript></form><script nonce="{nonce}">document.getElementById("f").submit()</script>"#,
        esc(redirect_uri)
    );
    secure(
        (StatusCode::OK, Html(shell("Continue", &body, ""))).into_response(),
        Some(nonce),
        Some(origin),
        "'none'",
    )
}

/// `response_mode=web_message`: posts the response to the opener/parent at `origin` only.
pub fn web_message(origin: &str, response: &serde_json::Value, nonce: &str) -> Response {
    let msg = serde_json::json!({ "type": "authorization_response", "response": response });
    // JSON inside a script: escape `<` so no `</script>` can appear.
    let js_msg = msg.to_string().replace('<', "\\u003c");
    let js_origin = serde_json::Value::String(origin.to_owned())
        .to_string()
        .replace('<', "\\u003c");
    let body = format!(
        r#"<p class="sub">Completing sign-in…</p><script nonce="{nonce}">(function(){{var t=window.opener||window.parent;t.postMessage({js_msg},{js_origin});}})()</script>"#
    );
    secure(
        (StatusCode::OK, Html(shell("Signing in", &body, ""))).into_response(),
        Some(nonce),
        None,
        origin,
    )
}
