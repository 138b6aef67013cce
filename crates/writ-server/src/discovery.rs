//! `/.well-known/openid-configuration` and `/.well-known/jwks.json`.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

pub async fn jwks(State(state): State<AppState>) -> Response {
    let jwks = state.keys.load().jwks.clone();
    let mut r = axum::Json(&*jwks).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    r
}

pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    let iss = &state.config.issuer;
    let body = json!({
        "issuer": iss,
        "token_endpoint": format!("{iss}oauth/token"),
        "jwks_uri": format!("{iss}.well-known/jwks.json"),
        "grant_types_supported": ["client_credentials", "password", "http://auth0.com/oauth/grant-type/password-realm"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "access_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "azp", "email", "email_verified", "name", "permissions"],
    });
    let mut r = axum::Json(body).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    r
}
