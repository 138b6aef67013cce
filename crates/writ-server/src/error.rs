//! The two error dialects of the HTTP edge: Auth0's Management API body
//! `{statusCode, error, message, errorCode}` and RFC 6749/6750 OAuth errors. Internal errors are
//! logged with detail and answered with a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use writ_store::StoreError;

/// A Management API error (Auth0's shape).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub code: &'static str,
    /// `WWW-Authenticate` for 401/403 (RFC 6750).
    pub www_authenticate: Option<String>,
    /// Already in the audit log (the use case recorded its own failure).
    pub recorded: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            code,
            www_authenticate: None,
            recorded: false,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_body", message)
    }
    pub fn invalid_query(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query_string", message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "inexistent_resource",
            format!("The {what} does not exist."),
        )
    }
    pub fn unauthorized(message: impl Into<String>, desc: &str) -> Self {
        let mut e = Self::new(StatusCode::UNAUTHORIZED, "invalid_token", message);
        e.www_authenticate = Some(format!(
            "Bearer realm=\"writ\", error=\"invalid_token\", error_description=\"{desc}\""
        ));
        e
    }
    pub fn missing_token() -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "missing_token",
            "Missing authentication",
        );
        e.www_authenticate = Some("Bearer realm=\"writ\"".into());
        e
    }
    pub fn insufficient_scope(scope: &str) -> Self {
        let mut e = Self::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            format!("Insufficient scope, expected any of: {scope}"),
        );
        e.www_authenticate = Some(format!(
            "Bearer realm=\"writ\", error=\"insufficient_scope\", scope=\"{scope}\""
        ));
        e
    }
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Internal error",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => ApiError::not_found(what),
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Invalid(v) => ApiError::bad_request(format!(
                "Payload validation error: '{}' on property {}.",
                v.reason, v.field
            )),
            other => ApiError::internal(other),
        }
    }
}

impl From<writ_service::ServiceError> for ApiError {
    /// A use case's refusal, as it recorded it in the audit log.
    fn from(e: writ_service::ServiceError) -> Self {
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = match &e {
            writ_service::ServiceError::Internal(_) => "Internal error".to_owned(),
            other => other.to_string(),
        };
        let mut a = ApiError::new(status, e.code(), message);
        a.recorded = true;
        a
    }
}

impl From<writ_core::ValidationError> for ApiError {
    fn from(v: writ_core::ValidationError) -> Self {
        StoreError::Invalid(v).into()
    }
}

fn reason(status: StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Error")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = crate::mgmt::types::Error {
            status_code: self.status.as_u16(),
            error: reason(self.status).to_owned(),
            message: self.message,
            error_code: self.code.to_owned(),
        };
        let mut r = (self.status, axum::Json(body)).into_response();
        if let Some(w) = self
            .www_authenticate
            .and_then(|w| HeaderValue::from_str(&w).ok())
        {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, w);
        }
        r
    }
}

/// An OAuth 2.0 error response (RFC 6749 §5.2).
#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    /// Set when client authentication via HTTP Basic failed (401 + `WWW-Authenticate`).
    pub basic_challenge: bool,
    /// Seconds to wait, for 429.
    pub retry_after: Option<u64>,
    /// Auth0's `mfa_token`, with `mfa_required`.
    pub mfa_token: Option<String>,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            basic_challenge: false,
            retry_after: None,
            mfa_token: None,
        }
    }
    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }
    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", d)
    }
    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }
    pub fn unauthorized_client(d: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "unauthorized_client", d)
    }
    pub fn access_denied(d: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "access_denied", d)
    }
    pub fn too_many(d: impl Into<String>, retry_after: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "too_many_attempts", d);
        e.retry_after = Some(retry_after);
        e
    }
    /// Auth0's `mfa_required` (403), with the token that carries the login on.
    pub fn mfa_required(mfa_token: String) -> Self {
        let mut e = Self::new(
            StatusCode::FORBIDDEN,
            "mfa_required",
            "Multifactor authentication required",
        );
        e.mfa_token = Some(mfa_token);
        e
    }
    pub fn server_error(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error at an OAuth endpoint");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "Internal error",
        )
    }
}

impl From<StoreError> for OAuthError {
    fn from(e: StoreError) -> Self {
        OAuthError::server_error(e)
    }
}

impl From<writ_service::OAuthRefusal> for OAuthError {
    /// Each refusal of client authentication or minting, onto its status and headers.
    fn from(e: writ_service::OAuthRefusal) -> Self {
        use writ_service::OAuthRefusal as R;
        let code = e.code();
        match e {
            R::InvalidClient {
                description,
                via_basic,
            } => {
                let mut o = OAuthError::invalid_client(description);
                o.basic_challenge = via_basic;
                o
            }
            R::TooManyAttempts {
                description,
                retry_after,
            } => OAuthError::too_many(description, retry_after),
            R::ServerError(detail) => OAuthError::server_error(detail),
            R::MfaRequired => OAuthError::access_denied("Multifactor authentication required"),
            R::UnauthorizedClient(d) | R::AccessDenied(d) => {
                OAuthError::new(StatusCode::FORBIDDEN, code, d)
            }
            R::InvalidRequest(d)
            | R::InvalidGrant(d)
            | R::UnsupportedGrantType(d)
            | R::InvalidScope(d)
            | R::InvalidTarget(d) => OAuthError::new(StatusCode::BAD_REQUEST, code, d),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut body = json!({ "error": self.error, "error_description": self.description });
        if let Some(t) = self.mfa_token {
            body["mfa_token"] = json!(t);
        }
        let mut r = (self.status, axum::Json(body)).into_response();
        let h = r.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if self.basic_challenge {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"writ\""),
            );
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}
