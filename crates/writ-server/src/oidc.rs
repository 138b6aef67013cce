//! `/userinfo` (OIDC), `/oauth/revoke` (RFC 7009) and `/oauth/introspect` (RFC 7662), and the
//! CORS policy of the endpoints a browser calls directly.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use writ_guard::Verifier;

use crate::client_addr::ClientAddr;
use crate::error::OAuthError;
use crate::state::AppState;
use crate::token::{TokenRequest, authenticate, now};
use writ_service::crypto::sha256_hex;

fn bearer_error(status: StatusCode, error: &str, desc: &str) -> Response {
    let mut r = (
        status,
        axum::Json(json!({"error": error, "error_description": desc})),
    )
        .into_response();
    let v = if error.is_empty() {
        "Bearer realm=\"writ\"".to_owned()
    } else {
        format!("Bearer realm=\"writ\", error=\"{error}\", error_description=\"{desc}\"")
    };
    if let Ok(h) = HeaderValue::from_str(&v) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, h);
    }
    r
}

/// The verifier for one audience over every key Writ has published (not revoked), from the
/// catalog (built at each reload).
fn verifier_for(state: &AppState, audience: &str) -> Option<Verifier> {
    state.catalog.load().verifiers.get(audience).cloned()
}

/// `GET|POST /userinfo`: the profile claims the token's scope allows.
pub async fn userinfo(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(token) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
    else {
        return bearer_error(StatusCode::UNAUTHORIZED, "", "");
    };
    let Some(verifier) = verifier_for(&state, state.userinfo_audience()) else {
        return bearer_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "no keys");
    };
    let claims = match verifier.verify(token.trim()) {
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

#[derive(Deserialize, Default)]
struct TokenParam {
    token: Option<String>,
    token_type_hint: Option<String>,
}

fn parse_form(headers: &HeaderMap, body: &Bytes) -> Result<(TokenRequest, TokenParam), OAuthError> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    let bad = |e: String| OAuthError::invalid_request(format!("Invalid body: {e}"));
    if json {
        Ok((
            serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?,
            serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?,
        ))
    } else {
        Ok((
            serde_urlencoded::from_bytes(body).map_err(|e| bad(e.to_string()))?,
            serde_urlencoded::from_bytes(body).map_err(|e| bad(e.to_string()))?,
        ))
    }
}

/// RFC 7009: revoking a refresh token revokes its whole family. Answers 200 for unknown tokens.
pub async fn revoke(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let (req, p) = parse_form(&headers, &body)?;
    let client = authenticate(&state, addr.ip, &headers, &req)?;
    let token = p
        .token
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: token"))?;
    let _ = p.token_type_hint;
    if let Some(rt) = state.store.get_refresh(&sha256_hex(&token)).await?
        && rt.client_id == client.client_id
    {
        state.store.revoke_refresh_family(&rt.family_id).await?;
    }
    Ok(StatusCode::OK.into_response())
}

/// RFC 7662, for confidential clients: refresh tokens by state, access tokens by signature,
/// expiry and freshness (a token older than its subject's authz version is inactive). A client
/// learns only about tokens issued to it, or access tokens for an API it holds a client grant
/// for; every other token is `{"active": false}`, whatever it is.
pub async fn introspect(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let (req, p) = parse_form(&headers, &body)?;
    let client = authenticate(&state, addr.ip, &headers, &req)?;
    if client.secret_hash.is_none() {
        return Err(OAuthError::unauthorized_client(
            "Introspection is for confidential clients.",
        ));
    }
    let token = p
        .token
        .ok_or_else(|| OAuthError::invalid_request("Missing required parameter: token"))?;
    let inactive = || Ok(axum::Json(json!({"active": false})).into_response());
    if let Some(rt) = state.store.get_refresh(&sha256_hex(&token)).await? {
        let t = now();
        // Only the client it was issued to may learn anything about a refresh token.
        if rt.client_id != client.client_id
            || rt.revoked
            || rt.used_at.is_some()
            || t >= rt.family_expires_at
            || t >= rt.idle_expires_at
        {
            return inactive();
        }
        return Ok(axum::Json(json!({
            "active": true, "token_type": "refresh_token", "scope": rt.scope, "sub": rt.user_id,
            "client_id": rt.client_id, "exp": rt.idle_expires_at.min(rt.family_expires_at), "iat": rt.created_at,
        }))
        .into_response());
    }
    let Ok(unverified) = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(&token) else {
        return inactive();
    };
    let auds: Vec<String> = match &unverified["aud"] {
        Value::String(a) => vec![a.clone()],
        Value::Array(v) => v
            .iter()
            .filter_map(|a| a.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    };
    let catalog = state.catalog.load();
    let Some(aud) = auds
        .into_iter()
        .find(|a| catalog.apis.contains_key(a) || *a == state.userinfo_audience())
    else {
        return inactive();
    };
    let Some(verifier) = verifier_for(&state, &aud) else {
        return inactive();
    };
    let Ok(c) = verifier.verify(&token) else {
        return inactive();
    };
    // A client may introspect the access tokens issued to it, and those for an API it holds a
    // client grant for (the API's own client, checking what it is sent); nothing else.
    let granted = catalog
        .grants
        .get(&client.client_id)
        .is_some_and(|g| g.contains_key(&aud));
    if c.client_id != client.client_id && !granted {
        return inactive();
    }
    // Stale (its subject's permissions, grants or credentials changed since), blocked or gone.
    if !crate::mgmt::is_current(&state, &c).await {
        return inactive();
    }
    Ok(axum::Json(json!({
        "active": true, "token_type": "access_token", "scope": c.scope, "permissions": c.permissions,
        "sub": c.sub, "client_id": c.client_id, "aud": c.aud, "iss": c.iss, "exp": c.exp, "iat": c.iat,
    }))
    .into_response())
}

/// CORS for browser-called endpoints: origins any client allows (`web_origins`,
/// `allowed_origins`), the `Auth0-Client` header Auth0's SDKs send, no credentials.
pub async fn cors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let allowed = origin
        .as_ref()
        .filter(|o| state.catalog.load().origins.contains(o.as_str()))
        .cloned();
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut r = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    let h = r.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(o) = allowed.and_then(|o| HeaderValue::from_str(&o).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        if preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("Content-Type, Authorization, Auth0-Client"),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
        } else {
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("WWW-Authenticate"),
            );
        }
    }
    r
}
