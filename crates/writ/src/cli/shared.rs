//! What the resource commands (`apis.rs`, `roles.rs`, `users.rs`, `clients.rs`, `grants.rs`)
//! share: the `--page`/`--per-page` and `--json [BODY|@FILE]` arguments, building request
//! bodies from flags, printing one object or one page of a list, and turning the names people
//! type into ids: a role by its name, a user by their email, an API by its id or identifier.

use clap::Args;
use serde::Serialize;
use serde_json::{Map, Value, json};

use writ_server::mgmt::types::{
    List, PermissionRef, PermissionsRequest, ResourceServer, Role, RoleList, User,
};

use reqwest::Method;

use super::api::{Api, Body};
use super::{CliError, output};

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

/// The arguments of every list command: paging and `--json`.
#[derive(Args)]
pub struct ListArgs {
    #[command(flatten)]
    paging: Paging,
    /// Print the server's JSON.
    #[arg(long)]
    pub json: bool,
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
    pub fn json_output(&self) -> bool {
        self.json.is_some()
    }

    /// The body given with `--json`, or an empty object.
    pub fn request_body(&self) -> Result<Map<String, Value>, CliError> {
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
            Ok(Value::Object(body)) => Ok(body),
            Ok(_) => Err(CliError::Usage("--json must be a JSON object".into())),
            Err(e) => Err(CliError::Usage(format!("--json is not valid JSON: {e}"))),
        }
    }
}

/// The value name of the `--flag [BOOL]` options (a bare flag means `true`).
pub const BOOL_VALUE_NAME: &str = "BOOL";

/// Sets `key` in a request body when the flag was given.
pub fn set_if_given<T: Serialize>(body: &mut Map<String, Value>, key: &str, value: Option<T>) {
    if let Some(value) = value {
        body.insert(key.into(), json!(value));
    }
}

/// Sets `key` in a request body when the repeated flag was given at least once.
pub fn set_list_if_given(body: &mut Map<String, Value>, key: &str, values: Vec<String>) {
    if !values.is_empty() {
        body.insert(key.into(), json!(values));
    }
}

/// Prints one object: a property table, or the server's JSON.
pub fn show(value: &Value, json: bool) {
    if json {
        output::json(value);
    } else {
        output::record(value);
    }
}

/// What a list's page holds (its key in the server's answer) and the columns of its table.
pub struct Listing {
    pub key: &'static str,
    pub columns: &'static [(&'static str, &'static str)],
}

