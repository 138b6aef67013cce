//! `writ roles list|get|create|update|delete`, `writ roles permissions list|add|remove` and
//! `writ roles users list|add`: roles over `/api/v2/roles`, the permissions they give and the
//! users holding them. A role is named by its id or its exact name, a user by id or email.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use writ_server::mgmt::types::RoleUsersRequest;

use super::CliError;
use super::api::Api;
use super::shared::{
    BodyArg, Change, Fields, ListArgs, Listing, PermissionArgs, PermissionsOp, ROLES, delete, get,
    ids, list, owner_permissions, plural, role_id, save, set_if_given, user_id,
};

#[derive(Subcommand)]
pub enum RolesCommand {
    /// List the roles.
    List {
        /// Only roles whose name contains this text.
        #[arg(long)]
        name_filter: Option<String>,
        #[command(flatten)]
        list: ListArgs,
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
        list: ListArgs,
    },
    /// Give a role permissions of one API.
    Add {
        role: String,
        #[command(flatten)]
        permissions: PermissionArgs,
    },
    /// Take permissions of one API from a role.
    Remove {
        role: String,
        #[command(flatten)]
        permissions: PermissionArgs,
    },
}

#[derive(Subcommand)]
pub enum RoleUsersCommand {
    /// List the users holding a role.
    List {
        role: String,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Assign a role to users (ids or emails).
    Add {
        role: String,
        #[arg(required = true)]
        users: Vec<String>,
    },
}

/// The users holding a role.
const ROLE_USERS: Listing = Listing {
    key: "users",
    columns: &[("USER ID", "user_id"), ("EMAIL", "email"), ("NAME", "name")],
};

impl Fields for RoleFields {
    fn apply(self, body: &mut Map<String, Value>) -> Result<(), CliError> {
        set_if_given(body, "name", self.name);
        set_if_given(body, "description", self.description);
        Ok(())
    }
}

/// Runs one `writ roles …` command.
pub async fn run(cmd: RolesCommand) -> Result<(), CliError> {
    let mut api = Api::connect().await?;
    match cmd {
        RolesCommand::List {
            name_filter,
            list: args,
        } => {
            let query = name_filter
                .map(|filter| vec![("name_filter", filter)])
                .unwrap_or_default();
            list(&mut api, &["roles"], query, &args, &ROLES).await
        }
        RolesCommand::Get { role, json } => {
            let id = role_id(&mut api, &role).await?;
            get(&mut api, &["roles", &id], json).await
        }
        RolesCommand::Create { fields, body } => save(&mut api, "roles", None, fields, &body).await,
        RolesCommand::Update { role, fields, body } => {
            let id = role_id(&mut api, &role).await?;
            save(&mut api, "roles", Some(&id), fields, &body).await
        }
        RolesCommand::Delete { role } => {
            let id = role_id(&mut api, &role).await?;
            delete(&mut api, &["roles", &id], &format!("the role {role}")).await
        }
        RolesCommand::Permissions(cmd) => {
            let (role, op) = match cmd {
                RolePermissionsCommand::List { role, list } => (role, PermissionsOp::List(list)),
                RolePermissionsCommand::Add { role, permissions } => {
                    (role, PermissionsOp::Change(Change::Add, permissions))
                }
                RolePermissionsCommand::Remove { role, permissions } => {
                    (role, PermissionsOp::Change(Change::Remove, permissions))
                }
            };
            let id = role_id(&mut api, &role).await?;
            owner_permissions(&mut api, ["roles", &id], op, |change, n| match change {
                Change::Add => format!("Gave the role {role} {n}."),
                Change::Remove => format!("Removed {n} from the role {role}."),
            })
            .await
        }
        RolesCommand::Users(RoleUsersCommand::List { role, list: args }) => {
            let id = role_id(&mut api, &role).await?;
            list(
                &mut api,
                &["roles", &id, "users"],
                vec![],
                &args,
                &ROLE_USERS,
            )
            .await
        }
        RolesCommand::Users(RoleUsersCommand::Add { role, users }) => {
            let id = role_id(&mut api, &role).await?;
            let ids = ids(&mut api, &users, user_id).await?;
            let count = ids.len();
            let body = json!(RoleUsersRequest { users: ids });
            Change::Add
                .send(&mut api, &["roles", &id, "users"], body)
                .await?;
            println!("Assigned the role {role} to {}.", plural(count, "user"));
            Ok(())
        }
    }
}
