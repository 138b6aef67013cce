//! What the admin console (`writ-console`, mounted by the binary) needs from this edge: the
//! redemption of its sign-in's authorization code at the token endpoint, called in process as
//! the console's public client with its PKCE verifier. Nothing else of the console lives here.

use axum::http::HeaderMap;
use serde_json::Value;
use writ_core::CONSOLE_CLIENT_ID;
use writ_service::console::{CodeExchange, CodeRedemption, Issued};

use crate::state::AppState;

/// The [`CodeExchange`] the console is given: [`exchange`].
pub fn code_exchange() -> CodeExchange {
    std::sync::Arc::new(|state, r| Box::pin(async move { exchange(&state, r).await }))
}

/// Redeems a console sign-in's code through the `authorization_code` grant, exactly as
/// `POST /oauth/token` would; the error is the sentence the sign-in page shows.
pub async fn exchange(state: &AppState, r: CodeRedemption) -> Result<Issued, String> {
    let req = crate::oauth::token::TokenRequest {
        grant_type: Some("authorization_code".into()),
        client_id: Some(CONSOLE_CLIENT_ID.into()),
        code: Some(r.code),
        redirect_uri: Some(r.redirect_uri),
        code_verifier: Some(r.code_verifier),
        ..Default::default()
    };
    let resp = crate::oauth::token::authorization_code::grant(state, r.ip, &HeaderMap::new(), &req)
        .await
        .map_err(|e| format!("The code exchange failed: {}", e.description))?;
    let bytes = axum::body::to_bytes(resp.into_body(), 1024 * 1024)
        .await
        .map_err(|_| "The token response could not be read.".to_string())?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let access_token = v["access_token"]
        .as_str()
        .ok_or("The token response has no access token.")?
        .to_owned();
    Ok(Issued {
        access_token,
        expires_in: v["expires_in"].as_i64().unwrap_or(3600),
    })
}