/// Lists one page: the server's JSON as is with `--json`, else a table and a footer.
pub async fn list(
    api: &mut Api,
    segments: &[&str],
    mut query: Vec<(&'static str, String)>,
    args: &ListArgs,
    listing: &Listing,
) -> Result<(), CliError> {
    let Listing { key, columns } = listing;
    if let Some(p) = args.paging.page {
        query.push(("page", p.to_string()));
    }
    if let Some(p) = args.paging.per_page {
        query.push(("per_page", p.to_string()));
    }
    if args.json {
        output::json(&api.get(segments, &query).await?);
        return Ok(());
    }
    query.push(("include_totals", "true".into()));
    let page = api.get(segments, &query).await?;
    match &page {
        Value::Array(items) => output::table(columns, items),
        _ => {
            let items = page[*key].as_array().cloned().unwrap_or_default();
            output::table(columns, &items);
            output::footer(&page, key);
        }
    }
    Ok(())
}

/// `get`: prints the object at `segments`.
pub async fn get(api: &mut Api, segments: &[&str], json: bool) -> Result<(), CliError> {
    show(&api.get(segments, &[]).await?, json);
    Ok(())
}

/// The properties a create or update command takes as flags.
pub trait Fields {
    /// Sets the flags that were given in a request body (over what `--json` gave).
    fn apply(self, body: &mut Map<String, Value>) -> Result<(), CliError>;
}

/// `create` (`POST` to the collection) or, given an id, `update` (`PATCH` of that object): the
/// body of `--json` with the flags on top; prints what the server answers.
pub async fn save(
    api: &mut Api,
    collection: &str,
    id: Option<&str>,
    fields: impl Fields,
    body: &BodyArg,
) -> Result<(), CliError> {
    let mut request = body.request_body()?;
    fields.apply(&mut request)?;
    match id {
        None => send(api, Method::POST, &[collection], request, body).await,
        Some(id) => send(api, Method::PATCH, &[collection, id], request, body).await,
    }
}

/// Sends a request body built from `body` and prints what the server answers.
pub async fn send(
    api: &mut Api,
    method: Method,
    segments: &[&str],
    request: Map<String, Value>,
    body: &BodyArg,
) -> Result<(), CliError> {
    let answer = api
        .call(method, segments, &[], Body::Json(Value::Object(request)))
        .await?;
    show(&answer, body.json_output());
    Ok(())
}

/// `delete`: deletes the object at `segments` and says so (`what`: `the role admin`).
pub async fn delete(api: &mut Api, segments: &[&str], what: &str) -> Result<(), CliError> {
    api.delete(segments, None).await?;
    println!("Deleted {what}.");
    Ok(())
}

/// Whether a command adds to a relation (`POST`) or removes from it (`DELETE` with a body).
#[derive(Clone, Copy)]
pub enum Change {
    Add,
    Remove,
}

impl Change {
    pub async fn send(self, api: &mut Api, segments: &[&str], body: Value) -> Result<(), CliError> {
        match self {
            Change::Add => api.post(segments, body).await?,
            Change::Remove => api.delete(segments, Some(body)).await?,
        };
        Ok(())
    }
}

/// Gives or takes permissions of one API (a role's, a user's direct ones).
pub async fn change_permissions(
    api: &mut Api,
    segments: &[&str],
    api_id: &str,
    permissions: &[String],
    change: Change,
) -> Result<(), CliError> {
    let body = permissions_body(api, api_id, permissions).await?;
    change.send(api, segments, body).await
}

/// `1 role`, `2 roles`.
pub fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// A permission list (a role's, a user's).
pub const PERMISSIONS: Listing = Listing {
    key: "permissions",
    columns: &[
        ("API", "resource_server_identifier"),
        ("PERMISSION", "permission_name"),
        ("DESCRIPTION", "description"),
    ],
};

/// A user's permissions, each with how many sources it has (`--json` shows them).
pub const USER_PERMISSIONS: Listing = Listing {
    key: "permissions",
    columns: &[
        ("API", "resource_server_identifier"),
        ("PERMISSION", "permission_name"),
        ("DESCRIPTION", "description"),
        ("SOURCES", "sources#"),
    ],
};

/// A role list (all roles, a user's).
pub const ROLES: Listing = Listing {
    key: "roles",
    columns: &[
        ("ID", "id"),
        ("NAME", "name"),
        ("DESCRIPTION", "description"),
    ],
};

/// An API's identifier (the audience permissions name), from its id or identifier.
pub async fn api_identifier(api: &mut Api, id: &str) -> Result<String, CliError> {
    let resource_server: ResourceServer = api.get_as(&["resource-servers", id], &[]).await?;
    Ok(resource_server.identifier)
}

/// A role id, from an id (`rol_…`) or an exact name.
pub async fn role_id(api: &mut Api, role: &str) -> Result<String, CliError> {
    if role.starts_with("rol_") {
        return Ok(role.to_owned());
    }
    let roles: RoleList = api
        .get_as(
            &["roles"],
            &[("name_filter", role.to_owned()), ("per_page", "100".into())],
        )
        .await?;
    let found: Vec<Role> = roles
        .into_items()
        .into_iter()
        .filter(|r| r.name == role)
        .collect();
    match &found[..] {
        [r] => Ok(r.id.clone()),
        [] => Err(CliError::Failed(format!("no role is named {role:?}"))),
        _ => Err(CliError::Failed(format!(
            "several roles are named {role:?}: give the role id"
        ))),
    }
}

/// The ids of what people typed, each found by `id` ([`role_id`], [`user_id`]).
pub async fn ids(
    api: &mut Api,
    names: &[String],
    id: impl AsyncFn(&mut Api, &str) -> Result<String, CliError>,
) -> Result<Vec<String>, CliError> {
    let mut ids = vec![];
    for name in names {
        ids.push(id(api, name).await?);
    }
    Ok(ids)
}

/// A user id, from an id or an email.
pub async fn user_id(api: &mut Api, user: &str) -> Result<String, CliError> {
    if !user.contains('@') {
        return Ok(user.to_owned());
    }
    let users: Vec<User> = api
        .get_as(&["users-by-email"], &[("email", user.to_owned())])
        .await?;
    users
        .into_iter()
        .next()
        .map(|u| u.user_id)
        .ok_or_else(|| CliError::Failed(format!("no user has the email {user}")))
}

/// Auth0's permissions body for one API.
pub async fn permissions_body(
    api: &mut Api,
    api_id: &str,
    permissions: &[String],
) -> Result<Value, CliError> {
    let identifier = api_identifier(api, api_id).await?;
    let body = PermissionsRequest {
        permissions: permissions
            .iter()
            .map(|p| PermissionRef {
                resource_server_identifier: identifier.clone(),
                permission_name: p.clone(),
            })
            .collect(),
    };
    Ok(json!(body))
}
