//! The hosted pages: the login and sign-up form, consent, error and logged-out pages, and the
//! `form_post` / `web_message` responses — askama templates under `templates/login/`, escaped
//! by default. No assets from the internet; a strict CSP built from hashes and nonces; framing
//! denied except for the `web_message` response.

use std::sync::LazyLock;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

/// The pages' one stylesheet, inlined (and allowed by its hash).
pub(crate) const CSS: &str = include_str!("../../templates/login/style.css");

/// The passkey ceremonies' script (`navigator.credentials`), inlined with the page's nonce.
pub(crate) const PASSKEY_JS: &str = include_str!("../../templates/login/passkeys.js");

static CSS_HASH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS.as_bytes()))
    )
});

/// Askama's escaper for the hosted pages: `&`, `<`, `>`, `"` and `'` as the named (or, for
/// `'`, numeric) entities these pages have always sent, which clients reading the hidden
/// fields back expect. Every `{{ }}` in `templates/login/` goes through it (see
/// `askama.toml`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Entities;

impl askama::filters::Escaper for Entities {
    fn write_escaped_str<W: std::fmt::Write>(&self, mut dest: W, s: &str) -> std::fmt::Result {
        let mut last = 0;
        for (i, b) in s.bytes().enumerate() {
            let entity = match b {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                b'\'' => "&#39;",
                _ => continue,
            };
            dest.write_str(&s[last..i])?;
            dest.write_str(entity)?;
            last = i + 1;
        }
        dest.write_str(&s[last..])
    }
}

#[derive(Template)]
#[template(escape = "entities", path = "login/login.html")]
struct LoginPage<'a> {
    css: &'static str,
    title: &'a str,
    client: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
    action: &'a str,
    button: &'a str,
    pw_auto: &'a str,
    tx: &'a str,
    tx_q: &'a str,
    csrf: &'a str,
    email: &'a str,
    signup_form: bool,
    signup_enabled: bool,
    /// Whether the page offers passkeys (the login form, with a relying party).
    passkeys: bool,
    nonce: &'a str,
    passkey_js: &'static str,
}

#[derive(Template)]
#[template(escape = "entities", path = "login/consent.html")]
struct ConsentPage<'a> {
    css: &'static str,
    title: &'a str,
    client: &'a str,
    email: &'a str,
    api_name: Option<&'a str>,
    scopes: &'a [(String, String)],
    tx: &'a str,
    csrf: &'a str,
}

#[derive(Template)]
#[template(escape = "entities", path = "login/error.html")]
struct ErrorPage<'a> {
    css: &'static str,
    title: &'a str,
    detail: &'a str,
}

#[derive(Template)]
#[template(escape = "entities", path = "login/logged_out.html")]
struct LoggedOutPage {
    css: &'static str,
    title: &'static str,
}

#[derive(Template)]
#[template(escape = "entities", path = "login/form_post.html")]
struct FormPostPage<'a> {
    css: &'static str,
    title: &'a str,
    redirect_uri: &'a str,
    fields: &'a [(&'a str, &'a str)],
    nonce: &'a str,
}

#[derive(Template)]
#[template(escape = "entities", path = "login/web_message.html")]
struct WebMessagePage<'a> {
    css: &'static str,
    title: &'a str,
    nonce: &'a str,
    /// JSON, made safe inside `<script>` by [`web_message`].
    message: &'a str,
    /// A JSON string, likewise.
    origin: &'a str,
}

/// A page's HTML with `status`; a template that fails to render (it cannot, short of a bug)
/// is logged and answered 500.
fn html<T: Template>(status: StatusCode, page: &T) -> Response {
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a hosted page");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Adds the security headers of every page. `frame_ancestors` is `'none'` except for the
/// `web_message` response, framed by the client's origin.
pub fn secure(
    mut r: Response,
    script_nonce: Option<&str>,
    form_action: Option<&str>,
    frame_ancestors: &str,
) -> Response {
    // A page with a script may call its own origin (the passkey options), nothing else.
    let script = script_nonce
        .map(|n| format!(" script-src 'nonce-{n}'; connect-src 'self';"))
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

impl<'a> Note<'a> {
    /// The error, when the note is one.
    fn error(self) -> Option<&'a str> {
        match self {
            Note::Error(e) => Some(e),
            Note::Info(_) => None,
        }
    }

    /// The notice, when the note is one.
    fn notice(self) -> Option<&'a str> {
        match self {
            Note::Info(m) => Some(m),
            Note::Error(_) => None,
        }
    }
}

/// The hosted login (or sign-up) page. `signup_enabled` adds the link between the two;
/// `passkeys` the login form's "Sign in with a passkey" and the email field's passkey autofill.
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
    passkeys: bool,
) -> Response {
    let passkeys = passkeys && form == Form::Login;
    let nonce = writ_service::crypto::random_token(16);
    let tx_q: String = url::form_urlencoded::byte_serialize(tx.as_bytes()).collect();
    let (title, action, button, pw_auto) = match form {
        Form::Login => ("Log in", "/u/login", "Continue", "current-password"),
        Form::Signup => ("Sign up", "/u/signup", "Create account", "new-password"),
    };
    let page = LoginPage {
        css: CSS,
        title,
        client: client_name,
        error: note.and_then(Note::error),
        notice: note.and_then(Note::notice),
        action,
        button,
        pw_auto,
        tx,
        tx_q: &tx_q,
        csrf,
        email,
        signup_form: form == Form::Signup,
        signup_enabled,
        passkeys,
        nonce: &nonce,
        passkey_js: PASSKEY_JS,
    };
    let status = if matches!(note, Some(Note::Error(_))) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let script = passkeys.then_some(nonce.as_str());
    secure(html(status, &page), script, Some(redirect_origin), "'none'")
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
    let page = ConsentPage {
        css: CSS,
        title: "Authorize",
        client: client_name,
        email,
        api_name: asked.api_name,
        scopes: &asked.scopes,
        tx,
        csrf,
    };
    secure(
        html(StatusCode::OK, &page),
        None,
        Some(redirect_origin),
        "'none'",
    )
}

