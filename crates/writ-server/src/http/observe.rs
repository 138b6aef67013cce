//! What the server says about every request once it is answered: one access-log line (info,
//! target `writ::request`: method, route template, status, latency, the client when an
//! endpoint learned it, and the request id) and the HTTP metrics
//! (`writ_http_requests_total`, `writ_http_request_duration_seconds`). Run by the request-id
//! layer ([`crate::http::request_id::layer`]), so it costs no layer of its own.
//!
//! The line never carries a query string, a body, a header or a cookie: only the route
//! template (`/api/v2/users/{id}`), so no secret, token, password or code can reach it. An
//! endpoint that knows the client (the token endpoint, `/authorize`, revocation,
//! introspection, the Management API) says so with [`note_client`].

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{Extensions, Method, StatusCode};

use crate::state::AppState;

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Where an endpoint notes the client a request came from (in the request's extensions);
/// read by the access log once the response is ready.
#[derive(Clone, Default)]
pub struct ClientSlot(Arc<OnceLock<String>>);

impl ClientSlot {
    /// Notes `client_id` (the first noted wins).
    pub fn note(&self, client_id: &str) {
        let _ = self.0.set(client_id.to_owned());
    }

    fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientSlot {
    type Rejection = std::convert::Infallible;

    /// The request's slot (a detached one outside the layer, e.g. in unit tests).
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<ClientSlot>()
            .cloned()
            .unwrap_or_default())
    }
}

/// Notes the client of the request whose extensions are `ext`.
pub fn note_client(ext: &Extensions, client_id: &str) {
    if let Some(slot) = ext.get::<ClientSlot>() {
        slot.note(client_id);
    }
}

/// What the layer keeps of a request until it is answered.
pub(crate) struct Pending {
    started: Instant,
    method: Method,
    route: Option<MatchedPath>,
    client: ClientSlot,
}

impl Pending {
    /// Starts observing a request: its method and route, and a slot for its client.
    pub(crate) fn start(ext: &mut Extensions, method: Method) -> Pending {
        let client = ClientSlot::default();
        ext.insert(client.clone());
        Pending {
            started: Instant::now(),
            method,
            route: ext.get::<MatchedPath>().cloned(),
            client,
        }
    }

    /// The request was answered with `status`: the log line and the metrics.
    pub(crate) fn finish(self, state: &AppState, request_id: &str, status: StatusCode) {
        let elapsed = self.started.elapsed();
        let route = self.route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
        state
            .metrics
            .http_request(self.method.as_str(), route, status.as_u16(), elapsed);
        // Microseconds' precision is plenty.
        let latency_ms = (elapsed.as_secs_f64() * 1e6).round() / 1e3;
        tracing::info!(
            target: "writ::request",
            method = %self.method,
            route,
            status = status.as_u16(),
            latency_ms,
            client_id = self.client.get(),
            request_id,
            "request"
        );
    }
}
