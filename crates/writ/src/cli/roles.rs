//! `writ roles list|get|create|update|delete`, `writ roles permissions list|add|remove` and
//! `writ roles users list|add`: roles over `/api/v2/roles`, the permissions they give and the
//! users holding them. A role is named by its id or its exact name, a user by id or email.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use writ_server::mgmt::types::RoleUsersRequest;

use super::CliError;
use super::api::Api;
use super::shared::{
    BodyArg, Change, Fields, ListArgs, Listing, PERMISSIONS, ROLES, change_permissions, delete,
    get, ids, list, plural, role_id, save, set_if_given, user_id,
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
            let (role, change, api_id, permissions) = match cmd {
                RolePermissionsCommand::List { role, list: args } => {
                    let id = role_id(&mut api, &role).await?;
                    let path = ["roles", &id, "permissions"];
                    return list(&mut api, &path, vec![], &args, &PERMISSIONS).await;
                }
                RolePermissionsCommand::Add {
                    role,
                    api: api_id,
                    permissions,
                } => (role, Change::Add, api_id, permissions),
                RolePermissionsCommand::Remove {
                    role,
                    api: api_id,
                    permissions,
                } => (role, Change::Remove, api_id, permissions),
            };
            let id = role_id(&mut api, &role).await?;
            let path = ["roles", &id, "permissions"];
            change_permissions(&mut api, &path, &api_id, &permissions, change).await?;
            let n = plural(permissions.len(), "permission");
            match change {
                Change::Add => println!("Gave the role {role} {n}."),
                Change::Remove => println!("Removed {n} from the role {role}."),
            }
            Ok(())
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
