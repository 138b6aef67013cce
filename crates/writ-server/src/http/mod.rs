//! What every request goes through, whichever endpoint it is for: the client's address behind
//! trusted proxies ([`client_addr`]), the request id ([`request_id`]), the access log and HTTP
//! metrics ([`observe`]), CORS for the endpoints a browser calls cross-origin ([`cors`]),
//! Writ's cookies ([`cookies`]) and bearer tokens ([`bearer`]).

pub mod bearer;
pub mod client_addr;
pub mod cookies;
pub mod cors;
pub mod observe;
pub mod request_id;

/// The origin (`scheme://host[:port]`) of a URL, or `""` when it does not parse. Forms compare
/// a request's `Origin` with the issuer's this way.
pub fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// `r` with `Retry-After: secs`: how a refusal for too many attempts says when to try again
/// (the hosted pages, the passkey and sign-up endpoints, SSF, OAuth errors).
pub fn with_retry_after(
    mut r: axum::response::Response,
    secs: impl Into<axum::http::HeaderValue>,
) -> axum::response::Response {
    r.headers_mut()
        .insert(axum::http::header::RETRY_AFTER, secs.into());
    r
}
