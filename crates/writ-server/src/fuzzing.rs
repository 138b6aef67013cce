//! Entry points for the fuzz targets in `fuzz/` (not an API: hidden from the docs). Each runs
//! one parser that sees untrusted bytes exactly as the server does, so the targets exercise
//! the real code rather than a copy.

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};
use serde_json::Value;

use writ_service::crypto::imported;

/// What [`token_request`] read: the grant type and the Basic credentials, or the OAuth error
/// (`error`, `error_description`) the endpoint answers.
pub type TokenRequestRead = Result<(Option<String>, Option<(String, String)>), (String, String)>;

/// The token endpoint's reading of a request (`POST /oauth/token`, and the same parsing for
/// revocation and introspection): the body as the `content_type` says (form or JSON), and
/// `Authorization: Basic` credentials. `Ok` with what it found, or the OAuth error it answers.
pub fn token_request(
    content_type: Option<&[u8]>,
    authorization: Option<&[u8]>,
    body: &[u8],
) -> TokenRequestRead {
    let mut headers = HeaderMap::new();
    for (name, v) in [
        (header::CONTENT_TYPE, content_type),
        (header::AUTHORIZATION, authorization),
    ] {
        if let Some(v) = v.and_then(|v| HeaderValue::from_bytes(v).ok()) {
            headers.insert(name, v);
        }
    }
    let err = |e: crate::error::OAuthError| (e.error.to_string(), e.description);
    let req =
        crate::oauth::token::parse_body(&headers, &Bytes::copy_from_slice(body)).map_err(err)?;
    let basic = crate::oauth::token::basic_credentials(&headers).map_err(err)?;
    Ok((req.grant_type, basic))
}

/// One entry of an import file as the import job judged it: the password hash it would store
/// (before wrapping) with the descriptor and hash bytes the wrapping takes, or the error code.
pub type ImportedEntry = Result<Option<(String, Option<(String, Vec<u8>)>)>, &'static str>;

/// Auth0's bulk-import file as `POST /api/v2/jobs/users-imports` reads it: a JSON array, each
/// entry through the schema and hash checks, each accepted hash split for wrapping (no
/// password is hashed or verified here). `Err` when the file is not a JSON array.
pub fn import_file(file: &[u8]) -> Result<Vec<ImportedEntry>, String> {
    let users: Vec<Value> = match serde_json::from_slice(file) {
        Ok(Value::Array(a)) => a,
        Ok(_) => return Err("not an array".into()),
        Err(e) => return Err(e.to_string()),
    };
    Ok(users
        .iter()
        .map(|u| match writ_service::imports::parse_entry(u) {
            Ok(e) => Ok(e
                .password_hash
                .map(|(h, _)| (h.clone(), imported::split_for_wrap(&h)))),
            Err(e) => Err(e.code),
        })
        .collect())
}
