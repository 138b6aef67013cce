//! `writ config check|show` and `writ migrate`: the operator's checks and deploy steps around
//! `writ serve`, on the same configuration (the `--config` file and `WRIT_*` variables).
//!
//! - `writ config check` validates the configuration without starting anything: "ok", or the
//!   error and exit code 2. With TLS it also reads the certificate and key files, as a
//!   starting server would.
//! - `writ config show` prints the effective configuration as TOML, secrets redacted (see
//!   `writ_service::config::SETTINGS`).
//! - `writ migrate` applies the database migrations and exits, by the same rule as a starting
//!   node (see `writ_store::migrate`): a deploy step before the new version's nodes start.
//!
//! Exit codes: 0 success; 1 the migration failed or was refused; 2 a configuration error.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use writ_server::Config;

/// `writ config …`.
#[derive(Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration (TOML file and WRIT_* variables, and the TLS certificate and
    /// key files when set) without starting: prints "ok", or the error and exits with code 2.
    Check,
    /// Print the effective configuration as TOML, secrets replaced by ***.
    Show,
}

fn load(config: Option<&Path>) -> Result<Config, ExitCode> {
    Config::from_env(config).map_err(|e| {
        eprintln!("writ: {e}");
        ExitCode::from(2)
    })
}

/// Runs `writ config check|show`.
pub fn config(cmd: ConfigCommand, config: Option<&Path>) -> ExitCode {
    let c = match load(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match cmd {
        ConfigCommand::Check => {
            if let Some(files) = &c.tls
                && let Err(e) = writ_server::tls::Certificates::load(files)
            {
                eprintln!("writ: configuration error: {e}");
                return ExitCode::from(2);
            }
            println!("ok")
        }
        ConfigCommand::Show => print!("{}", c.to_toml_redacted()),
    }
    ExitCode::SUCCESS
}

/// Runs `writ migrate`.
pub async fn migrate(config: Option<&Path>) -> ExitCode {
    let c = match load(config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if let Err(e) = writ_service::start::ensure_database_folder(&c) {
        eprintln!("writ: {e}");
        return ExitCode::from(2);
    }
    let Some(backend) = writ_store::Backend::of_url(&c.database_url) else {
        eprintln!("writ: unsupported database URL");
        return ExitCode::from(2);
    };
    let migrator = writ_store::migrate::embedded(backend);
    match writ_store::migrate::apply(&c.database_url, migrator).await {
        Ok(status) => {
            match status.latest() {
                Some(m) => println!(
                    "the database is at migration {} ({})",
                    m.version, m.description
                ),
                None => println!("the database has no migration"),
            }
            let newer: Vec<String> = status
                .unknown()
                .map(|m| format!("{} ({})", m.version, m.description))
                .collect();
            if !newer.is_empty() {
                println!(
                    "this Writ knows migrations up to {}; newer additive ones are applied: {}",
                    status.known.0,
                    newer.join(", ")
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("writ: database {}: {e}", c.database_url_redacted());
            ExitCode::from(1)
        }
    }
}
