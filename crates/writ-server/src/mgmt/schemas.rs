//! Responses the operations' `#[utoipa::path]` attributes share: their descriptions, and the
//! error responses most operations have, as [`IntoResponses`] types named in `responses(...)`.
//! The bodies themselves are the types in [`super::types`].

use std::collections::BTreeMap;

use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

pub const E400_QUERY: &str = "Invalid query string (for example `per_page` above 100).";
pub const E400_BODY: &str =
    "Invalid body: not a JSON object, an unknown or missing property, or an invalid value.";
pub const E401: &str =
    "Missing, malformed, expired or invalid access token (see `WWW-Authenticate`).";
pub const E403: &str = "The access token lacks a required scope (see `WWW-Authenticate`).";

/// An error response: `description`, with Auth0's error body.
fn error(status: &str, description: &str) -> (String, RefOr<Response>) {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(super::types::Error::name())))
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build();
    (status.to_owned(), response.into())
}

/// 401 ([`E401`]) and 403 ([`E403`]): every operation's token check.
pub struct Denied;

impl IntoResponses for Denied {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        BTreeMap::from([error("401", E401), error("403", E403)])
    }
}

/// 400 for the query string ([`E400_QUERY`]), and [`Denied`]'s.
pub struct QueryDenied;

impl IntoResponses for QueryDenied {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut r = Denied::responses();
        r.extend([error("400", E400_QUERY)]);
        r
    }
}

/// 400 for the body ([`E400_BODY`]), and [`Denied`]'s.
pub struct BodyDenied;

impl IntoResponses for BodyDenied {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let mut r = Denied::responses();
        r.extend([error("400", E400_BODY)]);
        r
    }
}
