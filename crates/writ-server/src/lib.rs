//! Writ's HTTP server: the OAuth token endpoint, discovery and JWKS, and the Auth0-compatible
//! Management API v2, wired into one axum router over an [`AppState`].
//!
//! [`run`] takes a bound listener and a shutdown future, so tests bind `127.0.0.1:0` and the
//! binary wires Ctrl-C/SIGTERM. [`run_with`] also serves routes of another crate under the same
//! middleware (the binary mounts the admin console, `writ-console`, that way).

pub mod audit;
pub mod authorize;
pub mod client_addr;
pub mod console;
pub mod cookies;
pub mod demo;
pub mod discovery;
pub mod error;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod grants;
pub mod mgmt;
pub mod oidc;
pub mod pages;
pub mod state;
pub mod token;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
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
    let browser = Router::new()
        .route("/oauth/token", post(token::token))
        .route("/oauth/revoke", post(oidc::revoke))
        .route("/userinfo", get(oidc::userinfo).post(oidc::userinfo))
        .route("/.well-known/jwks.json", get(discovery::jwks))
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            oidc::cors,
        ));
    Router::new()
        .merge(browser)
        .route("/oauth/introspect", post(oidc::introspect))
        .route("/authorize", get(authorize::authorize))
        .route("/u/login", post(authorize::login))
        .route("/u/consent", post(authorize::consent))
        .route(
            "/u/signup",
            get(authorize::signup_page).post(authorize::signup),
        )
        .route("/v2/logout", get(authorize::logout_v2))
        .route("/oidc/logout", get(authorize::logout_oidc))
        .route("/healthz", get(|| async { "ok" }))
        .nest("/api/v2", mgmt::router())
        .merge(extra)
        .layer(RequestBodyLimitLayer::new(256 * 1024))
        // The client's address and scheme, behind trusted proxies too, for every handler.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            client_addr::layer,
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
    let closing = state.closing.clone();
    writ_service::retention::spawn(&state);
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    let app = router_with(state, extra).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
