//! `POST /oauth/token`: reads the request (form or JSON body, `Authorization: Basic`),
//! dispatches on `grant_type` to one module per grant, and shapes the token response. Client
//! authentication, the exchanges' rules and minting happen in `writ-service`
//! ([`writ_service::client_auth`], [`writ_service::exchange`], [`writ_service::tokens`]); the
//! grant modules read each grant's parameters and shape its answer.

pub mod authorization_code;
pub mod client_credentials;
pub mod mfa;
pub mod password;
pub mod refresh_token;

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use writ_core::Client;
use writ_service::client_auth::{self, Presented};
use writ_service::tokens::Minted;

use crate::error::OAuthError;
use crate::http::client_addr::ClientAddr;
use crate::http::observe::ClientSlot;
use crate::state::AppState;

/// The parameters of a token request, from a form or a JSON body.
#[derive(Debug, Default, Deserialize)]
pub struct TokenRequest {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub audience: Option<String>,
    pub resource: Option<String>,
    pub scope: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub realm: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    /// Auth0's MFA grants: the token of the login waiting for its second factor, and the code.
    pub mfa_token: Option<String>,
    pub otp: Option<String>,
    pub recovery_code: Option<String>,
    /// `Authorization: Basic`, once the token endpoint has read it (so it is decoded once per
    /// request; never from the body).
    #[serde(skip)]
    pub(crate) basic: Basic,
}

/// A request's `Authorization: Basic` as read by [`basic_credentials`].
#[derive(Debug, Default)]
pub(crate) enum Basic {
    /// Not read yet: [`authenticate`] reads the headers.
    #[default]
    Unread,
    /// Malformed: [`authenticate`] reads the headers again for the refusal.
    Malformed,
    /// No Basic credentials.
    Absent,
    /// `(client_id, client_secret)`, decoded.
    Present(String, String),
}

impl Basic {
    /// Reads `headers`' Basic credentials.
    fn read(headers: &HeaderMap) -> Basic {
        match basic_credentials(headers) {
            Ok(Some((id, secret))) => Basic::Present(id, secret),
            Ok(None) => Basic::Absent,
            Err(_) => Basic::Malformed,
        }
    }

    /// The client id, when the credentials were read and well formed.
    fn client_id(&self) -> Option<&str> {
        match self {
            Basic::Present(id, _) => Some(id),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    /// The next recovery code, after the `mfa-recovery-code` grant used one (Auth0's).
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_code: Option<String>,
}

pub(crate) fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<TokenRequest, OAuthError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if ct.starts_with("application/json") {
        serde_json::from_slice(body)
            .map_err(|e| OAuthError::invalid_request(format!("Invalid JSON body: {e}")))
    } else if ct.starts_with("application/x-www-form-urlencoded") || ct.is_empty() {
        serde_urlencoded::from_bytes(body)
            .map_err(|e| OAuthError::invalid_request(format!("Invalid form body: {e}")))
    } else {
        Err(OAuthError::invalid_request(
            "Content-Type must be application/x-www-form-urlencoded or application/json",
        ))
    }
}

/// Credentials from `Authorization: Basic` (RFC 6749 §2.3.1: form-urlencoded id and secret).
pub(crate) fn basic_credentials(
    headers: &HeaderMap,
) -> Result<Option<(String, String)>, OAuthError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| OAuthError::invalid_request("Malformed Authorization header"))?;
    let Some(b64) = v
        .strip_prefix("Basic ")
        .or_else(|| v.strip_prefix("basic "))
    else {
        return Ok(None);
    };
    let bad = || {
        let mut e = OAuthError::invalid_client("Malformed Basic credentials");
        e.basic_challenge = true;
        e
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = raw.split_once(':').ok_or_else(bad)?;
    let dec = |s: &str| -> Result<String, OAuthError> {
        let s = s.replace('+', " ");
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .ok_or_else(bad)
    };
    Ok(Some((dec(id)?, dec(secret)?)))
}

/// Authenticates the client of a request (see [`writ_service::client_auth`]): Basic
/// credentials from the headers, or `client_id`/`client_secret` from the body.
pub(crate) fn authenticate(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<Arc<Client>, OAuthError> {
    let read;
    let basic = match &req.basic {
        Basic::Present(id, s) => Some((id.as_str(), s.as_str())),
        Basic::Absent => None,
        Basic::Unread | Basic::Malformed => {
            read = basic_credentials(headers)?;
            read.as_ref().map(|(id, s)| (id.as_str(), s.as_str()))
        }
    };
    let presented = Presented {
        basic,
        client_id: req.client_id.as_deref(),
        client_secret: req.client_secret.as_deref(),
    };
    Ok(client_auth::authenticate(state, ip, presented)?)
}

/// The client of a request for `grant_type` (see [`authenticate`]), which it must be allowed
/// to use.
pub(crate) fn client_for(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
    grant_type: &str,
) -> Result<Arc<Client>, OAuthError> {
    let client = authenticate(state, ip, headers, req)?;
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::unauthorized_client(format!(
            "Grant type '{grant_type}' not allowed for the client."
        )));
    }
    Ok(client)
}

