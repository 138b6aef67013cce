//! The `authorization_code` grant's HTTP shape: the client authenticates and must be allowed
//! the grant; the code's rules (PKCE S256, single use, bound to client and redirect URI, a
//! replay revoking what its first use issued) are [`writ_service::exchange::code`]'s, shared
//! with the admin console's sign-in.

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::response::Response;
use writ_service::exchange::{self, CodeRequest};

use super::{TokenRequest, client_for, required, respond};
use crate::error::OAuthError;
use crate::state::AppState;

/// Answers an `authorization_code` token request.
pub async fn grant(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<Response, OAuthError> {
    let client = client_for(state, ip, headers, req, "authorization_code")?;
    let request = CodeRequest {
        code: required(&req.code, "code")?,
        redirect_uri: req.redirect_uri.as_deref(),
        code_verifier: req.code_verifier.as_deref(),
    };
    let peer = crate::audit::peer(ip, headers);
    let issued = exchange::code(state, &peer, &client, request).await?;
    Ok(respond(issued.minted, issued.refresh_token))
}
