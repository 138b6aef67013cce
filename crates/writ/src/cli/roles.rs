//! `writ roles list|get|create|update|delete`, `writ roles permissions list|add|remove` and
//! `writ roles users list|add`: roles over `/api/v2/roles`, the permissions they give and the
//! users holding them. A role is named by its id or its exact name, a user by id or email.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use writ_server::mgmt::types::RoleUsersRequest;

use super::CliError;
use super::api::Api;
use super::shared::{
    BodyArg, Change, ListArgs, Listing, PERMISSIONS, ROLES, change_permissions, create, delete,
    get, ids, list, plural, role_id, set_if_given, update, user_id,
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

impl RoleFields {
    fn apply(self, body: &mut Map<String, Value>) {
        set_if_given(body, "name", self.name);
        set_if_given(body, "description", self.description);
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
        RolesCommand::Create { fields, body } => {
            let mut request = body.request_body()?;
            fields.apply(&mut request);
            create(&mut api, &["roles"], request, &body).await
        }
        RolesCommand::Update { role, fields, body } => {
            let id = role_id(&mut api, &role).await?;
            let mut request = body.request_body()?;
            fields.apply(&mut request);
            update(&mut api, &["roles", &id], request, &body).await
        }
        RolesCommand::Delete { role } => {
            let id = role_id(&mut api, &role).await?;
            delete(&mut api, &["roles", &id], &format!("the role {role}")).await
        }
        RolesCommand::Permissions(RolePermissionsCommand::List { role, list: args }) => {
            let id = role_id(&mut api, &role).await?;
            list(
                &mut api,
                &["roles", &id, "permissions"],
                vec![],
                &args,
                &PERMISSIONS,
            )
            .await
        }
        RolesCommand::Permissions(RolePermissionsCommand::Add {
            role,
            api: api_id,
            permissions,
        }) => {
            let id = role_id(&mut api, &role).await?;
            let path = ["roles", &id, "permissions"];
            change_permissions(&mut api, &path, &api_id, &permissions, Change::Add).await?;
            let n = plural(permissions.len(), "permission");
            println!("Gave the role {role} {n}.");
            Ok(())
        }
        RolesCommand::Permissions(RolePermissionsCommand::Remove {
            role,
            api: api_id,
            permissions,
        }) => {
            let id = role_id(&mut api, &role).await?;
            let path = ["roles", &id, "permissions"];
            change_permissions(&mut api, &path, &api_id, &permissions, Change::Remove).await?;
            let n = plural(permissions.len(), "permission");
            println!("Removed {n} from the role {role}.");
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
