//! `writ apis|roles|users|clients|grants …`: list, get, create, update and delete over the
//! Management API v2 (`/resource-servers`, `/roles`, `/users`, `/clients`, `/client-grants`),
//! and the role/permission assignments. Ids may be given by name where that is unambiguous:
//! a role by its name, a user by their email, an API by its identifier.

use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::api::Api;
use super::{CliError, import, output};

// ---------------------------------------------------------------------------------------------
// Shared arguments

/// Paging of lists (Auth0's `page` from 0 and `per_page`).
#[derive(Args)]
pub struct Paging {
    /// Page index, from 0.
    #[arg(long)]
    page: Option<u32>,
    /// Items per page (at most 100; the server's default is 50).
    #[arg(long)]
    per_page: Option<u32>,
}

/// `--json` for create and update: a request body, or just JSON output.
#[derive(Args)]
pub struct BodyArg {
    /// Print the server's JSON. With a value, also send it as the request body (a JSON
    /// object, or @FILE), the flags applied on top.
    #[arg(
        long,
        value_name = "BODY|@FILE",
        num_args = 0..=1,
        default_missing_value = ""
    )]
    json: Option<String>,
}

impl BodyArg {
    fn json_output(&self) -> bool {
        self.json.is_some()
    }

    /// The body given with `--json`, or an empty object.
    fn base(&self) -> Result<Map<String, Value>, CliError> {
        let raw = match self.json.as_deref() {
            None | Some("") => return Ok(Map::new()),
            Some(s) => s,
        };
        let text = match raw.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| CliError::Usage(format!("cannot read {path}: {e}")))?,
            None => raw.to_owned(),
        };
        match serde_json::from_str(&text) {
            Ok(Value::Object(m)) => Ok(m),
            Ok(_) => Err(CliError::Usage("--json must be a JSON object".into())),
            Err(e) => Err(CliError::Usage(format!("--json is not valid JSON: {e}"))),
        }
    }
}

fn set<T: Serialize>(m: &mut Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(key.into(), json!(v));
    }
}

fn set_list(m: &mut Map<String, Value>, key: &str, v: Vec<String>) {
    if !v.is_empty() {
        m.insert(key.into(), json!(v));
    }
}

/// Prints one object: a property table, or the server's JSON.
fn show(v: &Value, json: bool) {
    if json {
        output::json(v);
    } else {
        output::record(v);
    }
}

/// Lists one page: the server's JSON as is with `--json`, else a table and a footer.
async fn list(
    api: &mut Api,
    segments: &[&str],
    mut query: Vec<(&'static str, String)>,
    paging: &Paging,
    json: bool,
    key: &str,
    columns: &[(&str, &str)],
) -> Result<(), CliError> {
    if let Some(p) = paging.page {
        query.push(("page", p.to_string()));
    }
    if let Some(p) = paging.per_page {
        query.push(("per_page", p.to_string()));
    }
    if json {
        output::json(&api.get(segments, &query).await?);
        return Ok(());
    }
    query.push(("include_totals", "true".into()));
    let v = api.get(segments, &query).await?;
    match &v {
        Value::Array(items) => output::table(columns, items),
        _ => {
            let items = v[key].as_array().cloned().unwrap_or_default();
            output::table(columns, &items);
            output::footer(&v, key);
        }
    }
    Ok(())
}

const BOOL: &str = "BOOL";

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

// ---------------------------------------------------------------------------------------------
// Name resolution

/// An API's identifier (the audience permissions name), from its id or identifier.
async fn api_identifier(api: &mut Api, id: &str) -> Result<String, CliError> {
    let v = api.get(&["resource-servers", id], &[]).await?;
    v["identifier"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| CliError::Failed(format!("the API {id} has no identifier")))
}

/// A role id, from an id (`rol_…`) or an exact name.
async fn role_id(api: &mut Api, role: &str) -> Result<String, CliError> {
    if role.starts_with("rol_") {
        return Ok(role.to_owned());
    }
    let v = api
        .get(
            &["roles"],
            &[("name_filter", role.to_owned()), ("per_page", "100".into())],
        )
        .await?;
    let found: Vec<&Value> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["name"].as_str() == Some(role))
        .collect();
    match found[..] {
        [r] => Ok(r["id"].as_str().unwrap_or_default().to_owned()),
        [] => Err(CliError::Failed(format!("no role is named {role:?}"))),
        _ => Err(CliError::Failed(format!(
            "several roles are named {role:?}: give the role id"
        ))),
    }
}

