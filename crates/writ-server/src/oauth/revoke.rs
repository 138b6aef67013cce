//! `POST /oauth/revoke` (RFC 7009).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use writ_service::crypto::sha256_hex;

use super::TokenForm;
use super::token::required;
use crate::error::OAuthError;
use crate::state::AppState;

/// RFC 7009: revoking a refresh token revokes its whole family. Answers 200 for unknown tokens.
pub async fn revoke(
    State(state): State<AppState>,
    TokenForm { client, p }: TokenForm,
) -> Result<Response, OAuthError> {
    let token = required(&p.token, "token")?;
    let _ = p.token_type_hint;
    if let Some(rt) = state.store.get_refresh(&sha256_hex(token)).await?
        && rt.client_id == client.client_id
    {
        state.store.revoke_refresh_family(&rt.family_id).await?;
    }
    Ok(StatusCode::OK.into_response())
}
