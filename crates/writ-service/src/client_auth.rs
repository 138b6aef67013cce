//! Client authentication (RFC 6749 §2.3), the one place for it: every endpoint that takes
//! client credentials (`/oauth/token`, `/oauth/revoke`, `/oauth/introspect`) calls
//! [`authenticate`], so the accepted methods (`client_secret_basic`, `client_secret_post`,
//! `none` for public clients), the constant-time secret comparison and the brute-force limit
//! per (client, IP) cannot differ between them.

use std::net::IpAddr;
use std::sync::Arc;

use writ_core::Client;

use crate::Writ;
use crate::crypto::secret_matches;
use crate::oauth_error::OAuthRefusal;

/// The credentials a request presented, as the edge read them.
#[derive(Debug, Default, Clone, Copy)]
pub struct Presented<'a> {
    /// From `Authorization: Basic` (already decoded): `(client_id, client_secret)`.
    pub basic: Option<(&'a str, &'a str)>,
    /// `client_id` from the body.
    pub client_id: Option<&'a str>,
    /// `client_secret` from the body.
    pub client_secret: Option<&'a str>,
}

/// Authenticates the client (Basic or post); public clients present only their id.
///
/// Failures are counted per (client, IP) — unknown ids together — and per IP (see
/// [`crate::limiter`]); a client blocked from this IP is refused before its secret is checked.
pub fn authenticate(
    w: &Writ,
    ip: IpAddr,
    presented: Presented<'_>,
) -> Result<Arc<Client>, OAuthRefusal> {
    let via_basic = presented.basic.is_some();
    let (id, secret) = match (presented.basic, presented.client_id) {
        (Some((id, s)), body_id) => {
            if body_id.is_some_and(|b| b != id) || presented.client_secret.is_some() {
                return Err(OAuthRefusal::invalid_request(
                    "Use one client authentication method",
                ));
            }
            (id, Some(s))
        }
        (None, Some(id)) => (id, presented.client_secret),
        (None, None) => {
            return Err(OAuthRefusal::invalid_request(
                "Missing required parameter: client_id",
            ));
        }
    };
    let catalog = w.catalog.load();
    let client = catalog.clients.get(id);
    // The limiter's key: the client's id, or `None` for every id that does not exist.
    let key = client.map(|c| c.client_id.as_str());
    if let Some(wait) = w.limiter.client_blocked(ip, key) {
        return Err(OAuthRefusal::TooManyAttempts {
            description: "Too many failed client authentications; try again later".into(),
            retry_after: wait,
        });
    }
    let fail = |msg: &str| {
        w.limiter.client_failed(ip, key);
        OAuthRefusal::InvalidClient {
            description: msg.to_owned(),
            via_basic,
        }
    };
    let Some(client) = client else {
        return Err(fail("Unknown client or invalid client credentials."));
    };
    match (&client.secret_hash, secret) {
        (Some(hash), Some(s)) if secret_matches(s, hash) => Ok(client.clone()),
        (None, None) => Ok(client.clone()),
        (None, Some(_)) => Err(fail("This client is public and has no secret.")),
        _ => Err(fail("Unknown client or invalid client credentials.")),
    }
}
