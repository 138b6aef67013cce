//! The `client_credentials` grant: a confidential client's own token for an API it holds a
//! client grant for (`sub = <client_id>@clients`).

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::response::Response;

use super::{TokenRequest, authenticate, respond};
use crate::error::OAuthError;
use crate::state::AppState;

/// Answers a `client_credentials` token request.
pub async fn grant(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<Response, OAuthError> {
    let client = authenticate(state, ip, headers, req)?;
    if client.secret_hash.is_none() || !client.allows_grant("client_credentials") {
        return Err(OAuthError::unauthorized_client(
            "Grant type 'client_credentials' not allowed for the client.",
        ));
    }
    let api =
        writ_service::tokens::resolve_api(state, req.audience.as_deref(), req.resource.as_deref())?;
    let minted =
        writ_service::tokens::for_client(state, &client, &api, req.scope.as_deref()).await?;
    Ok(respond(minted, None))
}
