//! In-process calls to the Management API with the signed-in admin's token, so every change the
//! console makes runs the very handlers behind `/api/v2` (scope checks, validation, store writes,
//! catalog reload) instead of a second copy of them.

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

use crate::http::client_addr::ClientAddr;
use crate::state::AppState;

/// The Management API router, built once with the state (handed to handlers as an extension).
#[derive(Clone)]
pub struct Mgmt(Router);

impl Mgmt {
    pub fn new(state: &AppState) -> Self {
        Mgmt(crate::mgmt::router().with_state(state.clone()))
    }
}

/// A Management API refusal, reduced to what a form shows.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: StatusCode,
    /// The human part of the message (`'String is too long'`, not the whole Auth0 sentence).
    pub message: String,
    /// The property the message names (`scopes[0].value` → `scopes`), when it names one.
    pub field: Option<String>,
    /// Auth0's `errorCode`.
    pub code: String,
}

impl Failure {
    fn from_body(status: StatusCode, body: &Value) -> Self {
        let raw = body["message"].as_str().unwrap_or("The request failed.");
        Failure {
            status,
            message: human(raw),
            field: field_of(raw),
            code: body["errorCode"].as_str().unwrap_or_default().to_owned(),
        }
    }

    /// The admin's token lacks the route's scope.
    pub fn insufficient_scope(&self) -> bool {
        self.code == "insufficient_scope"
    }
}

/// `Payload validation error: 'X' on property p.` → `X`; other messages as they are.
fn human(raw: &str) -> String {
    let body = raw
        .strip_prefix("Payload validation error: ")
        .unwrap_or(raw)
        .trim_end_matches('.');
    let body = body.split(" on property ").next().unwrap_or(body);
    let body = body.trim_matches('\'');
    if body.is_empty() {
        raw.to_owned()
    } else {
        format!("{body}.").replace("..", ".")
    }
}

/// The top-level property a Management API message names, if any.
fn field_of(raw: &str) -> Option<String> {
    let tail = raw
        .split(" on property ")
        .nth(1)
        .or_else(|| raw.split("Missing required property: ").nth(1))
        .or_else(|| raw.split("Additional properties not allowed: ").nth(1))?;
    let name: String = tail
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// Where the admin's request came from, passed on so the audit log of the Management API
/// records the admin's address and browser rather than the console's.
#[derive(Clone, Default)]
pub struct Origin {
    /// The admin's address, as [`crate::http::client_addr`] worked it out (behind a trusted proxy,
    /// the admin's own).
    pub peer: Option<ClientAddr>,
    pub user_agent: Option<HeaderValue>,
}

/// Calls `method path` (a path under `/api/v2`) with `token` as the bearer.
pub async fn call(
    mgmt: &Mgmt,
    token: &str,
    from: &Origin,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Value, Failure> {
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"));
    if let Some(ua) = &from.user_agent {
        req = req.header(header::USER_AGENT, ua.clone());
    }
    if let Some(peer) = from.peer {
        req = req.extension(peer);
    }
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(serde_json::to_vec(b).unwrap_or_default())
        }
        None => Body::empty(),
    };
    let internal = |m: &str| Failure {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: m.to_owned(),
        field: None,
        code: String::new(),
    };
    let req = req
        .body(body)
        .map_err(|_| internal("The request could not be built."))?;
    let resp = match mgmt.0.clone().oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 8 * 1024 * 1024)
        .await
        .map_err(|_| internal("The response could not be read."))?;
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or(Value::Null)
    };
    if status.is_success() {
        Ok(value)
    } else {
        Err(Failure::from_body(status, &value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_fields() {
        let m = "Payload validation error: 'String is too long (max 140)' on property description.";
        assert_eq!(human(m), "String is too long (max 140).");
        assert_eq!(field_of(m).as_deref(), Some("description"));
        let m = "Payload validation error: 'Unsupported grant type: x' on property grant_types[0].";
        assert_eq!(field_of(m).as_deref(), Some("grant_types"));
        let m = "Payload validation error: 'Missing required property: identifier'.";
        assert_eq!(field_of(m).as_deref(), Some("identifier"));
        assert_eq!(human("conflict: exists"), "conflict: exists.");
        assert_eq!(field_of("The role does not exist."), None);
    }
}
