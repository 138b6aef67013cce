//! `/api/v2/keys/signing`: list, read, rotate and revoke signing keys (Auth0's paths).

use super::prelude::*;
use super::types::{RevokedKey, RotatedKey};
use writ_service::{certificates, key_rotation};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list))
        .routes(routes!(rotate))
        .routes(routes!(read))
        .routes(routes!(revoke))
}

#[utoipa::path(
    get,
    path = "/keys/signing",
    operation_id = "get_signing_keys",
    tag = "keys",
    summary = "List signing keys",
    responses(
        (status = 200, description = "Every signing key of every algorithm, with its state.", body = Vec<types::SigningKey>),
        schemas::Denied,
    ),
    security(("bearer" = ["read:signing_keys"]))
)]
async fn list(c: Caller) -> Result<Response, ApiError> {
    let keys = c.store.signing_keys().await?;
    let mut out = Vec::with_capacity(keys.len());
    for k in &keys {
        out.push(types::SigningKey::new(
            k,
            certificates::of(&c, k).await.as_deref(),
        ));
    }
    Ok(ok(out))
}

#[utoipa::path(
    get,
    path = "/keys/signing/{kid}",
    operation_id = "get_signing_key",
    tag = "keys",
    summary = "Get a signing key",
    params(Kid),
    responses(
        (status = 200, description = "The key.", body = types::SigningKey),
        schemas::Denied<Kid>,
    ),
    security(("bearer" = ["read:signing_keys"]))
)]
async fn read(c: Caller, Path(Kid(kid)): Path<Kid>) -> Result<Response, ApiError> {
    let keys = c.store.signing_keys().await?;
    let k = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| ApiError::not_found("signing key"))?;
    Ok(ok(types::SigningKey::new(
        k,
        certificates::of(&c, k).await.as_deref(),
    )))
}

/// Rotates every algorithm: next → current, current → previous (published until its tokens
/// expire), and a new next key. Answers with the new current RS256 key, as Auth0 does.
#[utoipa::path(
    post,
    path = "/keys/signing/rotate",
    operation_id = "post_signing_keys",
    tag = "keys",
    summary = "Rotate the signing keys",
    description = "Rotates every algorithm: the next key becomes current, the current key becomes previous (still published until the tokens it signed expire), and a new next key is created. Requires both `create:signing_keys` and `update:signing_keys`.",
    responses(
        (status = 200, description = "Rotated; the body names the new current RS256 key and its certificate.", body = types::RotatedKey),
        schemas::Denied,
    ),
    security(("bearer" = ["create:signing_keys", "update:signing_keys"]))
)]
async fn rotate(c: Caller) -> Result<Response, ApiError> {
    let kid = key_rotation::rotate(&c, &c.actor()).await?;
    let keys = c.store.signing_keys().await?;
    let cert = match keys.iter().find(|k| Some(&k.kid) == kid.as_ref()) {
        Some(k) => certificates::of(&c, k).await.map(|c| c.cert.clone()),
        None => None,
    };
    Ok(ok(RotatedKey { cert, kid }))
}

#[utoipa::path(
    put,
    path = "/keys/signing/{kid}/revoke",
    operation_id = "put_signing_keys",
    tag = "keys",
    summary = "Revoke a signing key",
    params(Kid),
    responses(
        (status = 200, description = "Revoked: the key leaves the JWKS, so tokens it signed no longer verify.", body = types::RevokedKey),
        (status = 400, description = "Only a previous (rotated-out) key can be revoked, and only once.", body = types::Error),
        schemas::Denied<Kid>,
    ),
    security(("bearer" = ["update:signing_keys"]))
)]
async fn revoke(c: Caller, Path(Kid(kid)): Path<Kid>) -> Result<Response, ApiError> {
    let k = key_rotation::revoke(&c, &c.actor(), &kid).await?;
    Ok(ok(RevokedKey {
        cert: certificates::of(&c, &k).await.map(|c| c.cert.clone()),
        kid: k.kid,
        revoked: true,
        revoked_at: k.revoked_at,
    }))
}
