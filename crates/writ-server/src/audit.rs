//! The audit log's HTTP side: where a request came from ([`peer_of`], [`PeerOf`]), and the
//! middleware that records every Management API write with its caller and outcome. Entries
//! themselves are built and appended by [`writ_service::audit`].

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};
use writ_guard::AccessClaims;
pub use writ_service::audit::{Entry, Peer, record, types};

use crate::client_addr::ClientAddr;
use crate::state::AppState;

/// The [`Peer`] of a request: the client's address ([`ClientAddr`], the real client behind a
/// trusted proxy) and its `User-Agent`, unless an in-process caller (the admin console) attached
/// a `Peer` extension describing the browser request it acts for.
pub fn peer_of(parts: &Parts) -> Peer {
    if let Some(p) = parts.extensions.get::<Peer>() {
        return p.clone();
    }
    let ua = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    match ClientAddr::of_parts(parts) {
        Some(a) => Peer::new(a.ip, ua),
        None => Peer {
            user_agent: Peer::new(std::net::Ipv4Addr::UNSPECIFIED.into(), ua).user_agent,
            ..Peer::default()
        },
    }
}

/// The admin console acting for the browser request with `parts`: attach the result as an
/// extension of the in-process Management API request.
pub fn console_peer(parts: &Parts) -> Peer {
    Peer {
        channel: Some("console"),
        ..peer_of(parts)
    }
}

/// The [`Peer`] of a request handled with its address and headers at hand.
pub fn peer(ip: std::net::IpAddr, headers: &axum::http::HeaderMap) -> Peer {
    Peer::new(
        ip,
        headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok()),
    )
}

/// Records a console form refused by the CSRF check (see
/// [`writ_service::audit::console_refused`]).
pub async fn console_refused(state: &AppState, parts: &Parts, user_id: &str) {
    writ_service::audit::console_refused(
        state,
        &console_peer(parts),
        parts.method.as_str(),
        parts.uri.path(),
        user_id,
    )
    .await;
}

/// Records the logout of the SSO session in `headers`, if it has one (before it is deleted).
pub async fn logout(
    state: &AppState,
    peer: &Peer,
    headers: &axum::http::HeaderMap,
    client_id: Option<&str>,
) {
    if let Some(cookie) = crate::cookies::get(state, headers, crate::cookies::SSO_SESSION) {
        let id = writ_service::crypto::sha256_hex(&cookie);
        writ_service::audit::logout(state, peer, &id, client_id).await;
    }
}

/// [`peer_of`] as an extractor.
pub struct PeerOf(pub Peer);

impl<S: Send + Sync> FromRequestParts<S> for PeerOf {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(PeerOf(peer_of(parts)))
    }
}

// ---------------------------------------------------------------------------------------------
// Management API writes

/// Hands the caller verified by the Management API's `Caller` extractor (and the state) to
/// [`mgmt_writes`], which records once the response is known. Present on write requests only.
#[derive(Clone, Default)]
pub struct CallerSlot(Arc<Mutex<Option<Called>>>);

/// What [`CallerSlot`] carries: the state, and the claims of a verified token.
type Called = (AppState, Option<AccessClaims>);

impl CallerSlot {
    /// Called by the extractor: the state, and the caller's claims when the token verified.
    pub fn fill(&self, state: &AppState, claims: Option<&AccessClaims>) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some((state.clone(), claims.cloned()));
        }
    }

    fn take(&self) -> Option<Called> {
        self.0.lock().ok()?.take()
    }
}

/// Middleware on the Management API router: records every request that is not a read (`sapi`
/// on success, `fapi` otherwise) after its response, with the caller, peer, method, path (never
/// the query or body) and status. Requests that reach no handler (unknown paths) are not
/// recorded.
pub async fn mgmt_writes(mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let slot = CallerSlot::default();
    req.extensions_mut().insert(slot.clone());
    let (parts, body) = req.into_parts();
    let peer = peer_of(&parts);
    let path = format!("/api/v2{}", parts.uri.path());
    let template = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let resp = next.run(Request::from_parts(parts, body)).await;
    let Some((state, claims)) = slot.take() else {
        return resp;
    };
    let status = resp.status();
    let (resp, error_code) = if status.is_success() {
        (resp, None)
    } else {
        error_code_of(resp).await
    };
    let description = describe(&method, template.as_deref().unwrap_or(&path));
    // The admin console calls these handlers in process with its signed-in admin's token.
    let channel = peer.channel.unwrap_or(match &claims {
        Some(c) if c.client_id == writ_core::CONSOLE_CLIENT_ID => "console",
        _ => "api",
    });
    let mut response = json!({ "statusCode": status.as_u16() });
    if let Some(code) = error_code {
        response["errorCode"] = json!(code);
    }
    let details = json!({
        "request": {
            "method": method.as_str(),
            "path": path,
            "channel": channel,
        },
        "response": response,
    });
    let ty = if status.is_success() {
        types::SUCCESS_API_OPERATION
    } else {
        types::FAILED_API_OPERATION
    };
    let mut e = Entry::new(ty, description).peer(&peer).details(details);
    if let Some(c) = &claims {
        e = e.client(&c.client_id);
        if !c.is_machine() {
            e = e.user(&c.sub);
        }
    }
    record(&state, e).await;
    resp
}

