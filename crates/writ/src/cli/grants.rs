//! `writ grants list|create|update|delete`: client grants over `/api/v2/client-grants`, which
//! APIs a machine client may call with client_credentials and with which permissions. The API
//! of a new grant is named by its id or identifier.

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Map, Value, json};

use super::CliError;
use super::api::Api;
use super::shared::{BodyArg, ListArgs, Listing, api_identifier, delete, list, send, set_if_given};

#[derive(Subcommand)]
pub enum GrantsCommand {
    /// List client grants.
    List {
        /// Only this client's grants.
        #[arg(long)]
        client_id: Option<String>,
        /// Only grants for this API (its identifier).
        #[arg(long)]
        audience: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Let a machine client call an API with client_credentials.
    Create {
        #[arg(long)]
        client_id: Option<String>,
        /// The API (id or identifier).
        #[arg(long)]
        audience: Option<String>,
        /// A permission the client may request; repeat it.
        #[arg(long = "scope", value_name = "PERMISSION")]
        scopes: Vec<String>,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Replace a grant's permissions.
    Update {
        id: String,
        /// A permission the client may request; repeat it (none: an empty list).
        #[arg(long = "scope", value_name = "PERMISSION")]
        scopes: Vec<String>,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Delete a client grant.
    Delete { id: String },
}

const GRANTS: Listing = Listing {
    key: "client_grants",
    columns: &[
        ("ID", "id"),
        ("CLIENT ID", "client_id"),
        ("AUDIENCE", "audience"),
        ("SCOPE", "scope"),
    ],
};

/// The grant's permissions: the `--scope` flags, or none when neither they nor the body give
/// any.
fn set_scopes(request: &mut Map<String, Value>, scopes: Vec<String>) {
    if !scopes.is_empty() || !request.contains_key("scope") {
        request.insert("scope".into(), json!(scopes));
    }
}

/// Runs one `writ grants …` command.
pub async fn run(cmd: GrantsCommand) -> Result<(), CliError> {
    let mut api = Api::connect().await?;
    match cmd {
        GrantsCommand::List {
            client_id,
            audience,
            list: args,
        } => {
            let mut query = vec![];
            if let Some(client_id) = client_id {
                query.push(("client_id", client_id));
            }
            if let Some(audience) = audience {
                query.push(("audience", audience));
            }
            list(&mut api, &["client-grants"], query, &args, &GRANTS).await
        }
        GrantsCommand::Create {
            client_id,
            audience,
            scopes,
            body,
        } => {
            let mut request = body.request_body()?;
            set_if_given(&mut request, "client_id", client_id);
            if let Some(audience) = audience {
                request.insert(
                    "audience".into(),
                    json!(api_identifier(&mut api, &audience).await?),
                );
            }
            set_scopes(&mut request, scopes);
            send(&mut api, Method::POST, &["client-grants"], request, &body).await
        }
        GrantsCommand::Update { id, scopes, body } => {
            let mut request = body.request_body()?;
            set_scopes(&mut request, scopes);
            send(
                &mut api,
                Method::PATCH,
                &["client-grants", &id],
                request,
                &body,
            )
            .await
        }
        GrantsCommand::Delete { id } => {
            let what = format!("the client grant {id}");
            delete(&mut api, &["client-grants", &id], &what).await
        }
    }
}
