//! `/.well-known/openid-configuration` (OIDC Discovery) and `/.well-known/jwks.json` (the
//! published signing keys).

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

pub async fn jwks(State(state): State<AppState>) -> Response {
    let jwks = state.keys.load().jwks.clone();
    let mut r = axum::Json(&*jwks).into_response();
    // How long verifiers may keep it: the warm-up of a newly published key outlasts it.
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(writ_service::config::JWKS_CACHE_CONTROL),
    );
    r
}

pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    let iss = &state.config.issuer;
    let body = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}authorize"),
        "token_endpoint": format!("{iss}oauth/token"),
        "userinfo_endpoint": format!("{iss}userinfo"),
        "jwks_uri": format!("{iss}.well-known/jwks.json"),
        "revocation_endpoint": format!("{iss}oauth/revoke"),
        "introspection_endpoint": format!("{iss}oauth/introspect"),
        "end_session_endpoint": format!("{iss}oidc/logout"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query", "fragment", "form_post", "web_message"],
        "code_challenge_methods_supported": ["S256"],
        "grant_types_supported": [
            "authorization_code", "refresh_token", "client_credentials", "password",
            "http://auth0.com/oauth/grant-type/password-realm"
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "access_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "azp", "nonce", "sid", "email",
            "email_verified", "name", "nickname", "permissions", "amr", "acr"
        ],
        "request_parameter_supported": false,
        // RFC 9207: every authorization response (success or error, any response mode) names
        // its issuer, so a client talking to several servers can tell a mix-up.
        "authorization_response_iss_parameter_supported": true,
        // `prompt=consent` asks a third-party client's user again (see `access`).
        "prompt_values_supported": ["none", "login", "consent"],
    });
    let mut r = axum::Json(body).into_response();
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=60"),
    );
    r
}