/// Reads Auth0's `errorCode` from an error response (a small JSON body), giving the response
/// back intact. Only the code is kept: messages may quote the request. Bodies of unknown or
/// large size are left alone.
async fn error_code_of(resp: Response) -> (Response, Option<String>) {
    use axum::body::HttpBody;
    const MAX: u64 = 64 * 1024;
    let small = resp.body().size_hint().upper().is_some_and(|n| n <= MAX);
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !small || !json {
        return (resp, None);
    }
    let (parts, body) = resp.into_parts();
    match axum::body::to_bytes(body, MAX as usize).await {
        Ok(bytes) => {
            let code = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["errorCode"].as_str().map(str::to_owned));
            (Response::from_parts(parts, bytes.into()), code)
        }
        // Cannot happen within the size hint; keep the status and headers if it does.
        Err(_) => (Response::from_parts(parts, axum::body::Body::empty()), None),
    }
}

/// A description of a Management API write, from its method and route.
pub fn describe(method: &Method, route: &str) -> String {
    let r = route.strip_prefix("/api/v2").unwrap_or(route);
    let d = match (method.as_str(), r) {
        ("POST", "/resource-servers") => "Create a resource server",
        ("PATCH", "/resource-servers/{id}") => "Update a resource server",
        ("DELETE", "/resource-servers/{id}") => "Delete a resource server",
        ("POST", "/roles") => "Create a role",
        ("PATCH", "/roles/{id}") => "Update a role",
        ("DELETE", "/roles/{id}") => "Delete a role",
        ("POST", "/roles/{id}/permissions") => "Add permissions to a role",
        ("DELETE", "/roles/{id}/permissions") => "Remove permissions from a role",
        ("POST", "/roles/{id}/users") => "Assign users to a role",
        ("POST", "/users") => "Create a user",
        ("PATCH", "/users/{id}") => "Update a user",
        ("DELETE", "/users/{id}") => "Delete a user",
        ("POST", "/users/{id}/roles") => "Assign roles to a user",
        ("DELETE", "/users/{id}/roles") => "Remove roles from a user",
        ("POST", "/users/{id}/permissions") => "Assign permissions to a user",
        ("DELETE", "/users/{id}/permissions") => "Remove permissions from a user",
        ("POST", "/jobs/users-imports") => "Import users",
        ("POST", "/clients") => "Create a client",
        ("PATCH", "/clients/{id}") => "Update a client",
        ("DELETE", "/clients/{id}") => "Delete a client",
        ("POST", "/clients/{id}/rotate-secret") => "Rotate a client secret",
        ("POST", "/client-grants") => "Create a client grant",
        ("PATCH", "/client-grants/{id}") => "Update a client grant",
        ("DELETE", "/client-grants/{id}") => "Delete a client grant",
        ("DELETE", "/grants/{id}") => "Revoke a user's consent",
        ("DELETE", "/grants") => "Revoke a user's consents",
        ("POST", "/keys/signing/rotate") => "Rotate signing keys",
        ("PUT", "/keys/signing/{kid}/revoke") => "Revoke a signing key",
        _ => return format!("{method} /api/v2{r}"),
    };
    d.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    #[test]
    fn describes_writes_by_route() {
        assert_eq!(
            describe(&Method::POST, "/api/v2/keys/signing/rotate"),
            "Rotate signing keys"
        );
        assert_eq!(describe(&Method::PATCH, "/roles/{id}"), "Update a role");
        assert_eq!(
            describe(&Method::POST, "/api/v2/somewhere"),
            "POST /api/v2/somewhere"
        );
    }

    #[test]
    fn peers_come_from_the_connection_or_an_extension() {
        let mut req = axum::http::Request::builder()
            .header(header::USER_AGENT, "curl/8")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [203, 0, 113, 9],
                4000,
            ))));
        let (parts, _) = req.into_parts();
        let p = peer_of(&parts);
        assert_eq!(p.ip, Some(IpAddr::from([203, 0, 113, 9])));
        assert_eq!(p.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(p.channel, None);
        let console = console_peer(&parts);
        assert_eq!(console.channel, Some("console"));
        let mut inner = axum::http::Request::builder().body(()).unwrap();
        inner.extensions_mut().insert(console);
        let (inner, _) = inner.into_parts();
        let p = peer_of(&inner);
        assert_eq!(p.ip, Some(IpAddr::from([203, 0, 113, 9])));
        assert_eq!(p.channel, Some("console"));
        // The client's address worked out by `client_addr` wins over the TCP peer.
        let mut req = axum::http::Request::builder().body(()).unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                4000,
            ))));
        req.extensions_mut().insert(ClientAddr {
            ip: IpAddr::from([198, 51, 100, 7]),
            https: true,
        });
        let (parts, _) = req.into_parts();
        assert_eq!(peer_of(&parts).ip, Some(IpAddr::from([198, 51, 100, 7])));
    }
}
