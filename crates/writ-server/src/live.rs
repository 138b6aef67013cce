//! `GET /me/authz-events`: a user's own authz events as Server-Sent Events, for the open SPA
//! (see `docs/live-permissions.md`). The browser sends the user's access token in the
//! `Authorization` header (not the URL: the stream is read with `fetch`, since `EventSource`
//! cannot send headers); the rules are `writ_service::live`'s, this module only verifies the
//! token, checks the origin and writes the frames.
//!
//! Frames: `event: ready` (`{version, stale}`) first; `event: authz` with `id` = the log's seq
//! and `{version, kind}` for each change; comments as heartbeats; `event: expired` (the token
//! expired) or `event: revoked` (the user was blocked or deleted) last, then the stream ends.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::StreamExt;
use serde_json::json;
use writ_service::live::{LiveItem, LiveRefusal};

use crate::http::bearer::{Bearer, bearer_error};
use crate::state::AppState;

/// How often an idle stream sends a comment, so proxies and browsers keep it open.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// The route, behind CORS (see [`crate::http::cors`]).
pub fn routes() -> Router<AppState> {
    Router::new().route("/me/authz-events", get(authz_events))
}

/// `GET /me/authz-events`: the token's user's authz events (see the module's comment).
async fn authz_events(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let token = match Bearer::of(&headers) {
        Bearer::Token(t) => t,
        Bearer::Absent => return bearer_error(StatusCode::UNAUTHORIZED, "", ""),
        Bearer::Malformed => {
            return bearer_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "malformed Authorization header",
            );
        }
    };
    let claims = match state.verify_access_token(token) {
        Ok((c, _)) => c,
        Err(e) => return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", &e.to_string()),
    };
    // From a browser: only the token's own client's origins (the CORS layer allowed any
    // client's, as a preflight carries no token).
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let catalog = state.catalog.load();
        let allowed = catalog.clients.get(&claims.client_id).is_some_and(|c| {
            c.web_origins
                .iter()
                .chain(c.allowed_origins.iter())
                .any(|o| o == origin)
        });
        if !allowed {
            return bearer_error(
                StatusCode::FORBIDDEN,
                "invalid_request",
                "the token's client does not allow this origin",
            );
        }
    }
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let items = match writ_service::live::open(&state, &claims, last_event_id).await {
        Ok(s) => s,
        Err(LiveRefusal::NotAUser) => {
            return bearer_error(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "a user's access token is required",
            );
        }
        Err(e @ LiveRefusal::Expired) => {
            return bearer_error(StatusCode::UNAUTHORIZED, "invalid_token", &e.to_string());
        }
        Err(LiveRefusal::UnknownUser) => {
            return bearer_error(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "unknown or blocked user",
            );
        }
        Err(e @ (LiveRefusal::TooManyForUser | LiveRefusal::TooMany)) => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(
                    json!({"error": "too_many_streams", "error_description": e.to_string()}),
                ),
            )
                .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return r;
        }
        Err(LiveRefusal::Store(e)) => {
            tracing::warn!(error = %e, "opening a live stream");
            return bearer_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "try again",
            );
        }
    };
    let frames = items.map(|item| {
        Ok::<_, Infallible>(match item {
            LiveItem::Ready { version, stale } => Event::default()
                .event("ready")
                .data(json!({"version": version, "stale": stale}).to_string()),
            LiveItem::Event(e) => Event::default()
                .event("authz")
                .id(e.seq.to_string())
                .data(json!({"version": e.version, "kind": &*e.kind}).to_string()),
            LiveItem::Expired => Event::default().event("expired").data("{}"),
            LiveItem::Revoked => Event::default().event("revoked").data("{}"),
        })
    });
    let mut r = Sse::new(frames)
        .keep_alive(KeepAlive::new().interval(HEARTBEAT))
        .into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Proxies (nginx) must not buffer the stream.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}