/// An error page that never redirects (bad client or redirect URI, CSRF failure).
pub fn error(status: StatusCode, title: &str, detail: &str) -> Response {
    let page = ErrorPage {
        css: CSS,
        title,
        detail,
    };
    secure(html(status, &page), None, None, "'none'")
}

/// The page of an unexpected failure (logged where it happened).
pub fn internal() -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again.",
    )
}

/// The page after a logout that names no URL to go back to.
pub fn logged_out() -> Response {
    let page = LoggedOutPage {
        css: CSS,
        title: "Logged out",
    };
    secure(html(StatusCode::OK, &page), None, None, "'none'")
}

/// `response_mode=form_post`: an auto-submitting form to the redirect URI.
pub fn form_post(
    redirect_uri: &str,
    fields: &[(&str, &str)],
    nonce: &str,
    origin: &str,
) -> Response {
    let page = FormPostPage {
        css: CSS,
        title: "Continue",
        redirect_uri,
        fields,
        nonce,
    };
    secure(
        html(StatusCode::OK, &page),
        Some(nonce),
        Some(origin),
        "'none'",
    )
}

/// `response_mode=web_message`: posts the response to the opener/parent at `origin` only.
pub fn web_message(origin: &str, response: &serde_json::Value, nonce: &str) -> Response {
    let msg = serde_json::json!({ "type": "authorization_response", "response": response });
    // JSON inside a script (not escaped as HTML by the template): escape `<` so no
    // `</script>` can appear.
    let js_msg = msg.to_string().replace('<', "\\u003c");
    let js_origin = serde_json::Value::String(origin.to_owned())
        .to_string()
        .replace('<', "\\u003c");
    let page = WebMessagePage {
        css: CSS,
        title: "Signing in",
        nonce,
        message: &js_msg,
        origin: &js_origin,
    };
    secure(html(StatusCode::OK, &page), Some(nonce), None, origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_escaped_with_named_entities() {
        let page = ErrorPage {
            css: CSS,
            title: "<b>",
            detail: "a&b \"c\" 'd'",
        };
        let html = page.render().unwrap();
        assert!(html.contains("<title>&lt;b&gt;</title>"), "{html}");
        assert!(
            html.contains(
                r#"<p class="sub" data-testid="error-detail">a&amp;b &quot;c&quot; &#39;d&#39;</p>"#
            ),
            "{html}"
        );
        // The stylesheet is inlined verbatim (its hash is in the CSP).
        assert!(html.contains(&format!("<style>{CSS}</style>")));
    }

    #[test]
    fn hidden_fields_keep_their_shape() {
        let page = FormPostPage {
            css: CSS,
            title: "Continue",
            redirect_uri: "https://app.example/cb?x=1&y=2",
            fields: &[("code", "abc"), ("state", "s&t")],
            nonce: "n0",
        };
        let html = page.render().unwrap();
        assert!(html.contains(
            r#"<form method="post" action="https://app.example/cb?x=1&amp;y=2" id="f"><input type="hidden" name="code" value="abc"><input type="hidden" name="state" value="s&amp;t"><noscript>"#
        ), "{html}");
        assert!(
            html.contains(r#"<script nonce="n0">document.getElementById("f").submit()</script>"#)
        );
    }
}

/// The form an account page (email verification, password reset) shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountForm<'a> {
    None,
    /// The button confirming an email address, with the link's token.
    Confirm(&'a str),
    /// The new password, twice, with the link's token.
    Reset(&'a str),
    /// The email address to send a reset link to, with the authorization request to return to.
    Forgot(&'a str),
}

#[derive(Template)]
#[template(escape = "entities", path = "login/account.html")]
struct AccountPage<'a> {
    css: &'static str,
    title: &'a str,
    detail: &'a str,
    error: Option<&'a str>,
    notice: Option<&'a str>,
    form: AccountForm<'a>,
    csrf: &'a str,
    back: Option<&'a str>,
}

/// A page of the email-link flows (see `login::account`): a title, a sentence, a note, one
/// form (`csrf` is its token) and a link back to the login. `form_origin` is an origin the
/// form's answer may redirect to (the link's `result_url`).
#[allow(clippy::too_many_arguments)]
pub fn account(
    status: StatusCode,
    title: &str,
    detail: &str,
    note: Option<Note<'_>>,
    form: AccountForm<'_>,
    csrf: &str,
    back: Option<&str>,
    form_origin: Option<&str>,
) -> Response {
    let page = AccountPage {
        css: CSS,
        title,
        detail,
        error: note.and_then(Note::error),
        notice: note.and_then(Note::notice),
        form,
        csrf,
        back,
    };
    secure(html(status, &page), None, form_origin, "'none'")
}
