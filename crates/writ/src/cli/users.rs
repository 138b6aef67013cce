//! `writ users list|get|create|update|delete`, `writ users roles list|add|remove`,
//! `writ users permissions list|add|remove` and `writ users import`: users over
//! `/api/v2/users`, their roles and their permissions (all listed, direct ones changed), and the Auth0 bulk import (see
//! `import.rs`). A user is named by their id or email, a role by its id or exact name.

use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

use writ_server::mgmt::types::UserRolesRequest;

use super::api::Api;
use super::shared::{
    BOOL_VALUE_NAME, BodyArg, Change, Fields, ListArgs, Listing, ROLES, USER_PERMISSIONS,
    change_permissions, delete, get, ids, list, plural, role_id, save, set_if_given, user_id,
};
use super::{CliError, import, output};

#[derive(Subcommand)]
pub enum UsersCommand {
    /// List or search users.
    List {
        /// Only users whose email or name contains this text.
        #[arg(long, conflicts_with = "email")]
        q: Option<String>,
        /// The user with this exact email.
        #[arg(long)]
        email: Option<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Show a user (by id or email).
    Get {
        user: String,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a user of the database connection.
    Create {
        #[command(flatten)]
        fields: UserFields,
        /// The connection (Writ has one).
        #[arg(long, default_value = writ_core::DEFAULT_CONNECTION)]
        connection: String,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Change a user: only the given properties.
    Update {
        /// The user's id or email.
        user: String,
        #[command(flatten)]
        fields: UserFields,
        #[command(flatten)]
        body: BodyArg,
    },
    /// Delete a user.
    Delete {
        /// The user's id or email.
        user: String,
    },
    /// A user's roles.
    #[command(subcommand)]
    Roles(UserRolesCommand),
    /// A user's permissions: list every one they hold (with its sources), add or remove direct ones.
    #[command(subcommand)]
    Permissions(UserPermissionsCommand),
    /// Import users from an Auth0 bulk-import file (a JSON array), with their password hashes.
    Import(import::ImportArgs),
}

/// The main properties of a user.
#[derive(Args)]
pub struct UserFields {
    /// Email address (required on create).
    #[arg(long)]
    email: Option<String>,
    /// Password (required on create; at least 8 characters).
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from standard input (its first line).
    #[arg(long)]
    password_stdin: bool,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// Whether the email is verified.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = BOOL_VALUE_NAME)]
    email_verified: Option<bool>,
    /// Blocked users cannot obtain tokens.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = BOOL_VALUE_NAME)]
    blocked: Option<bool>,
}

impl Fields for UserFields {
    fn apply(self, body: &mut Map<String, Value>) -> Result<(), CliError> {
        let password = if self.password_stdin {
            Some(super::read_stdin_line("password")?)
        } else {
            self.password
        };
        set_if_given(body, "email", self.email);
        set_if_given(body, "password", password);
        set_if_given(body, "name", self.name);
        set_if_given(body, "email_verified", self.email_verified);
        set_if_given(body, "blocked", self.blocked);
        Ok(())
    }
}

#[derive(Subcommand)]
pub enum UserRolesCommand {
    /// List a user's roles.
    List {
        user: String,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Assign roles (ids or names) to a user.
    Add {
        user: String,
        #[arg(required = true)]
        roles: Vec<String>,
    },
    /// Remove roles (ids or names) from a user.
    Remove {
        user: String,
        #[arg(required = true)]
        roles: Vec<String>,
    },
}

#[derive(Subcommand)]
pub enum UserPermissionsCommand {
    /// List every permission a user holds, directly or through roles and groups, with its
    /// sources (`DIRECT`, or `ROLE` with the role and the group path it came through).
    List {
        user: String,
        #[command(flatten)]
        list: ListArgs,
    },
    /// Grant a user permissions of one API directly.
    Add {
        user: String,
        /// The API (id or identifier) defining the permissions.
        #[arg(long)]
        api: String,
        #[arg(required = true)]
        permissions: Vec<String>,
    },
    /// Take direct permissions of one API from a user.
    Remove {
        user: String,
        /// The API (id or identifier) defining the permissions.
        #[arg(long)]
        api: String,
        #[arg(required = true)]
        permissions: Vec<String>,
    },
}

const USERS: Listing = Listing {
    key: "users",
    columns: &[
        ("USER ID", "user_id"),
        ("EMAIL", "email"),
        ("NAME", "name"),
        ("VERIFIED", "email_verified"),
        ("BLOCKED", "blocked"),
        ("CREATED", "created_at"),
    ],
};

/// A new user's flags: its properties, and its connection unless the body names one.
struct NewUser {
    fields: UserFields,
    connection: String,
}

impl Fields for NewUser {
    fn apply(self, body: &mut Map<String, Value>) -> Result<(), CliError> {
        self.fields.apply(body)?;
        body.entry("connection").or_insert(json!(self.connection));
        Ok(())
    }
}

/// Runs one `writ users …` command.
pub async fn run(cmd: UsersCommand) -> Result<(), CliError> {
    if let UsersCommand::Import(args) = cmd {
        return import::run(args).await;
    }
    let mut api = Api::connect().await?;
    match cmd {
        UsersCommand::Import(_) => unreachable!("handled above"),
        UsersCommand::List {
            email: Some(email),
            list: ListArgs { json, .. },
            ..
        } => {
            let users = api.get(&["users-by-email"], &[("email", email)]).await?;
            if json {
                output::json(&users);
            } else {
                output::table(USERS.columns, users.as_array().map_or(&[], Vec::as_slice));
            }
            Ok(())
        }
        UsersCommand::List { q, list: args, .. } => {
            let query = q.map(|q| vec![("q", q)]).unwrap_or_default();
            list(&mut api, &["users"], query, &args, &USERS).await
        }
        UsersCommand::Get { user, json } => {
            let id = user_id(&mut api, &user).await?;
            get(&mut api, &["users", &id], json).await
        }
        UsersCommand::Create {
            fields,
            connection,
            body,
        } => {
            let fields = NewUser { fields, connection };
            save(&mut api, "users", None, fields, &body).await
        }
        UsersCommand::Update { user, fields, body } => {
            let id = user_id(&mut api, &user).await?;
            save(&mut api, "users", Some(&id), fields, &body).await
        }
        UsersCommand::Delete { user } => {
            let id = user_id(&mut api, &user).await?;
            delete(&mut api, &["users", &id], &format!("the user {user}")).await
        }
        UsersCommand::Roles(UserRolesCommand::List { user, list: args }) => {
            let id = user_id(&mut api, &user).await?;
            list(&mut api, &["users", &id, "roles"], vec![], &args, &ROLES).await
        }
        UsersCommand::Roles(UserRolesCommand::Add { user, roles }) => {
            let count = change_roles(&mut api, &user, &roles, Change::Add).await?;
            println!("Assigned {} to {user}.", plural(count, "role"));
            Ok(())
        }
        UsersCommand::Roles(UserRolesCommand::Remove { user, roles }) => {
            let count = change_roles(&mut api, &user, &roles, Change::Remove).await?;
            println!("Removed {} from {user}.", plural(count, "role"));
            Ok(())
        }
        UsersCommand::Permissions(cmd) => {
            let (user, change, api_id, permissions) = match cmd {
                UserPermissionsCommand::List { user, list: args } => {
                    let id = user_id(&mut api, &user).await?;
                    let path = ["users", &id, "permissions"];
                    return list(&mut api, &path, vec![], &args, &USER_PERMISSIONS).await;
                }
                UserPermissionsCommand::Add {
                    user,
                    api: api_id,
                    permissions,
                } => (user, Change::Add, api_id, permissions),
                UserPermissionsCommand::Remove {
                    user,
                    api: api_id,
                    permissions,
                } => (user, Change::Remove, api_id, permissions),
            };
            let id = user_id(&mut api, &user).await?;
            let path = ["users", &id, "permissions"];
            change_permissions(&mut api, &path, &api_id, &permissions, change).await?;
            let n = plural(permissions.len(), "permission");
            match change {
                Change::Add => println!("Granted {n} to {user}."),
                Change::Remove => println!("Removed {n} from {user}."),
            }
            Ok(())
        }
    }
}

/// Assigns roles to a user or removes them; the number of roles.
async fn change_roles(
    api: &mut Api,
    user: &str,
    roles: &[String],
    change: Change,
) -> Result<usize, CliError> {
    let id = user_id(api, user).await?;
    let ids = ids(api, roles, role_id).await?;
    let count = ids.len();
    let body = json!(UserRolesRequest { roles: ids });
    change.send(api, &["users", &id, "roles"], body).await?;
    Ok(count)
}
