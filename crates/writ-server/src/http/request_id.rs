//! The request id: every request gets one, returned as `X-Request-Id` and recorded on the
//! tracing span of the request, so a user's report and the server's log lines meet. A request
//! id sent by the client is taken only from a trusted proxy (`WRIT_TRUSTED_PROXIES`, see
//! [`crate::http::client_addr`]), which may have assigned it already; from anyone else it is
//! ignored and a fresh one generated, so no client can choose what the log says.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::http::observe::Pending;
use crate::state::AppState;

/// `X-Request-Id`.
pub const X_REQUEST_ID: &str = "x-request-id";

/// The longest id taken from a proxy.
const MAX_LEN: usize = 128;

/// A request's id, in its extensions for handlers that want it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Whether a proxy's id is one Writ repeats: 1 to [`MAX_LEN`] visible ASCII characters.
fn acceptable(v: &HeaderValue) -> Option<&str> {
    let s = v.to_str().ok()?;
    (!s.is_empty() && s.len() <= MAX_LEN && s.bytes().all(|b| b.is_ascii_graphic())).then_some(s)
}

/// Middleware on the whole router: picks the id (a trusted proxy's, else a new one), works out
/// the client's address ([`crate::http::client_addr::annotate`], in the same layer: each layer
/// costs every request), runs the request inside a span carrying the id, returns it in
/// `X-Request-Id`, and logs and counts the request once answered
/// ([`crate::http::observe`], the same layer again).
pub async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    crate::http::client_addr::annotate(&state, &mut req);
    let from_proxy = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|c| {
            let trusted = &state.config.trusted_proxies;
            !trusted.is_empty() && trusted.contains(c.0.ip().to_canonical())
        });
    let id = from_proxy
        .then(|| req.headers().get(X_REQUEST_ID).and_then(acceptable))
        .flatten()
        .map(str::to_owned)
        .unwrap_or_else(|| writ_service::crypto::random_token(16));
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
    );
    req.extensions_mut().insert(RequestId(id.clone()));
    let method = req.method().clone();
    let pending = Pending::start(req.extensions_mut(), method);
    let mut r = next.run(req).instrument(span).await;
    pending.finish(&state, &id, r.status());
    if let Ok(v) = HeaderValue::from_str(&id) {
        r.headers_mut()
            .insert(HeaderName::from_static(X_REQUEST_ID), v);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_visible_ascii_ids_are_repeated() {
        assert_eq!(
            acceptable(&HeaderValue::from_static("abc-123")),
            Some("abc-123")
        );
        assert_eq!(acceptable(&HeaderValue::from_static("")), None);
        assert_eq!(acceptable(&HeaderValue::from_static("a b")), None);
        let long = "x".repeat(MAX_LEN + 1);
        assert_eq!(acceptable(&HeaderValue::from_str(&long).unwrap()), None);
    }
}
