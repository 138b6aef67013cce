//! Writ's HTTP server: the OAuth token endpoint, discovery and JWKS, and the Auth0-compatible
//! Management API v2, wired into one axum router over an [`AppState`].
//!
//! [`run`] takes a bound listener and a shutdown future, so tests bind `127.0.0.1:0` and the
//! binary wires Ctrl-C/SIGTERM.

pub mod access;
pub mod admin;
pub mod audit;
pub mod authorize;
pub mod bootstrap;
pub mod client_addr;
pub mod config;
pub mod cookies;
pub mod crypto;
pub mod demo;
pub mod discovery;
pub mod error;
pub mod events;
#[doc(hidden)]
pub mod fuzzing;
pub mod grants;
pub mod keys;
pub mod limiter;
pub mod mgmt;
pub mod oidc;
pub mod pages;
pub mod password_login;
pub mod permcache;
pub mod retention;
pub mod signing;
pub mod state;
pub mod token;

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;

pub use config::Config;
pub use state::AppState;

/// Builds the router.
pub fn router(state: AppState) -> Router {
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
        .nest("/api/v2", mgmt::router(&state))
        .merge(admin::router(&state))
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

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(#[from] config::ConfigError),
    #[error("database {url}: {source}")]
    Database {
        url: String,
        source: writ_store::StoreError,
    },
    #[error("{0}")]
    Io(String),
}

/// Reads or creates the key-encryption key: from config, else a file beside the database.
fn key_cipher(config: &Config) -> Result<crypto::KeyCipher, StartError> {
    if let Some(k) = &config.key_encryption_key {
        return Ok(crypto::KeyCipher::new(k));
    }
    let Some(db) = config.sqlite_path() else {
        // In-memory databases keep their keys in memory too: a random key is enough.
        let mut k = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rng(), &mut k);
        return Ok(crypto::KeyCipher::new(&k));
    };
    let path = db.with_extension("kek");
    let read = |p: &Path| -> Result<Option<[u8; 32]>, StartError> {
        match std::fs::read_to_string(p) {
            Ok(s) => crypto::decode_kek(&s)
                .map(Some)
                .ok_or_else(|| StartError::Io(format!("{} is not a valid key file", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StartError::Io(format!("cannot read {}: {e}", p.display()))),
        }
    };
    if let Some(k) = read(&path)? {
        return Ok(crypto::KeyCipher::new(&k));
    }
    let text = crypto::random_token(32);
    write_private(&path, &text)
        .map_err(|e| StartError::Io(format!("cannot write {}: {e}", path.display())))?;
    Ok(crypto::KeyCipher::new(
        &crypto::decode_kek(&text).expect("fresh key decodes"),
    ))
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)?.write_all(text.as_bytes())
}

/// Opens the store (SQLite, creating its folder, or PostgreSQL), provisions, and builds the state.
pub async fn prepare(config: Config) -> Result<(AppState, bootstrap::Bootstrapped), StartError> {
    if let Some(p) = config.sqlite_path()
        && let Some(dir) = p.parent().filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            StartError::Io(format!(
                "cannot create database folder {}: {e}",
                dir.display()
            ))
        })?;
    }
    let db_err = |source| StartError::Database {
        url: config.database_url_redacted(),
        source,
    };
    // SQLite or PostgreSQL, by the URL's scheme.
    let store = writ_store::open(&config.database_url)
        .await
        .map_err(db_err)?;
    let cipher = key_cipher(&config)?;
    let boot = bootstrap::bootstrap(&config, &*store, &cipher)
        .await
        .map_err(db_err)?;
    let state = AppState::new(config.clone(), store, cipher)
        .await
        .map_err(db_err)?;
    Ok((state, boot))
}

/// Serves until `shutdown` resolves, then lets in-flight requests finish.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let closing = state.closing.clone();
    retention::spawn(&state);
    let shutdown = async move {
        shutdown.await;
        closing.send_replace(true);
    };
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
