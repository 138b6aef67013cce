//! Writ's HTTP server: the OAuth and OpenID Connect endpoints ([`oauth`]), the hosted login
//! pages ([`login`]), the Auth0-compatible Management API v2 ([`mgmt`]) and the admin console,
//! with the middleware every request goes through ([`http`]), wired into one axum router over
//! an [`AppState`].
//!
//! [`run`] takes a bound listener and a shutdown future, so tests bind `127.0.0.1:0` and the
//! binary wires Ctrl-C/SIGTERM. [`run_with`] also serves routes of another crate under the same
//! middleware (the binary mounts the admin console, `writ-console`, that way). `/metrics` is
//! served there too, unless `WRIT_METRICS_LISTEN` gives it an address of its own
//! ([`metrics::run_metrics`]). [`run_tls_with`] serves the same over TLS ([`tls`]), with
//! HTTP/2 and HTTP/1.1.

pub mod audit;
pub mod demo;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod health;
pub mod http;
pub mod live;
pub mod login;
pub mod metrics;
pub mod mgmt;
pub mod oauth;
pub mod ssf;
pub mod state;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

pub use state::AppState;
pub use writ_service::Config;
pub use writ_service::start::{StartError, prepare};

/// Builds the router.
pub fn router(state: AppState) -> Router {
    router_with(state, Router::new())
}

/// Builds the router with `extra` routes merged in, under the same middleware (body limit,
/// client address, security headers).
pub fn router_with(state: AppState, extra: Router<AppState>) -> Router {
    // Endpoints a browser calls directly, cross-origin.
    let browser = oauth::browser_routes()
        .merge(login::browser_routes())
        .merge(live::routes())
        .layer(http::cors::layer(&state))
        .layer(axum::middleware::from_fn(http::cors::preflight));
    // On the main listener unless it has an address of its own.
    let metrics = match state.config.metrics_listen {
        None => Router::new().route("/metrics", axum::routing::get(metrics::metrics)),
        Some(_) => Router::new(),
    };
    Router::new()
        .merge(metrics)
        .merge(browser)
        .merge(oauth::routes())
        .merge(login::routes())
        .merge(health::router())
        .merge(ssf::routes())
        .nest("/api/v2", mgmt::router())
        .merge(extra)
        .layer(RequestBodyLimitLayer::new(256 * 1024))
        // The request's id, on its tracing span and its response; and the client's address and
        // scheme, behind trusted proxies too, for every handler (one layer for both).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::request_id::layer,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state)
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    run_with(listener, state, Router::new(), shutdown).await
}

/// [`run`], serving `extra` routes too (see [`router_with`]).
pub async fn run_with(
    listener: TcpListener,
    state: AppState,
    extra: Router<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (app, shutdown) = serving(state, extra, shutdown);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// [`run_with`] over TLS with the certificate of `certs` (which the caller may reload): HTTP/2
/// and HTTP/1.1 by ALPN, every request marked as arriving over TLS
/// ([`http::client_addr::TlsConnection`]). Graceful shutdown is the same: no new connection
/// (nor pending handshake) after `shutdown`, in-flight requests finish.
pub async fn run_tls_with(
    listener: TcpListener,
    certs: tls::Certificates,
    state: AppState,
    extra: Router<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = certs.server_config().map_err(std::io::Error::other)?;
    // `tap_io` (a no-op here) gives the listener axum's `ConnectInfo<SocketAddr>`, which axum
    // implements for its own listeners and for tapped ones.
    let listener = tls::TlsListener::new(listener, config).tap_io(|_| {});
    let (app, shutdown) = serving(state, extra, shutdown);
    let app = app.layer(axum::Extension(http::client_addr::TlsConnection));
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// What both listeners serve: the router, and `shutdown` that also marks the node as closing
/// (readiness) when it resolves. Starts the retention task.
fn serving(
    state: AppState,
    extra: Router<AppState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> (Router, impl Future<Output = ()> + Send + 'static) {
    let closing = state.closing.clone();
    let delay = std::time::Duration::from_secs(state.config.shutdown_delay_secs);
    writ_service::retention::spawn(&state);
    // Told to stop: readiness turns 503 at once, connections are still accepted for the
    // shutdown delay (load balancers take the node out), then in-flight requests finish.
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
        if !delay.is_zero() {
            tracing::info!(
                delay_secs = delay.as_secs(),
                "not ready; serving on for the shutdown delay"
            );
            tokio::time::sleep(delay).await;
        }
    };
    (router_with(state, extra), shutdown)
}
