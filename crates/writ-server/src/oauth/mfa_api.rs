//! Auth0's MFA API for first-party clients using the password grant: once `/oauth/token`
//! answered `mfa_required` with an `mfa_token`, `GET /mfa/authenticators` lists the user's
//! factors, `POST /mfa/associate` enrolls a TOTP factor (its secret, `otpauth://` URI and the
//! recovery code) and `POST /mfa/challenge` asks for a code; the `mfa-otp` grant then finishes
//! the login ([`super::token::mfa`]). The `mfa_token` comes as `Authorization: Bearer` (list,
//! associate) or in the body (challenge); the client authenticates as at `/oauth/token` and
//! must be the one the token was issued to.

use std::net::IpAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use writ_service::mfa::{self, LoginKind};
use writ_store::MfaLogin;

use super::token::{TokenRequest, authenticate};
use crate::error::OAuthError;
use crate::http::bearer::Bearer;
use crate::http::client_addr::ClientAddr;
use crate::state::AppState;

/// The body of `/mfa/associate` and `/mfa/challenge` (JSON or form).
#[derive(Debug, Default, Deserialize)]
struct MfaBody {
    client_id: Option<String>,
    client_secret: Option<String>,
    mfa_token: Option<String>,
    #[serde(default)]
    authenticator_types: Vec<String>,
    challenge_type: Option<String>,
}

fn parse(headers: &HeaderMap, body: &Bytes) -> Result<MfaBody, OAuthError> {
    if body.is_empty() {
        return Ok(MfaBody::default());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let bad = |e: String| OAuthError::invalid_request(format!("Invalid body: {e}"));
    if json {
        serde_json::from_slice(body).map_err(|e| bad(e.to_string()))
    } else {
        serde_urlencoded::from_bytes(body).map_err(|e| bad(e.to_string()))
    }
}

fn invalid_token() -> OAuthError {
    OAuthError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_token",
        "The mfa_token is invalid or expired.",
    )
}

/// The live password-grant login named by `token`, after the client's authentication (when
/// the request carries credentials, or, for a write, the token's client has a secret: listing
/// takes the bearer `mfa_token` alone, as at Auth0).
async fn login_of(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    body: &MfaBody,
    token: Option<&str>,
    write: bool,
) -> Result<MfaLogin, OAuthError> {
    let token = token.filter(|t| !t.is_empty()).ok_or_else(invalid_token)?;
    let login = mfa::pending(state, LoginKind::Grant, token, None)
        .await
        .map_err(OAuthError::server_error)?
        .ok_or_else(invalid_token)?;
    let has_basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("basic "));
    if body.client_id.is_some() || has_basic {
        let req = TokenRequest {
            client_id: body.client_id.clone(),
            client_secret: body.client_secret.clone(),
            ..Default::default()
        };
        let client = authenticate(state, ip, headers, &req)?;
        if client.client_id != login.client_id {
            return Err(invalid_token());
        }
    } else if write {
        let confidential = state
            .catalog
            .load()
            .clients
            .get(&login.client_id)
            .is_none_or(|c| c.secret_hash.is_some());
        if confidential {
            return Err(OAuthError::invalid_client(
                "Client authentication is required.",
            ));
        }
    }
    Ok(login)
}

async fn user_of(state: &AppState, login: &MfaLogin) -> Result<writ_core::User, OAuthError> {
    Ok(writ_service::tokens::live_user(state, &login.user_id).await?)
}

/// `GET /mfa/authenticators`.
pub async fn authenticators(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
) -> Result<Response, OAuthError> {
    let login = login_of(
        &state,
        addr.ip,
        &headers,
        &MfaBody::default(),
        Bearer::of(&headers).token(),
        false,
    )
    .await?;
    let all = mfa::authenticators(&state, &login.user_id)
        .await
        .map_err(OAuthError::server_error)?;
    let mut list: Vec<_> = all
        .iter()
        .filter(|a| a.kind == "totp")
        .map(|a| {
            json!({
                "id": format!("totp|{}", a.id),
                "authenticator_type": "otp",
                "active": a.confirmed,
            })
        })
        .collect();
    if all.iter().any(|a| a.confirmed) {
        list.push(json!({
            "id": format!("recovery-code|{}", login.user_id),
            "authenticator_type": "recovery-code",
            "active": true,
        }));
    }
    Ok(Json(list).into_response())
}

/// `POST /mfa/associate` (`{"authenticator_types":["otp"]}`).
pub async fn associate(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let b = parse(&headers, &body)?;
    let token = Bearer::of(&headers).token().or(b.mfa_token.as_deref());
    let login = login_of(&state, addr.ip, &headers, &b, token, true).await?;
    if b.authenticator_types.iter().all(|t| t != "otp") {
        return Err(OAuthError::invalid_request(
            "authenticator_types must include otp (the only type this server supports)",
        ));
    }
    let user = user_of(&state, &login).await?;
    let e = match mfa::start_enrollment(&state, &user, true).await {
        Ok(e) => e,
        Err(writ_service::ServiceError::Conflict(m)) => {
            return Err(OAuthError::access_denied(m));
        }
        Err(e) => return Err(OAuthError::server_error(e)),
    };
    let mut answer = json!({
        "authenticator_type": "otp",
        "secret": e.secret,
        "barcode_uri": e.uri,
    });
    if let Some(rc) = e.recovery_code {
        answer["recovery_codes"] = json!([rc]);
    }
    Ok(no_store(Json(answer).into_response()))
}

/// `POST /mfa/challenge` (`{client_id, mfa_token, challenge_type: "otp"}`).
pub async fn challenge(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let b = parse(&headers, &body)?;
    if b.client_id.is_none() && Bearer::of(&headers).token().is_none() {
        // Auth0 requires the client's id here (a Basic header also names it).
        let has_basic = headers.contains_key(header::AUTHORIZATION);
        if !has_basic {
            return Err(OAuthError::invalid_request(
                "Missing required parameter: client_id",
            ));
        }
    }
    let login = login_of(&state, addr.ip, &headers, &b, b.mfa_token.as_deref(), true).await?;
    match b.challenge_type.as_deref() {
        None | Some("otp") => {}
        Some(_) => {
            return Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_challenge_type",
                "The challenge type is not supported: use otp.",
            ));
        }
    }
    let enrolled = mfa::enrolled(&state, &login.user_id)
        .await
        .map_err(OAuthError::server_error)?;
    if !enrolled {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_challenge_type",
            "User is not enrolled with an otp authenticator.",
        ));
    }
    Ok(no_store(
        Json(json!({ "challenge_type": "otp" })).into_response(),
    ))
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    r
}
