//! `writ clients list|get|create|update|delete|rotate-secret`: the applications that obtain
//! tokens, over `/api/v2/clients`. A new or rotated secret is shown once.

use clap::{Args, Subcommand};
use serde_json::{Map, Value};

use super::CliError;
use super::api::{Api, Body};
use super::shared::{
    BodyArg, Fields, ListArgs, Listing, delete, get, list, save, set_if_given, set_list_if_given,
    show,
};

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// List the clients.
    List {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show a client.
    Get {
        id: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a client (its secret is shown once).
    Create {
        #[command(flatten)]
        fields: ClientFields,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Change a client: only the given properties (a repeated flag replaces the list).
    Update {
        id: String,
        #[command(flatten)]
        fields: ClientFields,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Delete a client.
    Delete { id: String },
    /// Give a client a new secret (shown once); the old one stops working.
    RotateSecret {
        id: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The main properties of a client.
#[derive(Args)]
pub struct ClientFields {
    /// Display name (required on create).
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    /// spa, regular_web, native or non_interactive.
    #[arg(long)]
    app_type: Option<String>,
    /// A grant type (authorization_code, refresh_token, client_credentials, password); repeat it.
    #[arg(long = "grant-type", value_name = "GRANT")]
    grant_types: Vec<String>,
    /// An allowed callback URL; repeat it.
    #[arg(long = "callback", value_name = "URL")]
    callbacks: Vec<String>,
    /// An allowed CORS origin; repeat it.
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// An allowed web origin (silent authentication); repeat it.
    #[arg(long = "web-origin", value_name = "ORIGIN")]
    web_origins: Vec<String>,
    /// An allowed logout URL; repeat it.
    #[arg(long = "logout-url", value_name = "URL")]
    allowed_logout_urls: Vec<String>,
}

impl Fields for ClientFields {
    fn apply(self, body: &mut Map<String, Value>) -> Result<(), CliError> {
        set_if_given(body, "name", self.name);
        set_if_given(body, "description", self.description);
        set_if_given(body, "app_type", self.app_type);
        set_list_if_given(body, "grant_types", self.grant_types);
        set_list_if_given(body, "callbacks", self.callbacks);
        set_list_if_given(body, "allowed_origins", self.allowed_origins);
        set_list_if_given(body, "web_origins", self.web_origins);
        set_list_if_given(body, "allowed_logout_urls", self.allowed_logout_urls);
        Ok(())
    }
}

const CLIENTS: Listing = Listing {
    key: "clients",
    columns: &[
        ("CLIENT ID", "client_id"),
        ("NAME", "name"),
        ("TYPE", "app_type"),
        ("GRANT TYPES", "grant_types"),
    ],
};

/// Runs one `writ clients …` command.
pub async fn run(cmd: ClientsCommand) -> Result<(), CliError> {
    let mut api = Api::connect().await?;
    match cmd {
        ClientsCommand::List { list: args } => {
            list(&mut api, &["clients"], vec![], &args, &CLIENTS).await
        }
        ClientsCommand::Get { id, json } => get(&mut api, &["clients", &id], json).await,
        ClientsCommand::Create { fields, body } => {
            save(&mut api, "clients", None, fields, &body).await
        }
        ClientsCommand::Update { id, fields, body } => {
            save(&mut api, "clients", Some(&id), fields, &body).await
        }
        ClientsCommand::Delete { id } => {
            delete(&mut api, &["clients", &id], &format!("the client {id}")).await
        }
        ClientsCommand::RotateSecret { id, json } => {
            let rotated = api
                .call(
                    reqwest::Method::POST,
                    &["clients", &id, "rotate-secret"],
                    &[],
                    Body::None,
                )
                .await?;
            show(&rotated, json);
            Ok(())
        }
    }
}
