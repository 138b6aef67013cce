//! The `password` grant (and Auth0's `password-realm`): a first-party client trades a user's
//! email and password for their tokens. The password is checked by
//! [`writ_service::logins::check`], the same check as the hosted login form's. With
//! `offline_access` granted, a refresh token comes too (see
//! [`writ_service::exchange::direct_refresh`]).

use std::net::IpAddr;

use axum::http::HeaderMap;
use axum::response::Response;
use writ_service::logins::Refused;
use writ_service::tokens::LoginContext;

use super::{TokenRequest, authenticate, required, respond};
use crate::error::OAuthError;
use crate::state::AppState;

/// Answers a `password` (or `password-realm`, named by `grant`) token request.
pub async fn grant(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    req: &TokenRequest,
    grant: &str,
) -> Result<Response, OAuthError> {
    let client = authenticate(state, ip, headers, req)?;
    if !client.allows_grant(grant) && !client.allows_grant("password") {
        return Err(OAuthError::unauthorized_client(format!(
            "Grant type '{grant}' not allowed for the client."
        )));
    }
    if let Some(realm) = &req.realm
        && realm != writ_core::DEFAULT_CONNECTION
    {
        return Err(OAuthError::invalid_request(format!(
            "Unknown realm: {realm}"
        )));
    }
    let username = required(&req.username, "username")?;
    let pw = required(&req.password, "password")?;
    // Third-party clients act for a user only with consent given on the hosted page; and no
    // client but the console gets user tokens for the Management API. Both before the
    // password is looked at.
    if !client.is_first_party {
        return Err(OAuthError::unauthorized_client(
            "Third-party clients cannot use the password grant: users consent on the hosted login page.",
        ));
    }
    let api =
        writ_service::tokens::resolve_api(state, req.audience.as_deref(), req.resource.as_deref())?;
    writ_service::access::user_audience_allowed(state, &client, Some(&api.identifier))
        .map_err(|e| OAuthError::access_denied(e.0))?;
    let peer = crate::audit::peer(ip, headers);
    let attempt = writ_service::logins::Attempt {
        via: writ_service::audit::Via::PasswordGrant,
        peer: &peer,
        client_id: &client.client_id,
        username,
        password: pw,
    };
    let user = match writ_service::logins::check(state, attempt).await {
        Ok(user) => user,
        Err(Refused::TooManyAttempts { retry_after }) => {
            return Err(OAuthError::too_many(
                "Your account has been blocked after multiple consecutive login attempts from this address.",
                retry_after,
            ));
        }
        Err(Refused::WrongCredentials) => {
            return Err(OAuthError::invalid_grant("Wrong email or password."));
        }
        Err(Refused::UserBlocked) => return Err(OAuthError::invalid_grant("user is blocked")),
        Err(Refused::Internal) => return Err(OAuthError::server_error("login failed")),
    };
    // A second factor first, when the user has one or one is required: Auth0's
    // `mfa_required` with the token that carries this login on (see `super::mfa`).
    let mfa_required = async || {
        let pending = writ_service::mfa::Pending {
            kind: writ_service::mfa::LoginKind::Grant,
            user_id: &user.user_id,
            client_id: &client.client_id,
            audience: Some(&api.identifier),
            scope: req.scope.as_deref(),
            tx: None,
        };
        match writ_service::mfa::start_login(state, pending).await {
            Ok(token) => OAuthError::mfa_required(token),
            Err(e) => OAuthError::server_error(e),
        }
    };
    match writ_service::mfa::requirement(state, &client, &user, false).await {
        Ok(writ_service::mfa::Requirement::None) => {}
        Ok(_) => return Err(mfa_required().await),
        Err(e) => return Err(OAuthError::server_error(e)),
    }
    let login = LoginContext {
        auth_time: writ_service::time::now(),
        nonce: None,
        sid: None,
        amr: Some(writ_service::mfa::AMR_PWD),
    };
    let minted = match writ_service::tokens::for_user(
        state,
        &client,
        &user,
        &api,
        true,
        req.scope.as_deref(),
        login,
        "password",
        // The user was read before the password check, which may have queued: read the
        // version anew.
        false,
    )
    .await
    {
        Ok(m) => m,
        // A post-login action asked for a second factor.
        Err(writ_service::OAuthRefusal::MfaRequired) => return Err(mfa_required().await),
        Err(e) => return Err(e.into()),
    };
    let refresh = writ_service::exchange::direct_refresh(
        state,
        &client,
        &user.user_id,
        &api,
        req.scope.as_deref(),
        login,
    )
    .await?;
    Ok(respond(minted, refresh))
}
