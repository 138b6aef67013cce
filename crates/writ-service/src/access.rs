//! Which client may obtain a user's tokens for which API, in one place (every grant that mints
//! user tokens, and `/authorize` before it issues a code, ask here):
//!
//! - User tokens for the Management API audience (`{issuer}api/v2/`) go only to Writ's own
//!   console client. Any other client, first-party or not, gets `access_denied`: a token there
//!   carries the signed-in admin's management permissions, and a hidden iframe on any site
//!   could otherwise obtain one through `prompt=none`.
//! - Third-party clients (`is_first_party: false`) act for a user only with that user's
//!   consent, as Auth0 does: once per (user, client, API, scopes), recorded in the store and
//!   listed/revoked through `/api/v2/grants`. They may not use the password grant (there is no
//!   consent step in it). Their access tokens' `permissions` claim is limited to the scopes
//!   they asked for (and the user consented to), so an API checking `permissions` cannot be
//!   handed more than the consent covers.
//!
//! And what a caller of the Management API or the admin console may do, from its verified
//! token: a permission is held when the token's `permissions` (or, without that claim, its
//! `scope`) lists it ([`missing`], [`require`]); a user token speaks for its user only while the
//! user exists, is not blocked and has the permissions the token was made with
//! ([`current_user`]).

use writ_core::rbac::{Granted, OIDC_SCOPES};
use writ_core::{Client, ResourceServer, User};
use writ_guard::AccessClaims;
use writ_store::StoreError;

use crate::audit::Operation;
use crate::{Actor, ServiceError, Writ};

/// The refusal a client gets for user tokens at the Management API.
pub const MANAGEMENT_DENIED: &str =
    "User tokens for the Management API are issued only to Writ's admin console.";

/// A refusal of [`user_audience_allowed`]: OAuth's `access_denied`, with this description.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AccessDenied(pub &'static str);

/// Whether `client` may obtain user tokens for the API `audience` (`None`: no API, only
/// `/userinfo`). Machine tokens (client credentials) are governed by client grants instead.
pub fn user_audience_allowed(
    state: &Writ,
    client: &Client,
    audience: Option<&str>,
) -> Result<(), AccessDenied> {
    if audience.is_some_and(|a| a == state.management_audience())
        && client.client_id != writ_core::CONSOLE_CLIENT_ID
    {
        return Err(AccessDenied(MANAGEMENT_DENIED));
    }
    Ok(())
}

/// The audience a consent is recorded under: the API, or `{issuer}userinfo` for requests
/// without one (only OpenID scopes).
pub fn consent_audience<'a>(state: &'a Writ, audience: Option<&'a str>) -> &'a str {
    audience.unwrap_or(state.userinfo_audience())
}

/// The scopes of a request that a consent covers: the OpenID scopes and the API's own, once
/// each, sorted (others are dropped at issuance anyway).
pub fn consent_scopes(api: Option<&ResourceServer>, requested: &str) -> Vec<String> {
    let mut v: Vec<String> = requested
        .split_ascii_whitespace()
        .filter(|s| OIDC_SCOPES.contains(s) || api.is_some_and(|a| a.has_scope(s)))
        .map(str::to_owned)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Whether `client` needs the user's consent before acting for them with `scopes` at
/// `audience` (first-party clients never do); `Ok(true)` when a consent covering every scope
/// is missing.
pub async fn needs_consent(
    state: &Writ,
    client: &Client,
    user_id: &str,
    audience: &str,
    scopes: &[String],
) -> Result<bool, StoreError> {
    if client.is_first_party {
        return Ok(false);
    }
    let given = state
        .store
        .consent(user_id, &client.client_id, audience)
        .await?;
    Ok(!given.is_some_and(|c| scopes.iter().all(|s| c.scope.contains(s))))
}

/// Narrows what a user token carries for a third-party client: its `permissions` claim lists
/// only the permissions it asked for (already intersected with the user's in `scope`).
pub fn narrow_for_client(client: &Client, granted: &mut Granted<'_>) {
    if client.is_first_party {
        return;
    }
    if let Some(perms) = &granted.permissions {
        let kept: Vec<String> = perms
            .iter()
            .filter(|p| granted.scope.iter().any(|s| s == *p))
            .cloned()
            .collect();
        granted.permissions = Some(kept.into());
    }
}

/// The permissions of `need` that the verified token `claims` does not hold.
pub fn missing<'a>(claims: &AccessClaims, need: &[&'a str]) -> Vec<&'a str> {
    need.iter()
        .copied()
        .filter(|p| !claims.has_permission(p))
        .collect()
}

/// `Err(ServiceError::Forbidden)` naming what is missing, unless `claims` holds every one of
/// `need`.
pub fn require(claims: &AccessClaims, need: &[&str]) -> crate::Result<()> {
    let missing = missing(claims, need);
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Forbidden {
            missing: missing.into_iter().map(str::to_owned).collect(),
        })
    }
}

/// [`require`] before the write `op` by `actor`: a refusal is recorded in the audit log as the
/// Management API records one (`fapi`, 403 `insufficient_scope`), so a write refused for its
/// permissions leaves the same trace whichever edge refused it.
pub async fn require_for_write(
    w: &Writ,
    actor: &Actor,
    claims: &AccessClaims,
    need: &[&str],
    op: &Operation,
) -> crate::Result<()> {
    let r = require(claims, need);
    if let Err(e) = &r {
        crate::audit::api_write(w, Some(actor), op, Err((e.status(), e.code()))).await;
    }
    r
}

/// The user a verified user token speaks for, if it still may: the user exists, is not
/// blocked, and their permissions have not changed since the token was made (`authz_ver`).
pub async fn current_user(w: &Writ, claims: &AccessClaims) -> Option<User> {
    let user = w.store.get_user(&claims.sub).await.ok()?;
    let fresh = claims.authz_ver.unwrap_or(i64::MIN) >= user.authz_version;
    (fresh && !user.blocked).then_some(user)
}