/// A parameter the request must have.
pub(crate) fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, OAuthError> {
    value
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request(format!("Missing required parameter: {name}")))
}

/// The API a token response's access token is for (a response extension, for the metrics).
#[derive(Clone)]
struct IssuedFor(String);

/// The token response, with `Cache-Control: no-store`.
pub(crate) fn respond(minted: Minted, refresh_token: Option<String>) -> Response {
    respond_with(minted, refresh_token, None)
}

/// [`respond`], with the next recovery code when the grant used one.
pub(crate) fn respond_with(
    minted: Minted,
    refresh_token: Option<String>,
    recovery_code: Option<String>,
) -> Response {
    let audience = IssuedFor(minted.audience);
    let answer = TokenResponse {
        access_token: minted.access_token,
        token_type: "Bearer",
        expires_in: minted.expires_in,
        scope: &minted.scope,
        id_token: minted.id_token,
        refresh_token,
        recovery_code,
    };
    // Serialized into a buffer sized for it (what `axum::Json` does, without growing a
    // 128-byte buffer three or four times for a response that carries a JWT or two).
    let size = 96
        + answer.access_token.len()
        + answer.scope.len()
        + answer.id_token.as_ref().map_or(0, |t| t.len() + 16)
        + answer.refresh_token.as_ref().map_or(0, |t| t.len() + 20)
        + answer.recovery_code.as_ref().map_or(0, |t| t.len() + 20);
    let mut body = Vec::with_capacity(size);
    if let Err(e) = serde_json::to_writer(&mut body, &answer) {
        // Strings and integers only: cannot fail; answered like `axum::Json` would be.
        return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
    }
    let mut r = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    r.extensions_mut().insert(audience);
    r
}

/// `POST /oauth/token`: the grant's answer, counted (`writ_tokens_issued_total` and the
/// latency, see [`writ_service::metrics`]) and its client noted for the access log.
pub async fn token(
    State(state): State<AppState>,
    addr: ClientAddr,
    slot: ClientSlot,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = std::time::Instant::now();
    let (result, req) = match parse_body(&headers, &body) {
        Ok(mut req) => {
            req.basic = Basic::read(&headers);
            (answer(&state, addr.ip, &uri, &headers, &req).await, req)
        }
        Err(e) => (Err(e), TokenRequest::default()),
    };
    let (response, outcome) = match result {
        Ok(r) => (r, "issued"),
        Err(e) => {
            let code = e.error;
            (e.into_response(), code)
        }
    };
    // The client the request named (Basic credentials or the body), if it is one.
    let basic = match req.basic {
        Basic::Unread => basic_credentials(&headers).ok().flatten(),
        _ => None,
    };
    let named = req
        .basic
        .client_id()
        .or(basic.as_ref().map(|(id, _)| id.as_str()))
        .or(req.client_id.as_deref());
    let catalog = state.catalog.load();
    let known = named.filter(|c| catalog.clients.contains_key(*c));
    let audience = response
        .extensions()
        .get::<IssuedFor>()
        .map(|a| a.0.as_str())
        .or(req.audience.as_deref())
        .or(req.resource.as_deref());
    let counted = writ_service::metrics::TokenRequest {
        grant_type: req.grant_type.as_deref(),
        audience,
        client_id: known,
        outcome,
        elapsed: started.elapsed(),
    };
    state
        .metrics
        .token_request(&catalog, state.userinfo_audience(), counted);
    if let Some(c) = known {
        slot.note(c);
    }
    response
}

/// The grant's answer.
async fn answer(
    state: &AppState,
    ip: IpAddr,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<Response, OAuthError> {
    let grant = required(&req.grant_type, "grant_type")?;
    // What hooks see as `event.request`. The host is the `Host` header, or over HTTP/2 (which
    // has none) the request's `:authority`.
    let hook_request = writ_service::hooks::HookRequest {
        ip: Some(ip.to_string()),
        hostname: headers
            .get(axum::http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()))
            .map(str::to_owned),
        user_agent: headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect()),
    };
    writ_service::hooks::REQUEST
        .scope(hook_request, dispatch(state, ip, headers, req, grant))
        .await
}

async fn dispatch(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
    grant: &str,
) -> Result<Response, OAuthError> {
    match grant {
        "client_credentials" => client_credentials::grant(state, ip, headers, req).await,
        "authorization_code" => authorization_code::grant(state, ip, headers, req).await,
        "refresh_token" => refresh_token::grant(state, ip, headers, req).await,
        "password" | "http://auth0.com/oauth/grant-type/password-realm" => {
            password::grant(state, ip, headers, req, grant).await
        }
        mfa::OTP | mfa::RECOVERY_CODE => mfa::grant(state, ip, headers, req, grant).await,
        other => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("Unsupported grant type: {other}"),
        )),
    }
}
