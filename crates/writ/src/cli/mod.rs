//! The management CLI: `writ login` obtains a Management API token for a machine client and
//! caches it, then `writ apis|roles|users|clients|grants|actions …` call the Management API v2 of the
//! running server (Auth0's paths and bodies) and print tables, or the server's JSON with
//! `--json`. `writ users import FILE` uploads an Auth0 bulk-import file to
//! `/api/v2/jobs/users-imports`.
//!
//! It exists so operators can script and inspect Writ without curl and token plumbing.
//! Exit codes: 0 success, 1 an error from the server (its `message` and `errorCode` are
//! printed) or the network, or an import with failed users; 2 a usage or configuration error
//! (including "not logged in").
//!
//! One file per resource (`apis`, `roles`, `users`, `clients`, `grants`, `actions`), their common
//! arguments, printing and name resolution in `shared`; `api` is the HTTP side, `config` the
//! cached login, `output` the tables, `import` the bulk import.

mod actions;
mod api;
mod apis;
mod clients;
mod config;
mod grants;
mod groups;
mod import;
mod output;
mod roles;
mod shared;
mod users;

use std::io::Read;
use std::process::ExitCode;

use clap::{Args, Subcommand};

pub use actions::ActionsCommand;
pub use apis::ApisCommand;
pub use clients::ClientsCommand;
pub use grants::GrantsCommand;
pub use groups::GroupsCommand;
pub use roles::RolesCommand;
pub use users::UsersCommand;

/// A failed command.
#[derive(Debug)]
pub enum CliError {
    /// Bad arguments, missing login, unreadable files (exit 2).
    Usage(String),
    /// The server answered an error (exit 1).
    Server {
        status: u16,
        message: String,
        code: Option<String>,
    },
    /// The network, or a partly failed import (exit 1).
    Failed(String),
}

impl CliError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CliError::Usage(_) => ExitCode::from(2),
            CliError::Server { .. } | CliError::Failed(_) => ExitCode::from(1),
        }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CliError::Usage(m) | CliError::Failed(m) => f.write_str(m),
            CliError::Server {
                status,
                message,
                code,
            } => match code {
                Some(c) => write!(f, "{message} ({c}, HTTP {status})"),
                None => write!(f, "{message} (HTTP {status})"),
            },
        }
    }
}

/// The management subcommands (flattened into `writ`'s own).
#[derive(Subcommand)]
pub enum ManageCommand {
    /// Log in to a Writ server with a machine client (client_credentials for the Management
    /// API) and cache the token for the commands below.
    Login(LoginArgs),
    /// Forget the cached token (and saved secret).
    Logout,
    /// APIs (Auth0: resource servers) and their permission catalogs.
    #[command(subcommand)]
    Apis(ApisCommand),
    /// Roles, their permissions and their users.
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Groups (a tree): their members inherit the group's roles and those of its ancestors.
    #[command(subcommand)]
    Groups(GroupsCommand),
    /// Users, their roles and direct permissions, and bulk import.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Applications that obtain tokens.
    #[command(subcommand)]
    Clients(ClientsCommand),
    /// Client grants: which APIs a machine client may call with client_credentials.
    #[command(subcommand)]
    Grants(GrantsCommand),
    /// Claim hooks (Auth0 Actions: JavaScript or signed webhooks) and the triggers they run at.
    #[command(subcommand)]
    Actions(ActionsCommand),
}

/// `writ login`.
#[derive(Args)]
pub struct LoginArgs {
    /// The server's issuer URL, e.g. http://127.0.0.1:3000/.
    #[arg(long, env = "WRIT_URL")]
    url: String,
    /// A client allowed to call the Management API (client_credentials with a client grant
    /// for `{url}api/v2/`), e.g. the bootstrap client.
    #[arg(long, env = "WRIT_CLIENT_ID")]
    client_id: String,
    /// The client's secret (or set WRIT_CLIENT_SECRET, or use --client-secret-stdin).
    #[arg(long, env = "WRIT_CLIENT_SECRET", hide_env_values = true)]
    client_secret: Option<String>,
    /// Read the client secret from standard input (its first line).
    #[arg(long, conflicts_with = "client_secret")]
    client_secret_stdin: bool,
    /// Also save the secret (file mode 0600), so expired tokens are renewed without logging
    /// in again.
    #[arg(long)]
    save_secret: bool,
    /// Print the saved login as JSON (without the token and secret).
    #[arg(long)]
    json: bool,
}

/// Runs one management command and prints its error, if any.
pub async fn run(cmd: ManageCommand) -> ExitCode {
    let result = match cmd {
        ManageCommand::Login(a) => login(a).await,
        ManageCommand::Logout => logout(),
        ManageCommand::Apis(c) => apis::run(c).await,
        ManageCommand::Roles(c) => roles::run(c).await,
        ManageCommand::Groups(c) => groups::run(c).await,
        ManageCommand::Users(c) => users::run(c).await,
        ManageCommand::Clients(c) => clients::run(c).await,
        ManageCommand::Grants(c) => grants::run(c).await,
        ManageCommand::Actions(c) => actions::run(c).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("writ: {e}");
            e.exit_code()
        }
    }
}

/// Reads the first line of standard input (a secret or a password).
pub(crate) fn read_stdin_line(what: &str) -> Result<String, CliError> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| CliError::Usage(format!("cannot read the {what} from standard input: {e}")))?;
    let line = s.lines().next().unwrap_or_default().trim_end().to_owned();
    if line.is_empty() {
        return Err(CliError::Usage(format!("standard input holds no {what}")));
    }
    Ok(line)
}

async fn login(a: LoginArgs) -> Result<(), CliError> {
    let url = api::normalize_url(&a.url)?;
    let secret = if a.client_secret_stdin {
        read_stdin_line("client secret")?
    } else {
        a.client_secret.filter(|s| !s.is_empty()).ok_or_else(|| {
            CliError::Usage(
                "a client secret is needed: --client-secret, --client-secret-stdin or WRIT_CLIENT_SECRET"
                    .into(),
            )
        })?
    };
    let (token, ttl) = api::fetch_token(&api::http(), &url, &a.client_id, &secret).await?;
    let expires_at = writ_service::time::now() + ttl;
    let creds = config::Credentials {
        url: url.clone(),
        client_id: a.client_id.clone(),
        access_token: token,
        expires_at,
        client_secret: a.save_secret.then_some(secret),
    };
    let path = config::save(&creds)?;
    let expiry = chrono::DateTime::from_timestamp(expires_at, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    if a.json {
        output::json(&serde_json::json!({
            "url": url,
            "client_id": a.client_id,
            "expires_at": expiry,
            "secret_saved": a.save_secret,
            "path": path.display().to_string(),
        }));
    } else {
        println!(
            "Logged in to {url} as {} (token valid until {expiry}{}); saved in {}.",
            a.client_id,
            if a.save_secret {
                ", renewed automatically"
            } else {
                ""
            },
            path.display()
        );
    }
    Ok(())
}

fn logout() -> Result<(), CliError> {
    match config::delete()? {
        Some(p) => println!("Logged out ({} removed).", p.display()),
        None => println!("Not logged in."),
    }
    Ok(())
}
