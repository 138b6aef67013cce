//! The `writ` binary: `writ serve` runs the authorization server, `writ demo` runs it with demo
//! data and prints a tour. Configuration errors end the process with one line and exit code 2.
//! `writ login`, `writ apis|roles|users|clients|grants …` manage a running server (see [`cli`]).
//! `writ export|import|backup` dump, restore and copy the database (see [`dump`]).
//! `writ config check|show` and `writ migrate` check the configuration and migrate the database
//! (see [`ops`]). `writ hook-worker` (not listed in the help) is the hook worker process the
//! server starts.

mod cli;
mod dump;
mod ops;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;
use writ_server::{Config, demo};

#[derive(Parser)]
#[command(
    name = "writ",
    version,
    about = "Self-hosted authorization server for SPAs and their APIs"
)]
struct Cli {
    /// TOML configuration file; WRIT_* environment variables override it.
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve,
    /// Run the server with demo data (idempotent) and print a short tour.
    Demo,
    /// Check tokens and permissions in front of an API in any language: an nginx
    /// `auth_request` endpoint, or a reverse proxy with `--upstream`.
    Gate(writ_gate::GateArgs),
    /// Check the configuration, or print it with secrets redacted.
    #[command(subcommand)]
    Config(ops::ConfigCommand),
    /// Apply the database migrations and exit (a deploy step before starting a new version).
    Migrate,
    #[command(flatten)]
    Manage(cli::ManageCommand),
    #[command(flatten)]
    Dump(dump::DumpCommand),
}

/// mimalloc instead of glibc's malloc: the token endpoint's requests allocate and free many
/// small buffers across the runtime's threads (measured in bench/README.md, "mimalloc").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // A hook worker process (started by this server's hook pool): no CLI, no logging set-up,
    // no async runtime; it locks itself down and serves jobs on stdin/stdout.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "hook-worker")
    {
        return writ_hooks::worker::main();
    }
    let cli = match Cli::parse() {
        Cli {
            command: Command::Config(cmd),
            config,
        } => return ops::config(cmd, config.as_deref()),
        cli => cli,
    };
    init_logging(cli.config.as_deref());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("writ: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cli = match cli {
        Cli {
            command: Command::Manage(cmd),
            ..
        } => {
            end_quietly_on_broken_pipe();
            return rt.block_on(cli::run(cmd));
        }
        Cli {
            command: Command::Dump(cmd),
            config,
        } => {
            end_quietly_on_broken_pipe();
            return rt.block_on(dump::run(cmd, config.as_deref()));
        }
        Cli {
            command: Command::Migrate,
            config,
        } => return rt.block_on(ops::migrate(config.as_deref())),
        cli => cli,
    };
    let run = async {
        match cli.command {
            Command::Gate(args) => writ_gate::run_cli(args, shutdown_signal()).await,
            _ => serve(cli).await,
        }
    };
    match rt.block_on(run) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("writ: {msg}");
            ExitCode::from(2)
        }
    }
}

