//! `POST /oauth/introspect` (RFC 7662), for confidential clients.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use writ_service::crypto::sha256_hex;
use writ_service::time::now;

use super::TokenForm;
use super::token::required;
use crate::error::OAuthError;
use crate::state::AppState;

/// RFC 7662, for confidential clients: refresh tokens by state, access tokens by signature,
/// expiry and freshness (a token older than its subject's authz version is inactive). A client
/// learns only about tokens issued to it, or access tokens for an API it holds a client grant
/// for; every other token is `{"active": false}`, whatever it is.
pub async fn introspect(
    State(state): State<AppState>,
    TokenForm { client, p }: TokenForm,
) -> Result<Response, OAuthError> {
    if client.secret_hash.is_none() {
        return Err(OAuthError::unauthorized_client(
            "Introspection is for confidential clients.",
        ));
    }
    let token = required(&p.token, "token")?;
    let inactive = || Ok(axum::Json(json!({"active": false})).into_response());
    if let Some(rt) = state.store.get_refresh(&sha256_hex(token)).await? {
        let t = now();
        // Only the client it was issued to may learn anything about a refresh token.
        if rt.client_id != client.client_id
            || rt.revoked
            || rt.used_at.is_some()
            || t >= rt.family_expires_at
            || t >= rt.idle_expires_at
        {
            return inactive();
        }
        return Ok(axum::Json(json!({
            "active": true, "token_type": "refresh_token", "scope": rt.scope, "sub": rt.user_id,
            "client_id": rt.client_id, "exp": rt.idle_expires_at.min(rt.family_expires_at), "iat": rt.created_at,
        }))
        .into_response());
    }
    let Ok((c, aud)) = state.verify_access_token(token) else {
        return inactive();
    };
    let catalog = state.catalog.load();
    // A client may introspect the access tokens issued to it, and those for an API it holds a
    // client grant for (the API's own client, checking what it is sent); nothing else.
    let granted = catalog
        .grants
        .get(&client.client_id)
        .is_some_and(|g| g.contains_key(&aud));
    if c.client_id != client.client_id && !granted {
        return inactive();
    }
    // Stale (its subject's permissions, grants or credentials changed since), blocked or gone.
    if !crate::mgmt::is_current(&state, &c).await {
        return inactive();
    }
    Ok(axum::Json(json!({
        "active": true, "token_type": "access_token", "scope": c.scope, "permissions": c.permissions,
        "sub": c.sub, "client_id": c.client_id, "aud": c.aud, "iss": c.iss, "exp": c.exp, "iat": c.iat,
    }))
    .into_response())
}
