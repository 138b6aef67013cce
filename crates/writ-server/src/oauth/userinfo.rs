//! `GET|POST /userinfo` (OIDC Core §5.3): the profile claims the access token's scope allows.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::verifier_for;
use crate::http::bearer::{Bearer, bearer_error};
use crate::state::AppState;

/// `GET|POST /userinfo`: the profile claims the token's scope allows.
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = Bearer::of(&headers).token() else {
        return bearer_error(StatusCode::UNAUTHORIZED, "", "");
    };
    let Some(verifier) = verifier_for(&state, state.userinfo_audience()) else {
        return bearer_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "no keys");
    };
    let claims = match verifier.verify(token) {
        Ok(c) => c,
        Err(e) => return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", &e.to_string()),
    };
    if !claims.scope.split_ascii_whitespace().any(|s| s == "openid") {
        return bearer_error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "openid scope required",
        );
    }
    let user = match state.store.get_user(&claims.sub).await {
        Ok(u) if !u.blocked => u,
        _ => {
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "unknown or blocked user",
            );
        }
    };
    let has = |s: &str| claims.scope.split_ascii_whitespace().any(|x| x == s);
    let mut out = json!({ "sub": user.user_id });
    if has("profile") {
        out["name"] = json!(user.name.clone().unwrap_or_else(|| user.email.clone()));
        out["nickname"] = json!(user.email.split('@').next().unwrap_or_default());
        out["updated_at"] = json!(user.updated_at);
    }
    if has("email") {
        out["email"] = json!(user.email);
        out["email_verified"] = json!(user.email_verified);
    }
    let mut r = axum::Json(out).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}
