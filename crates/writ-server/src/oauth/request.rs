//! An authorization request (`GET /authorize`'s parameters, carried by the login pages' forms as
//! `tx`): its validation, and its answers to the client — a code or an error, by the request's
//! response mode. `GET /authorize` itself is [`super::authorize`]; the pages the user sees on
//! the way are [`crate::login`]'s. Both answer through this module.
//!
//! Errors about the client or the redirect URI are shown on a page and never redirected (a
//! `web_message` request gets them as a posted message instead); every other error goes back
//! to the (validated) redirect URI, per RFC 6749 §4.1.2.1.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use writ_core::Client;
use writ_service::crypto::{random_token, sha256_hex};
use writ_service::time::now;
use writ_store::{AuthCode, Session};

use crate::http::cookies::{self, SSO_SESSION};
use crate::http::origin_of;
use crate::login::pages;
use crate::state::AppState;

use writ_core::protocol::{CODE_LIFETIME, SESSION_IDLE};

/// `/authorize` parameters (unknown ones, like auth0-spa-js's `auth0Client`, are ignored).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub audience: Option<String>,
    pub resource: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub response_mode: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Query,
    Fragment,
    FormPost,
    WebMessage,
}

/// A request whose client and redirect URI are valid: errors can now go back to the client.
pub(crate) struct Validated {
    pub(crate) p: AuthorizeParams,
    pub(crate) client: Arc<Client>,
    pub(crate) redirect_uri: String,
    pub(crate) mode: Mode,
    /// This server's issuer, named in every response (RFC 9207).
    pub(crate) issuer: String,
}

impl Validated {
    /// The API asked for (`audience`, or RFC 8707 `resource`).
    pub(crate) fn audience(&self) -> Option<&str> {
        self.p.audience.as_deref().or(self.p.resource.as_deref())
    }

    /// The scopes asked for (`openid` when none).
    pub(crate) fn scope(&self) -> &str {
        self.p.scope.as_deref().unwrap_or("openid")
    }

    pub(crate) fn prompts(&self, value: &str) -> bool {
        self.p
            .prompt
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .any(|p| p == value)
    }
}

/// The page shown for a request that cannot be answered by redirect.
pub(crate) fn invalid_page(detail: &str) -> Response {
    pages::error(StatusCode::BAD_REQUEST, "Invalid request", detail)
}

/// Checks client and redirect URI; anything wrong here is shown (see [`invalid_page`]), never
/// redirected — except to a `web_message` request, which is answered by a message posted to
/// its frame's parent (see [`refuse`]).
///
/// The redirect URI must be one of the client's Allowed Callback URLs, or, for
/// `response_mode=web_message` (silent authentication in an iframe, where auth0-spa-js sends
/// the page's origin), a URL whose origin is one of its Allowed Web Origins, as Auth0 accepts:
/// the answer is posted to that origin only, and the code stays bound to that redirect URI.
pub(crate) fn validate(state: &AppState, p: AuthorizeParams) -> Result<Validated, Box<Response>> {
    let Some(client_id) = p.client_id.clone() else {
        return Err(refuse(&p, "The request has no client_id."));
    };
    let Some(client) = state.catalog.load().clients.get(&client_id).cloned() else {
        return Err(refuse(&p, "Unknown client."));
    };
    let Some(redirect_uri) = p.redirect_uri.clone() else {
        return Err(refuse(&p, "The request has no redirect_uri."));
    };
    let mode = match p.response_mode.as_deref() {
        None | Some("query") => Mode::Query,
        Some("fragment") => Mode::Fragment,
        Some("form_post") => Mode::FormPost,
        Some("web_message") => Mode::WebMessage,
        Some(_) => Mode::Query,
    };
    let registered = client.callbacks.contains(&redirect_uri)
        || (mode == Mode::WebMessage && web_origin_allowed(&client, &redirect_uri));
    if !registered {
        return Err(refuse(
            &p,
            "The redirect_uri is not registered for this client (Allowed Callback URLs).",
        ));
    }
    Ok(Validated {
        p,
        client,
        redirect_uri,
        mode,
        issuer: state.config.issuer.clone(),
    })
}

/// Whether `redirect_uri` is an http(s) URL whose origin is one of the client's Allowed Web
/// Origins.
fn web_origin_allowed(client: &Client, redirect_uri: &str) -> bool {
    let origin = origin_of(redirect_uri);
    origin.starts_with("http") && client.web_origins.iter().any(|o| origin_of(o) == origin)
}

/// The answer to a request whose client or redirect URI is invalid: the error page, or, when
/// the request asked for `response_mode=web_message` with an http(s) redirect URI, the same
/// refusal posted as an `authorization_response` message to that URI's origin (the SDK in the
/// parent page is waiting for one; an error page would leave it waiting for its timeout). The
/// message says only why the request is invalid, which does not depend on any session.
fn refuse(p: &AuthorizeParams, detail: &str) -> Box<Response> {
    let origin = p.redirect_uri.as_deref().map(origin_of).unwrap_or_default();
    if p.response_mode.as_deref() != Some("web_message") || !origin.starts_with("http") {
        return Box::new(invalid_page(detail));
    }
    let mut response = serde_json::Map::new();
    response.insert("error".into(), json!("invalid_request"));
    response.insert("error_description".into(), json!(detail));
    if let Some(state) = &p.state {
        response.insert("state".into(), json!(state));
    }
    let response = serde_json::Value::Object(response);
    Box::new(pages::web_message(&origin, &response, &random_token(16)))
}

