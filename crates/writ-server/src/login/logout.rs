//! Logout: Auth0's `GET /v2/logout` and OIDC RP-initiated logout (`GET /oidc/logout`). The
//! browser's SSO session ends and its cookie is cleared; the user goes back only to a URL the
//! client lists in its Allowed Logout URLs.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use writ_service::audit::Peer;
use writ_service::crypto::sha256_hex;

use super::pages;
use crate::http::client_addr::ClientAddr;
use crate::http::cookies::{self, SSO_SESSION, SameSite};
use crate::state::AppState;

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(l) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    r
}

#[derive(Deserialize, Default)]
pub struct LogoutParams {
    client_id: Option<String>,
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// A logout request, either route: where it came from and its parameters (unreadable ones
/// count as none).
pub struct Logout {
    state: AppState,
    addr: ClientAddr,
    peer: Peer,
    headers: HeaderMap,
    p: LogoutParams,
}

impl FromRequestParts<AppState> for Logout {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let addr = ClientAddr::from_request_parts(parts, state).await?;
        Ok(Logout {
            state: state.clone(),
            addr,
            peer: crate::audit::peer_of(parts),
            headers: parts.headers.clone(),
            p: serde_urlencoded::from_str(parts.uri.query().unwrap_or_default())
                .unwrap_or_default(),
        })
    }
}

impl Logout {
    /// Ends the browser's session (recorded as a logout from `client_id`), clears its cookie
    /// and answers `r`.
    async fn end(self, client_id: Option<&str>, mut r: Response) -> Response {
        if let Some(token) = cookies::get(&self.state, &self.headers, SSO_SESSION) {
            writ_service::logins::logout(&self.state, &self.peer, &sha256_hex(&token), client_id)
                .await;
        }
        cookies::clear(&mut r, &self.state, &self.addr, SSO_SESSION, SameSite::Lax);
        r
    }
}

/// The client's allow list must contain the URL exactly.
fn allowed_logout(state: &AppState, client_id: Option<&str>, url: &str) -> bool {
    client_id
        .and_then(|id| state.catalog.load().clients.get(id).cloned())
        .is_some_and(|c| c.allowed_logout_urls.iter().any(|u| u == url))
}

/// Auth0's `GET /v2/logout?client_id=…&returnTo=…`.
pub async fn logout_v2(l: Logout) -> Response {
    let (state, p) = (&l.state, &l.p);
    let r = match &p.return_to {
        None => pages::logged_out(),
        Some(to) if allowed_logout(state, p.client_id.as_deref(), to) => redirect(to),
        Some(_) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "Invalid logout URL",
                "The returnTo URL is not in the client's Allowed Logout URLs (and client_id must be given).",
            );
        }
    };
    let client_id = p.client_id.clone();
    l.end(client_id.as_deref(), r).await
}

/// OIDC RP-initiated logout: `GET /oidc/logout`.
pub async fn logout_oidc(l: Logout) -> Response {
    let (state, p) = (&l.state, &l.p);
    // The client comes from client_id or from the ID token hint's audience (signature checked,
    // expiry not: a logout with an old ID token is normal); when both are given they must name
    // the same client.
    let hinted = p
        .id_token_hint
        .as_deref()
        .and_then(|t| writ_service::tokens::id_token_client(state, t));
    if p.id_token_hint.is_some() && hinted.is_none() {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "Invalid logout request",
            "The id_token_hint is not a valid ID token from this server.",
        );
    }
    if let (Some(given), Some(hinted)) = (&p.client_id, &hinted)
        && given != hinted
    {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "Invalid logout request",
            "The id_token_hint was not issued to this client_id.",
        );
    }
    let client_id = p.client_id.clone().or(hinted);
    let r = match &p.post_logout_redirect_uri {
        None => pages::logged_out(),
        Some(to) if allowed_logout(state, client_id.as_deref(), to) => {
            let to = match &p.state {
                Some(s) => {
                    let sep = if to.contains('?') { '&' } else { '?' };
                    format!(
                        "{to}{sep}{}",
                        url::form_urlencoded::Serializer::new(String::new())
                            .append_pair("state", s)
                            .finish()
                    )
                }
                None => to.clone(),
            };
            redirect(&to)
        }
        Some(_) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "Invalid logout URL",
                "The post_logout_redirect_uri is not in the client's Allowed Logout URLs.",
            );
        }
    };
    l.end(client_id.as_deref(), r).await
}
