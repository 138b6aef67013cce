//! `/api/v2/roles`: roles, their permissions and their users.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use writ_core::{Role, validate};

use super::{Caller, ListQuery, PermissionsBody, body, created, no_content, ok, permission_json, query};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/roles", get(list).post(create))
        .route("/roles/{id}", get(read).patch(update).delete(remove))
        .route("/roles/{id}/permissions", get(permissions).post(add_permissions).delete(remove_permissions))
        .route("/roles/{id}/users", get(users).post(assign_users))
}

pub fn role_json(r: &Role) -> Value {
    json!({ "id": r.id, "name": r.name, "description": r.description })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    name: Option<String>,
    description: Option<String>,
}

fn description(d: Option<String>) -> Result<Option<String>, ApiError> {
    match d {
        Some(d) if d.chars().count() > 140 => {
            Err(ApiError::bad_request("Payload validation error: 'String is too long (max 140)' on property description."))
        }
        d => Ok(d),
    }
}

async fn list(State(s): State<AppState>, c: Caller, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    c.require("read:roles")?;
    let q: ListQuery = query(q)?;
    let page = s.store.list_roles(q.name_filter.as_deref(), q.paging().page()?).await?;
    q.paging().respond("roles", page.items.iter().map(role_json).collect(), page.total)
}

async fn create(State(s): State<AppState>, c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("create:roles")?;
    let b: Body = body(&bytes)?;
    let name = b.name.ok_or_else(|| ApiError::bad_request("Payload validation error: 'Missing required property: name'."))?;
    let name = validate::name("name", &name, 50)?;
    let role = s.store.create_role(&name, &description(b.description)?.unwrap_or_default()).await?;
    Ok(created(role_json(&role)))
}

async fn read(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    c.require("read:roles")?;
    Ok(ok(role_json(&s.store.get_role(&id).await?)))
}

async fn update(State(s): State<AppState>, c: Caller, Path(id): Path<String>, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("update:roles")?;
    let b: Body = body(&bytes)?;
    let mut role = s.store.get_role(&id).await?;
    if let Some(n) = b.name {
        role.name = validate::name("name", &n, 50)?;
    }
    if let Some(d) = description(b.description)? {
        role.description = d;
    }
    s.store.update_role(&role).await?;
    Ok(ok(role_json(&role)))
}

async fn remove(State(s): State<AppState>, c: Caller, Path(id): Path<String>) -> Result<Response, ApiError> {
    c.require("delete:roles")?;
    s.store.delete_role(&id).await?;
    Ok(no_content())
}

async fn permissions(State(s): State<AppState>, c: Caller, Path(id): Path<String>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    c.require("read:roles")?;
    let q: ListQuery = query(q)?;
    let page = s.store.role_permissions(&id, q.paging().page()?).await?;
    q.paging().respond("permissions", page.items.iter().map(permission_json).collect(), page.total)
}

async fn add_permissions(State(s): State<AppState>, c: Caller, Path(id): Path<String>, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("update:roles")?;
    let perms = PermissionsBody::parse(&bytes)?;
    s.store.add_role_permissions(&id, &perms).await?;
    Ok(created(json!({})))
}

async fn remove_permissions(State(s): State<AppState>, c: Caller, Path(id): Path<String>, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("update:roles")?;
    let perms = PermissionsBody::parse(&bytes)?;
    s.store.remove_role_permissions(&id, &perms).await?;
    Ok(no_content())
}

async fn users(State(s): State<AppState>, c: Caller, Path(id): Path<String>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    c.require("read:roles")?;
    c.require("read:users")?;
    let q: ListQuery = query(q)?;
    let page = s.store.role_users(&id, q.paging().page()?).await?;
    let items = page.items.iter().map(|u| json!({"user_id": u.user_id, "email": u.email, "name": u.name})).collect();
    q.paging().respond("users", items, page.total)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UsersBody {
    users: Vec<String>,
}

async fn assign_users(State(s): State<AppState>, c: Caller, Path(id): Path<String>, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("update:roles")?;
    let b: UsersBody = body(&bytes)?;
    if b.users.is_empty() {
        return Err(ApiError::bad_request("Payload validation error: 'Array is too short (0), minimum 1' on property users."));
    }
    s.store.assign_role_users(&id, &b.users).await?;
    Ok(created(json!({})))
}
