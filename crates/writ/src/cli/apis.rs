//! `writ apis list|get|create|update|delete`: the APIs (Auth0: resource servers) over
//! `/api/v2/resource-servers`, with their permission catalogs (`--permission NAME=DESCRIPTION`)
//! and token settings. An API is named by its id or its identifier.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use super::CliError;
use super::api::Api;
use super::shared::{
    BOOL_VALUE_NAME, BodyArg, Fields, ListArgs, Listing, delete, get, list, save, set_if_given,
};

#[derive(Subcommand)]
pub enum ApisCommand {
    /// List the APIs.
    List {
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show an API (by id or identifier).
    Get {
        id: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create an API.
    Create {
        #[command(flatten)]
        fields: ApiFields,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Change an API: only the given properties (--permission replaces the catalog).
    Update {
        /// The API's id or identifier.
        id: String,
        #[command(flatten)]
        fields: ApiFields,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Delete an API.
    Delete {
        /// The API's id or identifier.
        id: String,
    },
}

/// The main properties of an API.
#[derive(Args)]
pub struct ApiFields {
    /// The audience of the API's tokens, usually a URL (required on save, fixed after).
    #[arg(long)]
    identifier: Option<String>,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// A permission of the catalog, NAME or NAME=DESCRIPTION; repeat it.
    #[arg(long = "permission", value_name = "NAME[=DESCRIPTION]")]
    permissions: Vec<String>,
    /// RBAC: tokens carry only the permissions their subject holds (enforce_policies).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = BOOL_VALUE_NAME)]
    rbac: Option<bool>,
    /// Put a `permissions` claim in access tokens (token_dialect access_token_authz; needs RBAC).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = BOOL_VALUE_NAME)]
    permissions_claim: Option<bool>,
    /// access_token, access_token_authz, rfc9068_profile or rfc9068_profile_authz.
    #[arg(long)]
    token_dialect: Option<String>,
    /// RS256 (default), ES256 or EdDSA.
    #[arg(long)]
    signing_alg: Option<String>,
    /// Access-token lifetime in seconds.
    #[arg(long)]
    token_lifetime: Option<i64>,
    /// Allow refresh tokens (offline_access) for this API.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = BOOL_VALUE_NAME)]
    allow_offline_access: Option<bool>,
}

impl Fields for ApiFields {
    fn apply(self, body: &mut Map<String, Value>) -> Result<(), CliError> {
        set_if_given(body, "identifier", self.identifier);
        set_if_given(body, "name", self.name);
        if !self.permissions.is_empty() {
            let scopes: Vec<Value> = self
                .permissions
                .iter()
                .map(|permission| match permission.split_once('=') {
                    Some((value, description)) => {
                        json!({"value": value, "description": description})
                    }
                    None => json!({"value": permission}),
                })
                .collect();
            body.insert("scopes".into(), Value::Array(scopes));
        }
        set_if_given(body, "enforce_policies", self.rbac);
        let dialect = self.token_dialect.or(self.permissions_claim.map(|claim| {
            if claim {
                "access_token_authz".to_owned()
            } else {
                "access_token".to_owned()
            }
        }));
        set_if_given(body, "token_dialect", dialect);
        set_if_given(body, "signing_alg", self.signing_alg);
        set_if_given(body, "token_lifetime", self.token_lifetime);
        set_if_given(body, "allow_offline_access", self.allow_offline_access);
        Ok(())
    }
}

const APIS: Listing = Listing {
    key: "resource_servers",
    columns: &[
        ("ID", "id"),
        ("NAME", "name"),
        ("IDENTIFIER", "identifier"),
        ("RBAC", "enforce_policies"),
        ("PERMISSIONS", "scopes#"),
    ],
};

/// Runs one `writ apis …` command.
pub async fn run(cmd: ApisCommand) -> Result<(), CliError> {
    let mut api = Api::connect().await?;
    match cmd {
        ApisCommand::List { list: args } => {
            list(&mut api, &["resource-servers"], vec![], &args, &APIS).await
        }
        ApisCommand::Get { id, json } => get(&mut api, &["resource-servers", &id], json).await,
        ApisCommand::Create { fields, body } => {
            save(&mut api, "resource-servers", None, fields, &body).await
        }
        ApisCommand::Update { id, fields, body } => {
            save(&mut api, "resource-servers", Some(&id), fields, &body).await
        }
        ApisCommand::Delete { id } => {
            delete(
                &mut api,
                &["resource-servers", &id],
                &format!("the API {id}"),
            )
            .await
        }
    }
}