/// Sends `fields` back to the client by the request's response mode, with `state` and, as
/// RFC 9207 asks (success and error alike), `iss`.
pub(crate) fn respond(v: &Validated, mut fields: Vec<(&'static str, String)>) -> Response {
    if let Some(s) = &v.p.state {
        fields.push(("state", s.clone()));
    }
    fields.push(("iss", v.issuer.clone()));
    let origin = origin_of(&v.redirect_uri);
    match v.mode {
        Mode::Query | Mode::Fragment => {
            let enc = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            let sep = if v.mode == Mode::Fragment {
                '#'
            } else if v.redirect_uri.contains('?') {
                '&'
            } else {
                '?'
            };
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(loc) = HeaderValue::from_str(&format!("{}{sep}{enc}", v.redirect_uri)) {
                r.headers_mut().insert(header::LOCATION, loc);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r.headers_mut().insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            r
        }
        Mode::FormPost => {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            pages::form_post(&v.redirect_uri, &f, &random_token(16), &origin)
        }
        Mode::WebMessage => {
            let resp: serde_json::Map<String, serde_json::Value> = fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), json!(v)))
                .collect();
            pages::web_message(&origin, &serde_json::Value::Object(resp), &random_token(16))
        }
    }
}

pub(crate) fn redirect_error(v: &Validated, error: &str, desc: &str) -> Response {
    respond(
        v,
        vec![
            ("error", error.to_owned()),
            ("error_description", desc.to_owned()),
        ],
    )
}

/// Protocol checks that are reported to the client.
pub(crate) fn check(state: &AppState, v: &Validated) -> Result<(), (&'static str, String)> {
    if v.p.response_type.as_deref() != Some("code") {
        return Err((
            "unsupported_response_type",
            "Only response_type=code is supported.".into(),
        ));
    }
    if !v.client.allows_grant("authorization_code") {
        return Err((
            "unauthorized_client",
            "The client may not use the authorization code flow.".into(),
        ));
    }
    match (&v.p.code_challenge, v.p.code_challenge_method.as_deref()) {
        (Some(c), Some("S256")) => {
            if !(43..=128).contains(&c.len())
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err((
                    "invalid_request",
                    "code_challenge must be a base64url SHA-256 (43 characters).".into(),
                ));
            }
        }
        (Some(_), _) => {
            return Err((
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted).".into(),
            ));
        }
        (None, _) if v.client.secret_hash.is_none() => {
            return Err((
                "invalid_request",
                "Public clients must use PKCE (code_challenge with S256).".into(),
            ));
        }
        (None, _) => {}
    }
    let aud = v.p.audience.as_ref().or(v.p.resource.as_ref());
    if let Some(a) = aud
        && !state.catalog.load().apis.contains_key(a)
    {
        return Err(("access_denied", format!("Service not found: {a}")));
    }
    if let Err(e) =
        writ_service::access::user_audience_allowed(state, &v.client, aud.map(String::as_str))
    {
        return Err(("access_denied", e.0.to_owned()));
    }
    if let Some(m) = &v.p.max_age
        && m.parse::<u64>().is_err()
    {
        return Err((
            "invalid_request",
            "max_age must be a number of seconds.".into(),
        ));
    }
    Ok(())
}

/// The live session of this browser, if any (idle and absolute lifetimes enforced).
pub(crate) async fn live_session(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    let token = cookies::get(state, headers, SSO_SESSION)?;
    let s = state.store.get_session(&sha256_hex(&token)).await.ok()??;
    let t = now();
    if t >= s.expires_at || t - s.last_seen >= SESSION_IDLE {
        let _ = state.store.delete_session(&s.id).await;
        return None;
    }
    let _ = state.store.touch_session(&s.id, t).await;
    Some(s)
}

/// Issues a code for the session's user and sends it back.
pub(crate) async fn issue_code(
    state: &AppState,
    v: &Validated,
    user_id: &str,
    sid: &str,
    auth_time: i64,
    amr: Option<&str>,
) -> Response {
    let code = random_token(32);
    let rec = AuthCode {
        id: sha256_hex(&code),
        client_id: v.client.client_id.clone(),
        user_id: user_id.to_owned(),
        redirect_uri: v.redirect_uri.clone(),
        scope: v.scope().to_owned(),
        audience: v.audience().map(str::to_owned),
        nonce: v.p.nonce.clone(),
        code_challenge: v.p.code_challenge.clone(),
        sid: Some(sid.to_owned()),
        auth_time,
        expires_at: now() + CODE_LIFETIME,
        used_at: None,
        family_id: None,
        amr: amr.map(str::to_owned),
    };
    match state.store.create_code(&rec).await {
        Ok(()) => respond(v, vec![("code", code)]),
        Err(e) => {
            tracing::error!(error = %e, "storing an authorization code");
            redirect_error(v, "server_error", "Internal error")
        }
    }
}
