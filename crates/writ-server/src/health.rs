//! Health probes for orchestrators and load balancers, public and cheap:
//!
//! - `GET /health/live` (and its older alias `/healthz`): the process answers. No database
//!   call, so a database outage makes nodes not ready, never restarted all at once.
//! - `GET /health/ready`: 200 when this node can serve (database, migrations, signing keys,
//!   the PostgreSQL notification connection: see `writ_service::health`), 503 otherwise.
//!
//! Both answer `{"status": "up"|"down", "checks": [{"name", "status", "message"?}]}`, as
//! Keycloak's probes do. Declared in the OpenAPI document with the Management API's routes.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The body of both probes.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `up` when every check is.
    #[schema(example = "up")]
    pub status: &'static str,
    pub checks: Vec<HealthCheck>,
}

/// One check of a probe.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthCheck {
    /// `database`, `migrations`, `signing_keys`, `authz_feed` (PostgreSQL).
    pub name: &'static str,
    /// `up` or `down`.
    pub status: &'static str,
    /// Why a check is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn up_down(up: bool) -> &'static str {
    if up { "up" } else { "down" }
}

/// The live answer, always the same bytes.
const LIVE: &str = r#"{"status":"up","checks":[]}"#;

/// The probes' routes with their OpenAPI operations (for the document).
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(live))
        .routes(routes!(ready))
}

/// The probes, and `/healthz` as an alias of live.
pub fn router() -> Router<AppState> {
    let (router, _) = routes().split_for_parts();
    router.route("/healthz", axum::routing::get(live))
}

fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/health/live",
    operation_id = "get_health_live",
    tag = "health",
    summary = "Liveness: the process answers",
    description = "Always 200 while the process serves; no database call. `/healthz` is an alias.",
    responses((status = 200, description = "The process is up.", body = Health)),
)]
async fn live() -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        LIVE,
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/health/ready",
    operation_id = "get_health_ready",
    tag = "health",
    summary = "Readiness: this node can serve",
    description = "200 when the database answers within 2 s, every migration this node knows is applied (and any newer one is additive), the signing keys are loaded and, on PostgreSQL, the notification connection of the authz event feed is up; 503 otherwise, naming the checks that are down.",
    responses(
        (status = 200, description = "Ready.", body = Health),
        (status = 503, description = "Not ready: some check is down.", body = Health),
    ),
)]
async fn ready(State(state): State<AppState>) -> Response {
    let r = state.readiness().await;
    let ok = r.is_ready();
    let body = Health {
        status: up_down(ok),
        checks: r
            .checks
            .into_iter()
            .map(|c| HealthCheck {
                name: c.name,
                status: up_down(c.up),
                message: c.message,
            })
            .collect(),
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(
        status,
        serde_json::to_string(&body).unwrap_or_else(|_| r#"{"status":"down","checks":[]}"#.into()),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn live_is_the_documented_shape() {
        let v: serde_json::Value = serde_json::from_str(super::LIVE).unwrap();
        assert_eq!(v, serde_json::json!({"status": "up", "checks": []}));
    }
}