/// A user id, from an id or an email.
async fn user_id(api: &mut Api, user: &str) -> Result<String, CliError> {
    if !user.contains('@') {
        return Ok(user.to_owned());
    }
    let v = api
        .get(&["users-by-email"], &[("email", user.to_owned())])
        .await?;
    v.as_array()
        .and_then(|a| a.first())
        .and_then(|u| u["user_id"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| CliError::Failed(format!("no user has the email {user}")))
}

/// Auth0's permissions body for one API.
async fn permissions_body(
    api: &mut Api,
    api_id: &str,
    permissions: &[String],
) -> Result<Value, CliError> {
    let identifier = api_identifier(api, api_id).await?;
    Ok(json!({
        "permissions": permissions.iter().map(|p| json!({
            "resource_server_identifier": identifier,
            "permission_name": p,
        })).collect::<Vec<_>>()
    }))
}

const PERMISSION_COLUMNS: &[(&str, &str)] = &[
    ("API", "resource_server_identifier"),
    ("PERMISSION", "permission_name"),
    ("DESCRIPTION", "description"),
];
const ROLE_COLUMNS: &[(&str, &str)] = &[
    ("ID", "id"),
    ("NAME", "name"),
    ("DESCRIPTION", "description"),
];

// ---------------------------------------------------------------------------------------------
// APIs

#[derive(Subcommand)]
pub enum ApisCommand {
    /// List the APIs.
    List {
        #[command(flatten)]
        paging: Paging,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
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
    /// The audience of the API's tokens, usually a URL (required on create, fixed after).
    #[arg(long)]
    identifier: Option<String>,
    /// Display name.
    #[arg(long)]
    name: Option<String>,
    /// A permission of the catalog, NAME or NAME=DESCRIPTION; repeat it.
    #[arg(long = "permission", value_name = "NAME[=DESCRIPTION]")]
    permissions: Vec<String>,
    /// RBAC: tokens carry only the permissions their subject holds (enforce_policies).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = BOOL)]
    rbac: Option<bool>,
    /// Put a `permissions` claim in access tokens (token_dialect access_token_authz; needs RBAC).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = BOOL)]
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
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = BOOL)]
    allow_offline_access: Option<bool>,
}

impl ApiFields {
    fn apply(self, m: &mut Map<String, Value>) {
        set(m, "identifier", self.identifier);
        set(m, "name", self.name);
        if !self.permissions.is_empty() {
            let scopes: Vec<Value> = self
                .permissions
                .iter()
                .map(|p| match p.split_once('=') {
                    Some((v, d)) => json!({"value": v, "description": d}),
                    None => json!({"value": p}),
                })
                .collect();
            m.insert("scopes".into(), Value::Array(scopes));
        }
        set(m, "enforce_policies", self.rbac);
        let dialect = self.token_dialect.or(self.permissions_claim.map(|c| {
            if c {
                "access_token_authz".to_owned()
            } else {
                "access_token".to_owned()
            }
        }));
        set(m, "token_dialect", dialect);
        set(m, "signing_alg", self.signing_alg);
        set(m, "token_lifetime", self.token_lifetime);
        set(m, "allow_offline_access", self.allow_offline_access);
    }
}

