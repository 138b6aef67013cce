//! Response descriptions the operations' `#[utoipa::path]` attributes share. The bodies
//! themselves are the types in [`super::types`].

pub const E400_QUERY: &str = "Invalid query string (for example `per_page` above 100).";
pub const E400_BODY: &str =
    "Invalid body: not a JSON object, an unknown or missing property, or an invalid value.";
pub const E401: &str =
    "Missing, malformed, expired or invalid access token (see `WWW-Authenticate`).";
pub const E403: &str = "The access token lacks a required scope (see `WWW-Authenticate`).";
