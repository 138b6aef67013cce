//! `/api/v2/keys/signing`: list, read, rotate and revoke signing keys (Auth0's paths).

use axum::Router;
use axum::extract::{Path, State};

use axum::response::Response;
use axum::routing::{get, post, put};
use serde_json::{Value, json};
use writ_core::{KeyState, SigningKey};

use super::{Caller, ok, schemas};
use crate::error::ApiError;
use crate::state::AppState;
use writ_service::key_rotation;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/keys/signing", get(list))
        .route("/keys/signing/rotate", post(rotate))
        .route("/keys/signing/{kid}", get(read))
        .route("/keys/signing/{kid}/revoke", put(revoke))
}

fn thumbprint(k: &SigningKey) -> Option<String> {
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(k.public_jwk.clone()).ok()?;
    jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
        .ok()
}

fn key_json(k: &SigningKey) -> Value {
    json!({
        "kid": k.kid,
        "alg": k.alg.as_str(),
        "current": k.state == KeyState::Current,
        "next": k.state == KeyState::Next,
        "previous": k.state == KeyState::Previous,
        "revoked": k.state == KeyState::Revoked,
        "current_since": k.current_since,
        "current_until": k.current_until,
        "revoked_at": k.revoked_at,
        "thumbprint": thumbprint(k),
        "jwk": k.public_jwk,
    })
}

#[utoipa::path(
    get,
    path = "/api/v2/keys/signing",
    operation_id = "get_signing_keys",
    tag = "keys",
    summary = "List signing keys",
    responses(
        (status = 200, description = "Every signing key of every algorithm, with its state.", body = Vec<schemas::SigningKey>),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
    ),
    security(("bearer" = ["read:signing_keys"]))
)]
async fn list(State(s): State<AppState>, c: Caller) -> Result<Response, ApiError> {
    c.require("read:signing_keys").await?;
    let keys = s.store.signing_keys().await?;
    Ok(ok(Value::Array(keys.iter().map(key_json).collect())))
}

#[utoipa::path(
    get,
    path = "/api/v2/keys/signing/{kid}",
    operation_id = "get_signing_key",
    tag = "keys",
    summary = "Get a signing key",
    params(
        ("kid" = String, Path, description = "The key id (`kid`)."),
    ),
    responses(
        (status = 200, description = "The key.", body = schemas::SigningKey),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such signing key.", body = schemas::Error),
    ),
    security(("bearer" = ["read:signing_keys"]))
)]
async fn read(
    State(s): State<AppState>,
    c: Caller,
    Path(kid): Path<String>,
) -> Result<Response, ApiError> {
    c.require("read:signing_keys").await?;
    let keys = s.store.signing_keys().await?;
    let k = keys
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| ApiError::not_found("signing key"))?;
    Ok(ok(key_json(k)))
}

/// Rotates every algorithm: next → current, current → previous (published until its tokens
/// expire), and a new next key. Answers with the new current RS256 key, as Auth0 does.
#[utoipa::path(
    post,
    path = "/api/v2/keys/signing/rotate",
    operation_id = "post_signing_keys",
    tag = "keys",
    summary = "Rotate the signing keys",
    description = "Rotates every algorithm: the next key becomes current, the current key becomes previous (still published until the tokens it signed expire), and a new next key is created. Requires both `create:signing_keys` and `update:signing_keys`.",
    responses(
        (status = 200, description = "Rotated; the body names the new current RS256 key.", body = schemas::RotatedKey),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
    ),
    security(("bearer" = ["create:signing_keys", "update:signing_keys"]))
)]
async fn rotate(State(s): State<AppState>, c: Caller) -> Result<Response, ApiError> {
    c.require("create:signing_keys").await?;
    c.require("update:signing_keys").await?;
    let kid = key_rotation::rotate(&s, &c.actor()).await?;
    Ok(ok(json!({ "kid": kid })))
}

#[utoipa::path(
    put,
    path = "/api/v2/keys/signing/{kid}/revoke",
    operation_id = "put_signing_keys",
    tag = "keys",
    summary = "Revoke a signing key",
    params(
        ("kid" = String, Path, description = "The key id (`kid`)."),
    ),
    responses(
        (status = 200, description = "Revoked: the key leaves the JWKS, so tokens it signed no longer verify.", body = schemas::RevokedKey),
        (status = 400, description = "Only a previous (rotated-out) key can be revoked, and only once.", body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such signing key.", body = schemas::Error),
    ),
    security(("bearer" = ["update:signing_keys"]))
)]
async fn revoke(
    State(s): State<AppState>,
    c: Caller,
    Path(kid): Path<String>,
) -> Result<Response, ApiError> {
    c.require("update:signing_keys").await?;
    let k = key_rotation::revoke(&s, &c.actor(), &kid).await?;
    Ok(ok(
        json!({ "kid": k.kid, "revoked": true, "revoked_at": k.revoked_at }),
    ))
}