pub async fn apis(cmd: ApisCommand) -> Result<(), CliError> {
    let mut api = Api::connect().await?;
    match cmd {
        ApisCommand::List { paging, json } => {
            list(
                &mut api,
                &["resource-servers"],
                vec![],
                &paging,
                json,
                "resource_servers",
                &[
                    ("ID", "id"),
                    ("NAME", "name"),
                    ("IDENTIFIER", "identifier"),
                    ("RBAC", "enforce_policies"),
                    ("PERMISSIONS", "scopes#"),
                ],
            )
            .await
        }
        ApisCommand::Get { id, json } => {
            show(&api.get(&["resource-servers", &id], &[]).await?, json);
            Ok(())
        }
        ApisCommand::Create { fields, body } => {
            let mut m = body.base()?;
            fields.apply(&mut m);
            let v = api.post(&["resource-servers"], Value::Object(m)).await?;
            show(&v, body.json_output());
            Ok(())
        }
        ApisCommand::Update { id, fields, body } => {
            let mut m = body.base()?;
            fields.apply(&mut m);
            let v = api
                .patch(&["resource-servers", &id], Value::Object(m))
                .await?;
            show(&v, body.json_output());
            Ok(())
        }
        ApisCommand::Delete { id } => {
            api.delete(&["resource-servers", &id], None).await?;
            println!("Deleted the API {id}.");
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Roles

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

pub async fn roles(cmd: RolesCommand) -> Result<(), CliError> {
    let mut api = Api::connect().await?;
    match cmd {
        RolesCommand::List {
            name_filter,
            paging,
            json,
        } => {
            let q = name_filter
                .map(|f| vec![("name_filter", f)])
                .unwrap_or_default();
            list(
                &mut api,
                &["roles"],
                q,
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
            let mut m = body.base()?;
            set(&mut m, "name", fields.name);
            set(&mut m, "description", fields.description);
            show(
                &api.post(&["roles"], Value::Object(m)).await?,
                body.json_output(),
            );
            Ok(())
        }
        RolesCommand::Update { role, fields, body } => {
            let id = role_id(&mut api, &role).await?;
            let mut m = body.base()?;
            set(&mut m, "name", fields.name);
            set(&mut m, "description", fields.description);
            let v = api.patch(&["roles", &id], Value::Object(m)).await?;
            show(&v, body.json_output());
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
            for u in &users {
                ids.push(user_id(&mut api, u).await?);
            }
            api.post(&["roles", &id, "users"], json!({ "users": ids }))
                .await?;
            println!("Assigned the role {role} to {}.", plural(ids.len(), "user"));
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Users

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
        paging: Paging,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
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
    /// A user's direct permissions (not those of their roles).
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
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = BOOL)]
    email_verified: Option<bool>,
    /// Blocked users cannot obtain tokens.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = BOOL)]
    blocked: Option<bool>,
}

impl UserFields {
    fn apply(self, m: &mut Map<String, Value>) -> Result<(), CliError> {
        let password = if self.password_stdin {
            Some(super::read_stdin_line("password")?)
        } else {
            self.password
        };
        set(m, "email", self.email);
        set(m, "password", password);
        set(m, "name", self.name);
        set(m, "email_verified", self.email_verified);
        set(m, "blocked", self.blocked);
        Ok(())
    }
}

#[derive(Subcommand)]
pub enum UserRolesCommand {
    /// List a user's roles.
    List {
        user: String,
        #[command(flatten)]
        paging: Paging,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
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
    /// List a user's direct permissions.
    List {
        user: String,
        #[command(flatten)]
        paging: Paging,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
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

const USER_COLUMNS: &[(&str, &str)] = &[
    ("USER ID", "user_id"),
    ("EMAIL", "email"),
    ("NAME", "name"),
    ("VERIFIED", "email_verified"),
    ("BLOCKED", "blocked"),
    ("CREATED", "created_at"),
];

pub async fn users(cmd: UsersCommand) -> Result<(), CliError> {
    if let UsersCommand::Import(args) = cmd {
        return import::run(args).await;
    }
    let mut api = Api::connect().await?;
    match cmd {
        UsersCommand::Import(_) => unreachable!("handled above"),
        UsersCommand::List {
            email: Some(email),
            json,
            ..
        } => {
            let v = api.get(&["users-by-email"], &[("email", email)]).await?;
            if json {
                output::json(&v);
            } else {
                output::table(USER_COLUMNS, v.as_array().map_or(&[], Vec::as_slice));
            }
            Ok(())
        }
        UsersCommand::List {
            q, paging, json, ..
        } => {
            let q = q.map(|q| vec![("q", q)]).unwrap_or_default();
            list(
                &mut api,
                &["users"],
                q,
                &paging,
                json,
                "users",
                USER_COLUMNS,
            )
            .await
        }
        UsersCommand::Get { user, json } => {
            let id = user_id(&mut api, &user).await?;
            show(&api.get(&["users", &id], &[]).await?, json);
            Ok(())
        }
        UsersCommand::Create {
            fields,
            connection,
            body,
        } => {
            let mut m = body.base()?;
            fields.apply(&mut m)?;
            m.entry("connection").or_insert(json!(connection));
            show(
                &api.post(&["users"], Value::Object(m)).await?,
                body.json_output(),
            );
            Ok(())
        }
        UsersCommand::Update { user, fields, body } => {
            let id = user_id(&mut api, &user).await?;
            let mut m = body.base()?;
            fields.apply(&mut m)?;
            show(
                &api.patch(&["users", &id], Value::Object(m)).await?,
                body.json_output(),
            );
            Ok(())
        }
        UsersCommand::Delete { user } => {
            let id = user_id(&mut api, &user).await?;
            api.delete(&["users", &id], None).await?;
            println!("Deleted the user {user}.");
            Ok(())
        }
        UsersCommand::Roles(UserRolesCommand::List { user, paging, json }) => {
            let id = user_id(&mut api, &user).await?;
            list(
                &mut api,
                &["users", &id, "roles"],
                vec![],
                &paging,
                json,
                "roles",
                ROLE_COLUMNS,
            )
            .await
        }
        UsersCommand::Roles(UserRolesCommand::Add { user, roles }) => {
            let id = user_id(&mut api, &user).await?;
            let mut ids = vec![];
            for r in &roles {
                ids.push(role_id(&mut api, r).await?);
            }
            api.post(&["users", &id, "roles"], json!({ "roles": ids }))
                .await?;
            println!("Assigned {} to {user}.", plural(ids.len(), "role"));
            Ok(())
        }
        UsersCommand::Roles(UserRolesCommand::Remove { user, roles }) => {
            let id = user_id(&mut api, &user).await?;
            let mut ids = vec![];
            for r in &roles {
                ids.push(role_id(&mut api, r).await?);
            }
            api.delete(&["users", &id, "roles"], Some(json!({ "roles": ids })))
                .await?;
            println!("Removed {} from {user}.", plural(ids.len(), "role"));
            Ok(())
        }
        UsersCommand::Permissions(UserPermissionsCommand::List { user, paging, json }) => {
            let id = user_id(&mut api, &user).await?;
            list(
                &mut api,
                &["users", &id, "permissions"],
                vec![],
                &paging,
                json,
                "permissions",
                PERMISSION_COLUMNS,
            )
            .await
        }
        UsersCommand::Permissions(UserPermissionsCommand::Add {
            user,
            api: api_id,
            permissions,
        }) => {
            let id = user_id(&mut api, &user).await?;
            let body = permissions_body(&mut api, &api_id, &permissions).await?;
            api.post(&["users", &id, "permissions"], body).await?;
            println!(
                "Granted {} to {user}.",
                plural(permissions.len(), "permission")
            );
            Ok(())
        }
        UsersCommand::Permissions(UserPermissionsCommand::Remove {
            user,
            api: api_id,
            permissions,
        }) => {
            let id = user_id(&mut api, &user).await?;
            let body = permissions_body(&mut api, &api_id, &permissions).await?;
            api.delete(&["users", &id, "permissions"], Some(body))
                .await?;
            println!(
                "Removed {} from {user}.",
                plural(permissions.len(), "permission")
            );
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Clients

#[derive(Subcommand)]
pub enum ClientsCommand {
    /// List the clients.
    List {
        #[command(flatten)]
        paging: Paging,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
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

impl ClientFields {
    fn apply(self, m: &mut Map<String, Value>) {
        set(m, "name", self.name);
        set(m, "description", self.description);
        set(m, "app_type", self.app_type);
        set_list(m, "grant_types", self.grant_types);
        set_list(m, "callbacks", self.callbacks);
        set_list(m, "allowed_origins", self.allowed_origins);
        set_list(m, "web_origins", self.web_origins);
        set_list(m, "allowed_logout_urls", self.allowed_logout_urls);
    }
}

pub async fn clients(cmd: ClientsCommand) -> Result<(), CliError> {
    let mut api = Api::connect().await?;
    match cmd {
        ClientsCommand::List { paging, json } => {
            list(
                &mut api,
                &["clients"],
                vec![],
                &paging,
                json,
                "clients",
                &[
                    ("CLIENT ID", "client_id"),
                    ("NAME", "name"),
                    ("TYPE", "app_type"),
                    ("GRANT TYPES", "grant_types"),
                ],
            )
            .await
        }
        ClientsCommand::Get { id, json } => {
            show(&api.get(&["clients", &id], &[]).await?, json);
            Ok(())
        }
        ClientsCommand::Create { fields, body } => {
            let mut m = body.base()?;
            fields.apply(&mut m);
            show(
                &api.post(&["clients"], Value::Object(m)).await?,
                body.json_output(),
            );
            Ok(())
        }
        ClientsCommand::Update { id, fields, body } => {
            let mut m = body.base()?;
            fields.apply(&mut m);
            show(
                &api.patch(&["clients", &id], Value::Object(m)).await?,
                body.json_output(),
            );
            Ok(())
        }
        ClientsCommand::Delete { id } => {
            api.delete(&["clients", &id], None).await?;
            println!("Deleted the client {id}.");
            Ok(())
        }
        ClientsCommand::RotateSecret { id, json } => {
            let v = api
                .call(
                    reqwest::Method::POST,
                    &["clients", &id, "rotate-secret"],
                    &[],
                    super::api::Body::None,
                )
                .await?;
            show(&v, json);
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Client grants

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
        paging: Paging,
        /// Print the server's JSON.
        #[arg(long)]
        json: bool,
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

pub async fn grants(cmd: GrantsCommand) -> Result<(), CliError> {
    let mut api = Api::connect().await?;
    match cmd {
        GrantsCommand::List {
            client_id,
            audience,
            paging,
            json,
        } => {
            let mut q = vec![];
            if let Some(c) = client_id {
                q.push(("client_id", c));
            }
            if let Some(a) = audience {
                q.push(("audience", a));
            }
            list(
                &mut api,
                &["client-grants"],
                q,
                &paging,
                json,
                "client_grants",
                &[
                    ("ID", "id"),
                    ("CLIENT ID", "client_id"),
                    ("AUDIENCE", "audience"),
                    ("SCOPE", "scope"),
                ],
            )
            .await
        }
        GrantsCommand::Create {
            client_id,
            audience,
            scopes,
            body,
        } => {
            let mut m = body.base()?;
            set(&mut m, "client_id", client_id);
            if let Some(a) = audience {
                m.insert(
                    "audience".into(),
                    json!(api_identifier(&mut api, &a).await?),
                );
            }
            if !scopes.is_empty() || !m.contains_key("scope") {
                m.insert("scope".into(), json!(scopes));
            }
            show(
                &api.post(&["client-grants"], Value::Object(m)).await?,
                body.json_output(),
            );
            Ok(())
        }
        GrantsCommand::Update { id, scopes, body } => {
            let mut m = body.base()?;
            if !scopes.is_empty() || !m.contains_key("scope") {
                m.insert("scope".into(), json!(scopes));
            }
            show(
                &api.patch(&["client-grants", &id], Value::Object(m)).await?,
                body.json_output(),
            );
            Ok(())
        }
        GrantsCommand::Delete { id } => {
            api.delete(&["client-grants", &id], None).await?;
            println!("Deleted the client grant {id}.");
            Ok(())
        }
    }
}
