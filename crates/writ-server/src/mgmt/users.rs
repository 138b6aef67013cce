//! `/api/v2/users` and `/api/v2/users-by-email`: users of the built-in database connection,
//! their roles and direct permissions.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use writ_core::{DEFAULT_CONNECTION, User, metadata, validate};
use writ_store::NewUser;

use super::roles::role_json;
use super::{Caller, ListQuery, PermissionsBody, body, created, no_content, ok, permission_json, query};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/{id}", get(read).patch(update).delete(remove))
        .route("/users/{id}/roles", get(roles).post(assign_roles).delete(remove_roles))
        .route("/users/{id}/permissions", get(permissions).post(add_permissions).delete(remove_permissions))
        .route("/users-by-email", get(by_email))
}

pub fn user_json(u: &User) -> Value {
    json!({
        "user_id": u.user_id,
        "email": u.email,
        "email_verified": u.email_verified,
        "name": u.name.clone().unwrap_or_else(|| u.email.clone()),
        "nickname": u.email.split('@').next().unwrap_or_default(),
        "blocked": u.blocked,
        "app_metadata": u.app_metadata,
        "user_metadata": u.user_metadata,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
        "identities": [{
            "connection": DEFAULT_CONNECTION,
            "provider": "auth0",
            "user_id": u.user_id,
            "isSocial": false,
        }],
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    email: Option<String>,
    password: Option<String>,
    connection: Option<String>,
    name: Option<String>,
    blocked: Option<bool>,
    email_verified: Option<bool>,
    verify_email: Option<bool>,
    app_metadata: Option<Map<String, Value>>,
    user_metadata: Option<Map<String, Value>>,
}

fn check_connection(c: &Option<String>, required: bool) -> Result<(), ApiError> {
    match c {
        None if required => Err(ApiError::bad_request("Payload validation error: 'Missing required property: connection'.")),
        Some(c) if c != DEFAULT_CONNECTION => Err(ApiError::bad_request(format!(
            "The connection does not exist: '{c}' (the built-in connection is '{DEFAULT_CONNECTION}')."
        ))),
        _ => Ok(()),
    }
}

fn check_metadata(field: &str, m: &Option<Map<String, Value>>) -> Result<(), ApiError> {
    if let Some(m) = m
        && serde_json::to_vec(m).map_or(0, |v| v.len()) > 16 * 1024
    {
        return Err(ApiError::bad_request(format!("Payload validation error: '{field} must be at most 16 KiB' on property {field}.")));
    }
    Ok(())
}

async fn list(State(s): State<AppState>, c: Caller, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    c.require("read:users")?;
    let q: ListQuery = query(q)?;
    let page = s.store.list_users(q.q.as_deref().filter(|v| !v.is_empty()), q.paging().page()?).await?;
    q.paging().respond("users", page.items.iter().map(user_json).collect(), page.total)
}

async fn create(State(s): State<AppState>, c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("create:users")?;
    let b: Body = body(&bytes)?;
    check_connection(&b.connection, true)?;
    let email = b.email.ok_or_else(|| ApiError::bad_request("Payload validation error: 'Missing required property: email'."))?;
    let email = validate::email("email", &email)?;
    let password = b.password.ok_or_else(|| ApiError::bad_request("Payload validation error: 'Missing required property: password'."))?;
    validate::password("password", &password)?;
    check_metadata("app_metadata", &b.app_metadata)?;
    check_metadata("user_metadata", &b.user_metadata)?;
    let name = b.name.map(|n| validate::name("name", &n, 300)).transpose()?;
    let _ = b.verify_email;
    let hash = s.hasher.hash(&password).await.map_err(ApiError::internal)?;
    let user = s
        .store
        .create_user(NewUser {
            email,
            password_hash: Some(hash),
            name,
            email_verified: b.email_verified.unwrap_or(false),
            blocked: b.blocked.unwrap_or(false),
            app_metadata: b.app_metadata.unwrap_or_default(),
            user_metadata: b.user_metadata.unwrap_or_default(),
        })
        .await?;
    Ok(created(user_json(&user)))
}

async fn read(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    c.require("read:users")?;
    Ok(ok(user_json(&s.store.get_user(&id).await?)))
}

async fn by_email(State(s): State<AppState>, c: Caller, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    c.require("read:users")?;
    let q: ListQuery = query(q)?;
    let email = q.email.ok_or_else(|| ApiError::invalid_query("Query validation error: 'Missing required property: email'."))?;
    let users = s.store.users_by_email(&email).await?;
    Ok(ok(Value::Array(users.iter().map(user_json).collect())))
}

async fn update(State(s): State<AppState>, c: Caller, Path(id): Path<String>, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("update:users")?;
    let b: Body = body(&bytes)?;
    check_connection(&b.connection, false)?;
    check_metadata("app_metadata", &b.app_metadata)?;
    check_metadata("user_metadata", &b.user_metadata)?;
    let mut u = s.store.get_user(&id).await?;
    if let Some(e) = b.email {
        u.email = validate::email("email", &e)?;
    }
    if let Some(n) = b.name {
        u.name = Some(validate::name("name", &n, 300)?);
    }
    if let Some(v) = b.blocked {
        u.blocked = v;
    }
    if let Some(v) = b.email_verified {
        u.email_verified = v;
    }
    if let Some(m) = &b.app_metadata {
        metadata::merge(&mut u.app_metadata, m);
    }
    if let Some(m) = &b.user_metadata {
        metadata::merge(&mut u.user_metadata, m);
    }
    let hash = match b.password {
        Some(p) => {
            validate::password("password", &p)?;
            Some(s.hasher.hash(&p).await.map_err(ApiError::internal)?)
        }
        None => None,
    };
    let u = s.store.update_user(&u, hash.as_deref()).await?;
    Ok(ok(user_json(&u)))
}

async fn remove(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    c.require("delete:users")?;
    s.store.delete_user(&id).await?;
    Ok(no_content())
}

async fn roles(State(s): State<AppState>, c: Caller, Path(id): Path<String>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    c.require("read:users")?;
    c.require("read:roles")?;
    let q: ListQuery = query(q)?;
    let page = s.store.user_roles(&id, q.paging().page()?).await?;
    q.paging().respond("roles", page.items.iter().map(role_json).collect(), page.total)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesBody {
    roles: Vec<String>,
}

fn roles_body(bytes: &Bytes) -> Result<Vec<String>, ApiError> {
    let b: RolesBody = body(bytes)?;
    if b.roles.is_empty() {
        return Err(ApiError::bad_request("Payload validation error: 'Array is too short (0), minimum 1' on property roles."));
    }
    Ok(b.roles)
}

async fn assign_roles(State(s): State<AppState>, c: Caller, Path(id): Path<String>, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("update:users")?;
    s.store.assign_user_roles(&id, &roles_body(&bytes)?).await?;
    Ok(no_content())
}

async fn remove_roles(State(s): State<AppState>, c: Caller, Path(id): Path<String>, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("update:users")?;
    s.store.remove_user_roles(&id, &roles_body(&bytes)?).await?;
    Ok(no_content())
}

async fn permissions(State(s): State<AppState>, c: Caller, Path(id): Path<String>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    c.require("read:users")?;
    let q: ListQuery = query(q)?;
    let page = s.store.user_permissions(&id, q.paging().page()?).await?;
    q.paging().respond("permissions", page.items.iter().map(permission_json).collect(), page.total)
}

async fn add_permissions(State(s): State<AppState>, c: Caller, Path(id): Path<String>, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("update:users")?;
    s.store.add_user_permissions(&id, &PermissionsBody::parse(&bytes)?).await?;
    Ok(created(json!({})))
}

async fn remove_permissions(State(s): State<AppState>, c: Caller, Path(id): Path<String>, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("update:users")?;
    s.store.remove_user_permissions(&id, &PermissionsBody::parse(&bytes)?).await?;
    Ok(no_content())
}