/// Logs to stderr, as text or (`WRIT_LOG_FORMAT=json`) one JSON object per line: timestamp,
/// level, target, message and the event's fields at the top level, the current span's fields
/// under `span`. Text is coloured only when stderr is a terminal. `RUST_LOG` filters (default `info`, quieter for sqlx and tower-http); the
/// per-request access log is the target `writ::request`.
fn init_logging(config: Option<&std::path::Path>) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn".into());
    // Colours only on a terminal: a log file or journald gets no escape codes (and the
    // per-request access line costs less to write).
    let fmt = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match writ_service::config::LogFormat::early(config, |k| std::env::var(k).ok()) {
        writ_service::config::LogFormat::Text => fmt.init(),
        writ_service::config::LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// The management and dump commands print for scripts: like other Unix tools they end quietly
/// when the reader goes away (`writ users list --json | head`) instead of panicking on the
/// broken pipe. `serve`, `demo` and `gate` keep Rust's default (SIGPIPE ignored).
fn end_quietly_on_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: sets a process-wide disposition to the default; no handler runs our code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Resolves on the first SIGTERM or Ctrl-C: the server then turns not-ready, serves on for the
/// shutdown delay and finishes in-flight requests. A second signal ends the process at once
/// (exit status 130), for an operator who does not want to wait for the delay.
async fn shutdown_signal() {
    stop_signal().await;
    tracing::info!("shutting down: finishing in-flight requests (a second signal stops at once)");
    tokio::spawn(async {
        stop_signal().await;
        tracing::warn!("told again to stop: stopping at once");
        std::process::exit(130);
    });
}

/// The next SIGTERM or Ctrl-C.
async fn stop_signal() {
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
}

/// SIGHUP (`systemctl reload`, see `deploy/writ.service`) must not end the server, as it would
/// by default. With TLS it reloads the certificate and key (a failure is logged and the old
/// certificate kept); otherwise it is logged and changes nothing. Other settings are read once,
/// at start.
/// Installed before start-up's slow steps (migrations, keys), so a reload sent while the node
/// starts does not end it.
fn on_hangup(certs: Option<writ_server::tls::Certificates>) {
    #[cfg(unix)]
    {
        let kind = tokio::signal::unix::SignalKind::hangup();
        let Ok(mut hup) = tokio::signal::unix::signal(kind) else {
            return;
        };
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let Some(certs) = &certs else {
                    tracing::info!(
                        "SIGHUP: nothing to reload (settings are read at start; restart to apply changes)"
                    );
                    continue;
                };
                let reloading = certs.clone();
                match tokio::task::spawn_blocking(move || reloading.reload()).await {
                    Ok(Ok(())) => tracing::info!(
                        cert = %certs.files().cert.display(),
                        key = %certs.files().key.display(),
                        "SIGHUP: TLS certificate reloaded; new connections use it"
                    ),
                    Ok(Err(e)) => tracing::error!(
                        error = %e,
                        "SIGHUP: TLS certificate not reloaded; still serving the previous one"
                    ),
                    Err(e) => tracing::error!(error = %e, "SIGHUP: the TLS reload failed"),
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = certs;
}

async fn serve(cli: Cli) -> Result<(), String> {
    let demo_mode = matches!(cli.command, Command::Demo);
    let mut config = Config::from_env(cli.config.as_deref()).map_err(|e| e.to_string())?;
    // A demo without a mail server logs each email's link instead of refusing the flows.
    config.mail_log_links = demo_mode;
    let certs = match &config.tls {
        Some(files) => Some(
            writ_server::tls::Certificates::load(files)
                .map_err(|e| format!("configuration error: {e}"))?,
        ),
        None => None,
    };
    on_hangup(certs.clone());
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.listen))?;
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr} (WRIT_METRICS_LISTEN): {e}"))?,
        ),
        None => None,
    };
    let started = std::time::Instant::now();
    let (state, boot) = writ_server::prepare(config.clone())
        .await
        .map_err(|e| e.to_string())?;
    if let Some((id, secret)) = &boot.generated_client {
        eprintln!(
            "\nNo client existed, so an admin client for the Management API was created. Its secret is shown only now:\n  client_id:     {id}\n  client_secret: {secret}\n  audience:      {}\n",
            config.management_audience()
        );
    }
    if demo_mode {
        demo::seed(&state)
            .await
            .map_err(|e| format!("demo data: {e}"))?;
        eprintln!("{}", demo::tour(&config.issuer));
    }
    tracing::info!(issuer = %config.issuer, listen = %config.listen, tls = certs.is_some(), ready_ms = started.elapsed().as_millis() as u64, "writ is ready");
    let store = state.store.clone();
    // `/metrics` on its own address, ending with the server.
    let (metrics_stop, metrics_stopped) = tokio::sync::watch::channel(false);
    if let Some(l) = metrics_listener {
        let state = state.clone();
        let mut stopped = metrics_stopped.clone();
        tokio::spawn(async move {
            let stop = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = writ_server::metrics::run_metrics(l, state, stop).await {
                tracing::error!(error = %e, "the metrics listener failed");
            }
        });
    }
    // The admin console at /admin, under the server's middleware.
    let console = writ_console::router();
    let served = match certs {
        Some(certs) => {
            writ_server::run_tls_with(listener, certs, state, console, shutdown_signal()).await
        }
        None => writ_server::run_with(listener, state, console, shutdown_signal()).await,
    };
    metrics_stop.send_replace(true);
    served.map_err(|e| format!("server error: {e}"))?;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}
