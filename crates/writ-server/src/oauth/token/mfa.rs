//! Auth0's MFA grants, which finish a password-grant login answered `mfa_required`:
//! `http://auth0.com/oauth/grant-type/mfa-otp` (`mfa_token`, `otp`) and
//! `http://auth0.com/oauth/grant-type/mfa-recovery-code` (`mfa_token`, `recovery_code`; the
//! answer carries the next recovery code). The client authenticates as for any grant and must
//! be the one the `mfa_token` was issued to; the code checks, the attempt bucket and the
//! single use of the token are [`writ_service::mfa`]'s.

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::response::Response;
use writ_service::mfa::{self, Checked, LoginKind};
use writ_service::tokens::LoginContext;

use super::{TokenRequest, authenticate, required, respond_with};
use crate::error::OAuthError;
use crate::state::AppState;

/// The `mfa-otp` grant type.
pub const OTP: &str = "http://auth0.com/oauth/grant-type/mfa-otp";
/// The `mfa-recovery-code` grant type.
pub const RECOVERY_CODE: &str = "http://auth0.com/oauth/grant-type/mfa-recovery-code";

/// Answers an `mfa-otp` or `mfa-recovery-code` token request.
pub async fn grant(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
    grant: &str,
) -> Result<Response, OAuthError> {
    let client = authenticate(state, ip, headers, req)?;
    // The grant itself, or (it finishes their logins) the password grants.
    if !client.allows_grant(grant)
        && !client.allows_grant("password")
        && !client.allows_grant("http://auth0.com/oauth/grant-type/password-realm")
    {
        return Err(OAuthError::unauthorized_client(format!(
            "Grant type '{grant}' not allowed for the client."
        )));
    }
    let token = required(&req.mfa_token, "mfa_token")?;
    let code = if grant == OTP {
        required(&req.otp, "otp")?
    } else {
        required(&req.recovery_code, "recovery_code")?
    };
    let login = mfa::pending(state, LoginKind::Grant, token, Some(&client.client_id))
        .await
        .map_err(OAuthError::server_error)?
        .ok_or_else(|| OAuthError::invalid_grant("Malformed mfa_token"))?;
    let user = writ_service::tokens::live_user(state, &login.user_id).await?;
    let peer = crate::audit::peer(ip, headers);
    let checked = if grant == OTP {
        mfa::check_otp(state, &peer, &user, code, false).await
    } else {
        mfa::check_recovery(state, &peer, &user, code).await
    }
    .map_err(OAuthError::server_error)?;
    let recovery_code = match checked {
        Checked::Accepted { recovery_code } => recovery_code,
        Checked::Wrong if grant == OTP => {
            return Err(OAuthError::invalid_grant("Invalid otp_code."));
        }
        Checked::Wrong => {
            return Err(OAuthError::invalid_grant("MFA Authorization rejected."));
        }
        Checked::TooManyAttempts { retry_after } => {
            return Err(OAuthError::too_many(
                "Too many failed attempts. Wait a few minutes and try again.",
                u64::try_from(retry_after).unwrap_or(1),
            ));
        }
    };
    // Once: a second request with the same token finds it used.
    if mfa::finish_login(state, token)
        .await
        .map_err(OAuthError::server_error)?
        .is_none()
    {
        return Err(OAuthError::invalid_grant("Malformed mfa_token"));
    }
    let api = writ_service::tokens::resolve_api(state, login.audience.as_deref(), None)?;
    let ctx = LoginContext {
        auth_time: writ_service::time::now(),
        nonce: None,
        sid: None,
        amr: Some(mfa::AMR_PWD_OTP),
    };
    let minted = writ_service::tokens::for_user(
        state,
        &client,
        &user,
        &api,
        true,
        login.scope.as_deref(),
        ctx,
        "mfa",
        true,
    )
    .await?;
    let refresh = writ_service::exchange::direct_refresh(
        state,
        &client,
        &user.user_id,
        &api,
        login.scope.as_deref(),
        ctx,
    )
    .await?;
    Ok(respond_with(minted, refresh, recovery_code))
}
