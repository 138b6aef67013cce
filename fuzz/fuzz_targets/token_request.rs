//! The token endpoint's request parsing ([`writ_server::fuzzing::token_request`]): a body read
//! as form or JSON by its content type, and `Authorization: Basic` credentials. Never panics;
//! a refusal is one of the two errors a malformed request may get (`invalid_request`, or
//! `invalid_client` for bad Basic credentials) with a description; accepted Basic credentials
//! round-trip through their encoding.
#![no_main]

use arbitrary::Arbitrary;
use base64::Engine;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum ContentType {
    None,
    Form,
    Json,
    Other(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Authorization {
    None,
    /// `Basic base64(id:secret)` of these, form-encoded as RFC 6749 §2.3.1 asks.
    Basic(String, String),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    content_type: ContentType,
    authorization: Authorization,
    body: Vec<u8>,
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fuzz_target!(|input: Input| {
    let ct: Option<Vec<u8>> = match input.content_type {
        ContentType::None => None,
        ContentType::Form => Some(b"application/x-www-form-urlencoded".to_vec()),
        ContentType::Json => Some(b"application/json".to_vec()),
        ContentType::Other(v) => Some(v),
    };
    let (auth, basic): (Option<Vec<u8>>, Option<(String, String)>) = match &input.authorization {
        Authorization::None => (None, None),
        Authorization::Basic(id, secret) => {
            let raw = format!("{}:{}", form_encode(id), form_encode(secret));
            let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
            (
                Some(format!("Basic {b64}").into_bytes()),
                Some((id.clone(), secret.clone())),
            )
        }
        Authorization::Raw(v) => (Some(v.clone()), None),
    };
    match writ_server::fuzzing::token_request(ct.as_deref(), auth.as_deref(), &input.body) {
        Ok((_, got)) => {
            if let Some(sent) = basic {
                assert_eq!(got, Some(sent), "Basic credentials round-trip");
            }
        }
        Err((error, description)) => {
            assert!(
                error == "invalid_request" || error == "invalid_client",
                "{error}"
            );
            assert!(!description.is_empty());
        }
    }
});
