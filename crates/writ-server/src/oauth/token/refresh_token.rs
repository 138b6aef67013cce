//! The `refresh_token` grant's HTTP shape: the client authenticates and must be allowed the
//! grant; rotation, reuse detection (a reused token revokes its family) and the re-evaluation
//! of RBAC are [`writ_service::exchange::refresh`]'s.

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::response::Response;

use super::{TokenRequest, client_for, required, respond};
use crate::error::OAuthError;
use crate::state::AppState;

/// Answers a `refresh_token` token request.
pub async fn grant(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<Response, OAuthError> {
    let client = client_for(state, ip, headers, req, "refresh_token")?;
    let presented = required(&req.refresh_token, "refresh_token")?;
    let peer = crate::audit::peer(ip, headers);
    let issued = writ_service::exchange::refresh(state, &peer, &client, presented).await?;
    Ok(respond(issued.minted, issued.refresh_token))
}
