//! The `refresh_token` grant: rotation with reuse detection (a reused token revokes its
//! family); RBAC is re-evaluated, so a refresh returns the user's current permissions.

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::response::Response;
use writ_service::crypto::{random_token, sha256_hex};
use writ_service::time::now;
use writ_service::tokens::LoginContext;
use writ_store::{RefreshToken, RotateOutcome};

use super::{TokenRequest, audit_exchange, client_for, required, user_tokens};
use crate::error::OAuthError;
use crate::state::AppState;

const INVALID_REFRESH: &str = "Unknown or invalid refresh token.";

/// Answers a `refresh_token` token request.
pub async fn grant(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<Response, OAuthError> {
    let client = client_for(state, ip, headers, req, "refresh_token")?;
    let presented = required(&req.refresh_token, "refresh_token")?;
    let id = sha256_hex(presented);
    let t = now();
    let cur = state
        .store
        .get_refresh(&id)
        .await?
        .ok_or_else(|| OAuthError::invalid_grant(INVALID_REFRESH))?;
    if cur.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(INVALID_REFRESH));
    }
    let next = if client.refresh_rotation {
        let token = random_token(32);
        let child = RefreshToken {
            id: sha256_hex(&token),
            parent_id: Some(cur.id.clone()),
            created_at: t,
            idle_expires_at: (t + client.refresh_idle_lifetime).min(cur.family_expires_at),
            used_at: None,
            revoked: false,
            ..cur.clone()
        };
        match state
            .store
            .rotate_refresh(&id, &child, t, client.refresh_leeway)
            .await?
        {
            RotateOutcome::Rotated => Some(token),
            RotateOutcome::Reused => {
                audit_exchange(
                    state,
                    ip,
                    headers,
                    &client.client_id,
                    &cur.user_id,
                    None,
                    writ_service::audit::Exchange::RefreshReused,
                )
                .await;
                tracing::warn!(client_id = %client.client_id, user_id = %cur.user_id, "refresh token reuse detected; family revoked");
                return Err(OAuthError::invalid_grant(INVALID_REFRESH));
            }
            RotateOutcome::Invalid => return Err(OAuthError::invalid_grant(INVALID_REFRESH)),
        }
    } else {
        if cur.revoked || t >= cur.family_expires_at || t >= cur.idle_expires_at {
            return Err(OAuthError::invalid_grant(INVALID_REFRESH));
        }
        None
    };
    let (r, _) = user_tokens(
        state,
        &client,
        &cur.user_id,
        cur.audience.as_deref(),
        &cur.scope,
        LoginContext {
            auth_time: cur.auth_time,
            nonce: None,
            sid: cur.sid.as_deref(),
        },
        next,
        "refresh_token",
    )
    .await?;
    Ok(r)
}
