//! The browser grants of `POST /oauth/token`: `authorization_code` (PKCE, single use, bound to
//! client and redirect URI; a reused code revokes the refresh family it issued) and
//! `refresh_token` (rotation with reuse detection; RBAC re-evaluated, so a refresh returns the
//! user's current permissions).

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use writ_core::rbac::grant_for_user;
use writ_core::{Client, ResourceServer};
use writ_store::{CodeOutcome, RefreshToken, RotateOutcome, StoreError};

use crate::error::OAuthError;
use crate::state::AppState;
use crate::token::{TokenRequest, access_token, authenticate, id_token, now, respond_with_refresh};
use writ_service::crypto::{random_token, sha256_hex};

const INVALID_REFRESH: &str = "Unknown or invalid refresh token.";

/// RFC 7636 §4.6: BASE64URL(SHA256(verifier)) == challenge, verifier 43–128 unreserved chars.
fn pkce_ok(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    well_formed && bool::from(computed.as_bytes().ct_eq(challenge.as_bytes()))
}

fn api_for(state: &AppState, audience: Option<&str>) -> Result<Arc<ResourceServer>, OAuthError> {
    match audience {
        None => Ok(Arc::new(state.userinfo_api())),
        Some(a) => state
            .catalog
            .load()
            .apis
            .get(a)
            .cloned()
            .ok_or_else(|| OAuthError::invalid_grant(format!("Service not found: {a}"))),
    }
}

/// Issues the token response for a user: access token (current RBAC), ID token when `openid`
/// was granted, and the refresh token given. Also returns the user's email (for the audit log,
/// which then need not read the user again).
#[allow(clippy::too_many_arguments)]
async fn user_tokens(
    state: &AppState,
    client: &Client,
    user_id: &str,
    audience: Option<&str>,
    scope: &str,
    nonce: Option<&str>,
    sid: Option<&str>,
    auth_time: i64,
    refresh: Option<String>,
    gty: &str,
) -> Result<(Response, String), OAuthError> {
    let user = match state.store.get_user(user_id).await {
        Ok(u) => u,
        Err(StoreError::NotFound(_)) => {
            return Err(OAuthError::invalid_grant("The user no longer exists."));
        }
        Err(e) => return Err(e.into()),
    };
    if user.blocked {
        return Err(OAuthError::invalid_grant("user is blocked"));
    }
    writ_service::access::user_audience_allowed(state, client, audience)
        .map_err(|e| OAuthError::access_denied(e.0))?;
    let api = api_for(state, audience)?;
    let (perms, version) = if audience.is_some() {
        state
            .perms
            .get(state.store.as_ref(), &user.user_id, &api.identifier)
            .await?
    } else {
        (Arc::new(Vec::new()), user.authz_version)
    };
    let mut granted = grant_for_user(&api, Some(scope), &perms);
    writ_service::access::narrow_for_client(client, &mut granted);
    let scope_str = granted.scope_string();
    let idt = if granted.scope.iter().any(|s| s == "openid") {
        Some(id_token(
            state, client, &user, &scope_str, auth_time, nonce, sid,
        )?)
    } else {
        None
    };
    let (jwt, scope, exp) = access_token(
        state,
        &api,
        client,
        &user.user_id,
        &granted,
        gty,
        Some(version),
    )?;
    Ok((
        respond_with_refresh(jwt, &scope, exp, idt, refresh),
        user.email,
    ))
}

