//! `writ roles list|get|create|update|delete`, `writ roles permissions list|add|remove` and
//! `writ roles users list|add`: roles over `/api/v2/roles`, the permissions they give and the
//! users holding them. A role is named by its id or its exact name, a user by id or email.

use clap::{Args, Subcommand};
use serde_json::{Value, json};

use writ_server::mgmt::types::RoleUsersRequest;

use super::CliError;
use super::api::Api;
use super::shared::{
    BodyArg, PERMISSION_COLUMNS, Paging, ROLE_COLUMNS, list, permissions_body, plural, role_id,
    set_if_given, show, user_id,
};

#[derive(Subcommand)]
pub enum RolesCommand {
    /// List the roles.
    List {
        /// Only roles whose name contains this text.
        #[arg(long)]
        name_filter: Option<String>,
        #[command(flatten)]
        paging: Paging,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a role (by id or name).
    Get {
        role: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a role.
    Create {
        #[command(flatten)]
        fields: RoleFields,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Change a role's name or description.
    Update {
        /// The role's id or name.
        role: String,
        #[command(flatten)]
        fields: RoleFields,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Delete a role.
    Delete {
        /// The role's id or name.
        role: String,
    },
    /// A role's permissions.
    #[command(subcommand)]
    Permissions(RolePermissionsCommand),
    /// The users holding a role.
    #[command(subcommand)]
    Users(RoleUsersCommand),
}

/// The properties of a role.
#[derive(Args)]
pub struct RoleFields {
    /// The role's name (required on create).
    #[arg(long)]
    name: Option<String>,
    /// What the role is for.
    #[arg(long)]
    description: Option<String>,
}

#[derive(Subcommand)]
pub enum RolePermissionsCommand {
    /// List a role's permissions.
    List {
        role: String,
        #[command(flatten)]
        paging: Paging,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Give a role permissions of one API.
    Add {
        role: String,
        /// The API (id or identifier) defining the permissions.
        #[arg(long)]
        api: String,
        /// Permission names, e.g. read:todos.
        #[arg(required = true)]
        permissions: Vec<String>,
    },
    /// Take permissions of one API from a role.
    Remove {
        role: String,
        /// The API (id or identifier) defining the permissions.
        #[arg(long)]
        api: String,
        /// Permission names.
        #[arg(required = true)]
        permissions: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum RoleUsersCommand {
    /// List the users holding a role.
    List {
        role: String,
        #[command(flatten)]
        paging: Paging,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Assign a role to users (ids or emails).
    Add {
        role: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
}

/// Runs one `writ roles …` command.
pub async fn run(cmd: RolesCommand) -> Result<(), CliError> {
    let mut api = Api::connect().await?;
    match cmd {
        RolesCommand::List {
            name_filter,
            paging,
            json,
        } => {
            let query = name_filter
                .map(|filter| vec![("name_filter", filter)])
                .unwrap_or_default();
            list(
                &mut api,
                &["roles"],
                query,
                &paging,
                json,
                "roles",
                ROLE_COLUMNS,
            )
            .await
        }
        RolesCommand::Get { role, json } => {
            let id = role_id(&mut api, &role).await?;
            show(&api.get(&["roles", &id], &[]).await?, json);
            Ok(())
        }
        RolesCommand::Create { fields, body } => {
            let mut request = body.request_body()?;
            set_if_given(&mut request, "name", fields.name);
            set_if_given(&mut request, "description", fields.description);
            show(
                &api.post(&["roles"], Value::Object(request)).await?,
                body.json_output(),
            );
            Ok(())
        }
        RolesCommand::Update { role, fields, body } => {
            let id = role_id(&mut api, &role).await?;
            let mut request = body.request_body()?;
            set_if_given(&mut request, "name", fields.name);
            set_if_given(&mut request, "description", fields.description);
            let updated = api.patch(&["roles", &id], Value::Object(request)).await?;
            show(&updated, body.json_output());
            Ok(())
        }
        RolesCommand::Delete { role } => {
            let id = role_id(&mut api, &role).await?;
            api.delete(&["roles", &id], None).await?;
            println!("Deleted the role {role}.");
            Ok(())
        }
        RolesCommand::Permissions(RolePermissionsCommand::List { role, paging, json }) => {
            let id = role_id(&mut api, &role).await?;
            list(
                &mut api,
                &["roles", &id, "permissions"],
                vec![],
                &paging,
                json,
                "permissions",
                PERMISSION_COLUMNS,
            )
            .await
        }
        RolesCommand::Permissions(RolePermissionsCommand::Add {
            role,
            api: api_id,
            permissions,
        }) => {
            let id = role_id(&mut api, &role).await?;
            let body = permissions_body(&mut api, &api_id, &permissions).await?;
            api.post(&["roles", &id, "permissions"], body).await?;
            println!(
                "Gave the role {role} {}.",
                plural(permissions.len(), "permission")
            );
            Ok(())
        }
        RolesCommand::Permissions(RolePermissionsCommand::Remove {
            role,
            api: api_id,
            permissions,
        }) => {
            let id = role_id(&mut api, &role).await?;
            let body = permissions_body(&mut api, &api_id, &permissions).await?;
            api.delete(&["roles", &id, "permissions"], Some(body))
                .await?;
            println!(
                "Removed {} from the role {role}.",
                plural(permissions.len(), "permission")
            );
            Ok(())
        }
        RolesCommand::Users(RoleUsersCommand::List { role, paging, json }) => {
            let id = role_id(&mut api, &role).await?;
            list(
                &mut api,
                &["roles", &id, "users"],
                vec![],
                &paging,
                json,
                "users",
                &[("USER ID", "user_id"), ("EMAIL", "email"), ("NAME", "name")],
            )
            .await
        }
        RolesCommand::Users(RoleUsersCommand::Add { role, users }) => {
            let id = role_id(&mut api, &role).await?;
            let mut ids = vec![];
            for user in &users {
                ids.push(user_id(&mut api, user).await?);
            }
            let count = ids.len();
            api.post(
                &["roles", &id, "users"],
                json!(RoleUsersRequest { users: ids }),
            )
            .await?;
            println!("Assigned the role {role} to {}.", plural(count, "user"));
            Ok(())
        }
    }
}
