//! Bearer tokens in requests (RFC 6750): reading `Authorization: Bearer <token>` and the
//! `WWW-Authenticate` refusal, in one place for every endpoint a resource server's token is
//! presented to (`/userinfo`, `/me/authz-events`, the SSF endpoints, the MFA API and the
//! Management API, each of which answers the refusal in its own protocol's format).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// What a request's `Authorization` header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer<'a> {
    /// No `Authorization` header.
    Absent,
    /// A header that is not `Bearer <token>` (another scheme, no token, not ASCII).
    Malformed,
    /// The token, trimmed.
    Token(&'a str),
}

impl<'a> Bearer<'a> {
    /// Reads `headers`' bearer token (the scheme case-insensitive as far as `Bearer`/`bearer`).
    pub fn of(headers: &'a HeaderMap) -> Self {
        let Some(v) = headers.get(header::AUTHORIZATION) else {
            return Bearer::Absent;
        };
        v.to_str()
            .ok()
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map_or(Bearer::Malformed, Bearer::Token)
    }

    /// The token, when there is one.
    pub fn token(self) -> Option<&'a str> {
        match self {
            Bearer::Token(t) => Some(t),
            Bearer::Absent | Bearer::Malformed => None,
        }
    }
}

/// An RFC 6750 refusal: the status and `WWW-Authenticate: Bearer realm="writ"`, with the error
/// code and description in the header and as a JSON body; without either when `error` is
/// empty (a request that had no token at all, §3.1).
pub fn bearer_error(status: StatusCode, error: &str, desc: &str) -> Response {
    if error.is_empty() {
        let mut r = status.into_response();
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"writ\""),
        );
        return r;
    }
    let mut r = (
        status,
        axum::Json(json!({"error": error, "error_description": desc})),
    )
        .into_response();
    let v = format!("Bearer realm=\"writ\", error=\"{error}\", error_description=\"{desc}\"");
    let v = HeaderValue::from_str(&v)
        .unwrap_or_else(|_| HeaderValue::from_static("Bearer realm=\"writ\""));
    r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(auth: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(auth).unwrap());
        h
    }

    #[test]
    fn reads_the_token_or_says_why_not() {
        assert_eq!(Bearer::of(&HeaderMap::new()), Bearer::Absent);
        assert_eq!(Bearer::of(&with("Bearer abc")), Bearer::Token("abc"));
        assert_eq!(Bearer::of(&with("bearer  abc ")), Bearer::Token("abc"));
        assert_eq!(Bearer::of(&with("Bearer ")), Bearer::Malformed);
        assert_eq!(Bearer::of(&with("Basic YTpi")), Bearer::Malformed);
        assert_eq!(Bearer::of(&with("Basic YTpi")).token(), None);
    }

    #[test]
    fn a_refusal_without_a_code_has_no_body() {
        let r = bearer_error(StatusCode::UNAUTHORIZED, "", "");
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"writ\""
        );
        assert!(r.headers().get(header::CONTENT_TYPE).is_none());
        let r = bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", "expired");
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            "Bearer realm=\"writ\", error=\"invalid_token\", error_description=\"expired\""
        );
    }
}