pub async fn authorization_code(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<Response, OAuthError> {
    let client = authenticate(state, ip, headers, req)?;
    if !client.allows_grant("authorization_code") {
        return Err(OAuthError::unauthorized_client(
            "Grant type 'authorization_code' not allowed for the client.",
        ));
    }
    let code = req
        .code
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: code"))?;
    let id = sha256_hex(code);
    let t = now();
    let invalid = || OAuthError::invalid_grant("Invalid authorization code");
    let c = state.store.get_code(&id).await?.ok_or_else(invalid)?;
    if c.used_at.is_some() {
        // A replay: the tokens the first use issued are revoked.
        return Err(replayed(state, ip, headers, &client, &id, t).await);
    }
    if c.client_id != client.client_id || t >= c.expires_at {
        return Err(invalid());
    }
    if req.redirect_uri.as_deref() != Some(c.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri does not match the authorization request",
        ));
    }
    match (&c.code_challenge, req.code_verifier.as_deref()) {
        (Some(ch), Some(v)) if pkce_ok(v, ch) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_grant("Failed to verify code verifier"));
        }
        (Some(_), None) => return Err(OAuthError::invalid_grant("Missing code_verifier")),
        // RFC 9700 §2.1.1: a verifier for a code issued without a challenge is a downgrade
        // attempt (an attacker's code injected into a PKCE client's session).
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier was sent, but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    // Decide on a refresh token before the code is used, so both are recorded at once.
    let wants_offline = c
        .scope
        .split_ascii_whitespace()
        .any(|s| s == "offline_access")
        && client.allows_grant("refresh_token");
    let api = api_for(state, c.audience.as_deref())?;
    let (refresh, record) = if wants_offline && api.allow_offline_access {
        let token = random_token(32);
        let rec = RefreshToken {
            id: sha256_hex(&token),
            family_id: random_token(16),
            parent_id: None,
            client_id: client.client_id.clone(),
            user_id: c.user_id.clone(),
            audience: c.audience.clone(),
            scope: c.scope.clone(),
            sid: c.sid.clone(),
            auth_time: c.auth_time,
            created_at: t,
            idle_expires_at: t + client.refresh_idle_lifetime,
            family_expires_at: t + client.refresh_absolute_lifetime,
            used_at: None,
            revoked: false,
        };
        (Some(token), Some(rec))
    } else {
        (None, None)
    };
    match state.store.consume_code(&id, t, record.as_ref()).await? {
        CodeOutcome::Fresh(_) => {}
        // Another request used it first, between our read and now.
        CodeOutcome::Reused(_) => {
            return Err(replayed(state, ip, headers, &client, &id, t).await);
        }
        CodeOutcome::Missing => return Err(invalid()),
    }
    let (r, email) = user_tokens(
        state,
        &client,
        &c.user_id,
        c.audience.as_deref(),
        &c.scope,
        c.nonce.as_deref(),
        c.sid.as_deref(),
        c.auth_time,
        refresh,
        "authorization_code",
    )
    .await?;
    writ_service::audit::exchange(
        state,
        &crate::audit::peer(ip, headers),
        &client.client_id,
        &c.user_id,
        Some(&email),
        writ_service::audit::Exchange::CodeExchanged,
    )
    .await;
    Ok(r)
}

/// A code presented again: using it once more revokes the refresh family its first use
/// recorded (in the store, atomically), and the attempt is audited.
async fn replayed(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    client: &Client,
    id: &str,
    t: i64,
) -> OAuthError {
    match state.store.consume_code(id, t, None).await {
        Ok(CodeOutcome::Reused(c)) => {
            writ_service::audit::exchange(
                state,
                &crate::audit::peer(ip, headers),
                &client.client_id,
                &c.user_id,
                None,
                writ_service::audit::Exchange::CodeReused,
            )
            .await;
            tracing::warn!(client_id = %c.client_id, "authorization code reused; tokens it issued were revoked");
        }
        Ok(_) => {}
        Err(e) => return e.into(),
    }
    OAuthError::invalid_grant("Invalid authorization code")
}

pub async fn refresh_token(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<Response, OAuthError> {
    let client = authenticate(state, ip, headers, req)?;
    if !client.allows_grant("refresh_token") {
        return Err(OAuthError::unauthorized_client(
            "Grant type 'refresh_token' not allowed for the client.",
        ));
    }
    let presented = req
        .refresh_token
        .as_deref()
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: refresh_token"))?;
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
                writ_service::audit::exchange(
                    state,
                    &crate::audit::peer(ip, headers),
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
        None,
        cur.sid.as_deref(),
        cur.auth_time,
        next,
        "refresh_token",
    )
    .await?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256() {
        // RFC 7636 appendix B.
        let v = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(pkce_ok(v, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"));
        assert!(!pkce_ok(v, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cX"));
        assert!(!pkce_ok(
            "short",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }
}
