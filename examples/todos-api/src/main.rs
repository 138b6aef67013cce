//! `todos-api`: serves the example API (see the crate docs and README.md). Configuration
//! errors end the process with one line and exit code 2.

use std::process::ExitCode;
use std::time::Duration;

use todos_api::{AppState, Config};
use tokio::net::TcpListener;
use writ_guard::{EventFeed, Guard, GuardOptions};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("todos-api: {e}");
            return ExitCode::from(2);
        }
    };
    match serve(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("todos-api: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Discovers the issuer's keys, retrying for a minute so that the API can start before Writ.
async fn discover(config: &Config) -> Result<Guard, String> {
    const ATTEMPTS: u32 = 60;
    for attempt in 1..=ATTEMPTS {
        let opts = GuardOptions {
            events: config
                .events
                .clone()
                .map(|(client_id, client_secret)| EventFeed {
                    writ_url: None,
                    client_id,
                    client_secret,
                }),
            ..Default::default()
        };
        match Guard::discover(&config.issuer, &config.audience, opts).await {
            Ok(guard) => return Ok(guard),
            Err(e) if attempt == ATTEMPTS => {
                return Err(format!("cannot discover the issuer {}: {e}", config.issuer));
            }
            Err(e) => {
                if attempt == 1 || attempt % 10 == 0 {
                    tracing::warn!(issuer = %config.issuer, error = %e, "issuer not reachable yet; retrying");
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    unreachable!("the last attempt returns")
}

async fn serve(config: Config) -> Result<(), String> {
    let db = todos_api::open_db(&config.database_url)
        .await
        .map_err(|e| format!("database {}: {e}", config.database_url))?;
    let guard = discover(&config).await?;
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("listener: {e}"))?;
    tracing::info!(
        "todos-api on http://{addr} verifying tokens of {} for {}",
        config.issuer,
        config.audience
    );
    todos_api::run(
        listener,
        AppState { guard, db },
        &config.cors_origins,
        shutdown_signal(),
    )
    .await
    .map_err(|e| format!("server: {e}"))
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
