//! `POST /oauth/revoke` (RFC 7009).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use writ_service::crypto::sha256_hex;

use super::parse_token_form;
use super::token::authenticate;
use crate::error::OAuthError;
use crate::http::client_addr::ClientAddr;
use crate::state::AppState;

/// RFC 7009: revoking a refresh token revokes its whole family. Answers 200 for unknown tokens.
pub async fn revoke(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let (req, p) = parse_token_form(&headers, &body)?;
    let client = authenticate(&state, addr.ip, &headers, &req)?;
    let token = p
        .token
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: token"))?;
    let _ = p.token_type_hint;
    if let Some(rt) = state.store.get_refresh(&sha256_hex(&token)).await?
        && rt.client_id == client.client_id
    {
        state.store.revoke_refresh_family(&rt.family_id).await?;
    }
    Ok(StatusCode::OK.into_response())
}
