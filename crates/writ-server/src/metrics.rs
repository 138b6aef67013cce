//! `GET /metrics`: the node's Prometheus metrics ([`writ_service::metrics`]) in the text
//! format. Served on the main listener, or — with `WRIT_METRICS_LISTEN` — only on an address
//! of its own ([`run_metrics`]), so it need not be public.

use std::future::Future;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::state::AppState;

/// `GET /metrics`: the state gauges sampled now, then every series.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut r = state.render_metrics().into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(writ_service::metrics::CONTENT_TYPE),
    );
    r
}

/// The router of the metrics listener: `/metrics` alone.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Serves `/metrics` alone on `listener` (the `WRIT_METRICS_LISTEN` address) until `shutdown`
/// resolves.
pub async fn run_metrics(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
