//! The `authorization_code` grant: PKCE (S256), single use, bound to client and redirect URI;
//! a reused code revokes the refresh family its first use issued.

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::response::Response;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use writ_core::Client;
use writ_service::crypto::{random_token, sha256_hex};
use writ_service::time::now;
use writ_service::tokens::{self, LoginContext};
use writ_store::{CodeOutcome, RefreshToken};

use super::{TokenRequest, audit_exchange, client_for, required, user_tokens};
use crate::error::OAuthError;
use crate::state::AppState;

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

/// Answers an `authorization_code` token request (also the console's own code exchange).
pub async fn grant(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
) -> Result<Response, OAuthError> {
    let client = client_for(state, ip, headers, req, "authorization_code")?;
    let code = required(&req.code, "code")?;
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
    let api = tokens::api_for(state, c.audience.as_deref())?;
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
        LoginContext {
            auth_time: c.auth_time,
            nonce: c.nonce.as_deref(),
            sid: c.sid.as_deref(),
        },
        refresh,
        "authorization_code",
    )
    .await?;
    audit_exchange(
        state,
        ip,
        headers,
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
            audit_exchange(
                state,
                ip,
                headers,
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
