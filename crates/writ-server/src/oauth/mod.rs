//! Writ's OAuth 2.1 / OpenID Connect endpoints: `/authorize`, `/oauth/token` (one module per
//! grant type), `/oauth/revoke`, `/oauth/introspect`, `/userinfo`, discovery and JWKS. Each
//! parses its request and shapes its answer; client authentication and token minting are
//! `writ-service`'s.

pub mod authorize;
pub mod discovery;
pub mod introspect;
pub mod mfa_api;
pub mod request;
pub mod revoke;
pub mod token;
pub mod userinfo;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use writ_core::Client;
use writ_guard::Verifier;

use crate::error::OAuthError;
use crate::http::client_addr::ClientAddr;
use crate::http::observe::ClientSlot;
use crate::state::AppState;
use token::TokenRequest;

/// The endpoints a browser calls directly, cross-origin (the router puts them behind CORS,
/// see [`crate::http::cors`]).
pub fn browser_routes() -> Router<AppState> {
    Router::new()
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(revoke::revoke))
        .route("/mfa/authenticators", get(mfa_api::authenticators))
        .route("/mfa/associate", post(mfa_api::associate))
        .route("/mfa/challenge", post(mfa_api::challenge))
        .route(
            "/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route("/.well-known/jwks.json", get(discovery::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
}

/// The other OAuth endpoints: introspection (server to server) and `/authorize` (a top-level
/// navigation).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth/introspect", post(introspect::introspect))
        .route("/authorize", get(authorize::authorize))
}

/// The verifier for one audience over every key Writ has published (not revoked), from the
/// catalog (built at each reload).
pub(crate) fn verifier_for(state: &AppState, audience: &str) -> Option<Verifier> {
    state.catalog.load().verifiers.get(audience).cloned()
}

#[derive(Deserialize, Default)]
pub(crate) struct TokenParam {
    pub token: Option<String>,
    pub token_type_hint: Option<String>,
}

/// A revocation or introspection request: its client, authenticated (see
/// [`token::authenticate`]), and its token parameters.
pub struct TokenForm {
    pub(crate) client: Arc<Client>,
    pub(crate) p: TokenParam,
}

impl FromRequest<AppState> for TokenForm {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Ok(addr) = ClientAddr::from_request_parts(&mut parts, state).await;
        let Ok(slot) = ClientSlot::from_request_parts(&mut parts, state).await;
        let headers = parts.headers.clone();
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let (req, p) = parse_token_form(&headers, &body).map_err(IntoResponse::into_response)?;
        let client = token::authenticate(state, addr.ip, &headers, &req)
            .map_err(IntoResponse::into_response)?;
        slot.note(&client.client_id);
        Ok(TokenForm { client, p })
    }
}

/// The body of a revocation or introspection request: the client's credentials and the
/// token (form or JSON).
fn parse_token_form(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(TokenRequest, TokenParam), OAuthError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let bad = |e: String| OAuthError::invalid_request(format!("Invalid body: {e}"));
    if json {
        Ok((
            serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?,
            serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?,
        ))
    } else {
        Ok((
            serde_urlencoded::from_bytes(body).map_err(|e| bad(e.to_string()))?,
            serde_urlencoded::from_bytes(body).map_err(|e| bad(e.to_string()))?,
        ))
    }
}
