//! `GET /api/v2/authz-events`: the durable, ordered log of authorization changes (DESIGN.md,
//! Freshness), as a plain poll (`?from=SEQ`) or as Server-Sent Events resumable with
//! `Last-Event-ID`. One background task ([`writ_service::events`]) watches the log's head and
//! wakes every subscriber, so events written by any node reach every stream.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::Deserialize;
use writ_store::AuthzEvent;

use super::prelude::*;
use super::still_allowed;

const BATCH: i64 = 500;
/// How often an open stream checks, without new events, that its caller may still read it.
const RECHECK: Duration = Duration::from_secs(1);

#[derive(Debug, Default, Deserialize)]
struct EventsQuery {
    from: Option<i64>,
    limit: Option<i64>,
}

/// One event as JSON (an SSE event's data).
fn event_json(e: &AuthzEvent) -> String {
    serde_json::to_string(&types::AuthzEvent::from(e)).unwrap_or_default()
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default().routes(routes!(authz_events))
}

#[utoipa::path(
    get,
    path = "/authz-events",
    operation_id = "get_authz_events",
    tag = "authz-events",
    summary = "Authorization changes: poll, or stream as Server-Sent Events",
    description = "Every change to what a subject's tokens may carry, in `seq` order: `{seq, subject, user_id | client_id, version, kind, at}`, where `subject` is a user id or `<client_id>@clients` (a machine client). \
        With `Accept: text/event-stream` the answer is an SSE stream (event `authz`, id = seq), resumable with `Last-Event-ID`; a change to a group is one event per member with the same seq, and only the last of them carries the id; it ends when the caller's token expires or no longer carries `read:authz_events`; \
        otherwise `{events, next}` after `from` (continue from `next`; a page never splits a group's events). A token whose `authz_ver` is below the latest `version` of its subject is stale.",
    params(
        ("from" = Option<i64>, Query, description = "Return events with seq greater than this (default 0)."),
        ("limit" = Option<i64>, Query, description = "Poll page size, 1–500 (default 500)."),
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume a stream after this seq."),
    ),
    responses(
        (status = 200, description = "`{events, next}`, or an SSE stream (`text/event-stream`) of the same events.", body = types::AuthzEventPage),
        schemas::QueryDenied,
    ),
    security(("bearer" = ["read:authz_events"]))
)]
async fn authz_events(
    c: Caller,
    headers: HeaderMap,
    Params(q): Params<EventsQuery>,
) -> Result<Response, ApiError> {
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let from = last_event_id.or(q.from).unwrap_or(0).max(0);
    let sse = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    if !sse {
        let limit = q.limit.unwrap_or(BATCH).clamp(1, BATCH);
        let page = c.store.authz_events_after(from, limit).await?;
        return Ok(ok(types::AuthzEventPage {
            events: page.events.iter().map(types::AuthzEvent::from).collect(),
            next: page.next,
        }));
    }
    let state: AppState = (*c).clone();
    let rx = state.authz_head.subscribe();
    let closing = state.closing.subscribe();
    let scopes = c.scopes();
    let caller = c.claims;
    // Counted among the node's open streams (and their lag) until the stream is dropped.
    let open = state.feed.subscribe(from);
    let init = (
        state,
        rx,
        closing,
        from,
        VecDeque::<AuthzEvent>::new(),
        open,
    );
    let stream = futures_util::stream::unfold(
        init,
        move |(state, mut rx, mut closing, mut cursor, mut buf, open)| {
            let caller = caller.clone();
            async move {
                loop {
                    // Taken from the front of a deque: a `Vec`'s `remove(0)` moved the rest of the
                    // page for every event sent (a 100,000-member fan-out is 200 pages of 500).
                    // A group's record is many events with one seq: only its last carries the
                    // id, so a stream cut inside it resumes at its start (the id before).
                    if let Some(e) = buf.pop_front() {
                        // Sent up to this record (all of the page once it is empty).
                        open.sent(if buf.is_empty() { cursor } else { e.seq });
                        let ev = Event::default().event("authz").data(event_json(&e));
                        let ev = if buf.front().is_some_and(|n| n.seq == e.seq) {
                            ev
                        } else {
                            ev.id(e.seq.to_string())
                        };
                        let next = (state, rx, closing, cursor, buf, open);
                        return Some((Ok::<_, Infallible>(ev), next));
                    }
                    // Before every read of the log: the token must still speak for a caller
                    // with `read:authz_events` (a revoked grant, a rotated secret, a deleted
                    // client or a changed user end the stream), and must not have expired.
                    if !still_allowed(&state, &caller, scopes).await {
                        return None;
                    }
                    match state.store.authz_events_after(cursor, BATCH).await {
                        Ok(page) if page.next > cursor => {
                            cursor = page.next;
                            buf = page.events.into();
                            continue;
                        }
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "reading authz events"),
                    }
                    // Everything up to the cursor is sent.
                    open.sent(cursor);
                    // Wait until the head moves past the cursor, or a second passes (to check
                    // the caller again); end the stream when the server shuts down, so
                    // graceful shutdown is not held up by subscribers.
                    tokio::select! {
                        r = rx.wait_for(|head| *head > cursor) => if r.is_err() { return None },
                        _ = tokio::time::sleep(RECHECK) => {}
                        _ = closing.wait_for(|c| *c) => return None,
                    }
                }
            }
        },
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
