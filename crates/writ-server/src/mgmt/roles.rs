//! `/api/v2/roles`: roles, their permissions and their users.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Value, json};
use writ_core::Role;
use writ_service::roles::{self, RoleInput};

use super::{
    Caller, ListQuery, PermissionsBody, created, no_content, ok, permission_json, query, schemas,
};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/roles", get(list).post(create))
        .route("/roles/{id}", get(read).patch(update).delete(remove))
        .route(
            "/roles/{id}/permissions",
            get(permissions)
                .post(add_permissions)
                .delete(remove_permissions),
        )
        .route("/roles/{id}/users", get(users).post(assign_users))
}

pub fn role_json(r: &Role) -> Value {
    json!({ "id": r.id, "name": r.name, "description": r.description })
}

/// A role to create, or the properties of one to change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RoleRequest)]
struct Body {
    /// Unique name, at most 50 characters. Required on create.
    name: Option<String>,
    /// At most 140 characters (default empty).
    #[schema(max_length = 140)]
    description: Option<String>,
}

impl From<Body> for RoleInput {
    fn from(b: Body) -> Self {
        RoleInput {
            name: b.name,
            description: b.description,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v2/roles",
    operation_id = "get_roles",
    tag = "roles",
    summary = "List roles",
    params(
        schemas::PagingParams,
        schemas::RoleFilter,
    ),
    responses(
        (status = 200, description = "The roles, sorted by name.", body = schemas::RoleList),
        (status = 400, description = schemas::E400_QUERY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
    ),
    security(("bearer" = ["read:roles"]))
)]
async fn list(
    State(s): State<AppState>,
    c: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("read:roles").await?;
    let q: ListQuery = query(q)?;
    let page = s
        .store
        .list_roles(q.name_filter.as_deref(), q.paging().page()?)
        .await?;
    q.paging().respond(
        "roles",
        page.items.iter().map(role_json).collect(),
        page.total,
    )
}

#[utoipa::path(
    post,
    path = "/api/v2/roles",
    operation_id = "post_roles",
    tag = "roles",
    summary = "Create a role",
    request_body(content = Body, description = "`name` is required."),
    responses(
        (status = 201, description = "The new role.", body = schemas::Role),
        (status = 400, description = schemas::E400_BODY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 409, description = "A role with this name already exists.", body = schemas::Error),
    ),
    security(("bearer" = ["create:roles"]))
)]
async fn create(State(s): State<AppState>, c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("create:roles").await?;
    let b: Body = c.body(&bytes).await?;
    let role = roles::create(&s, &c.actor(), b.into()).await?;
    Ok(created(role_json(&role)))
}

#[utoipa::path(
    get,
    path = "/api/v2/roles/{id}",
    operation_id = "get_roles_by_id",
    tag = "roles",
    summary = "Get a role",
    params(
        ("id" = String, Path, description = "The role's id."),
    ),
    responses(
        (status = 200, description = "The role.", body = schemas::Role),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such role.", body = schemas::Error),
    ),
    security(("bearer" = ["read:roles"]))
)]
async fn read(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("read:roles").await?;
    Ok(ok(role_json(&s.store.get_role(&id).await?)))
}

#[utoipa::path(
    patch,
    path = "/api/v2/roles/{id}",
    operation_id = "patch_roles_by_id",
    tag = "roles",
    summary = "Update a role",
    params(
        ("id" = String, Path, description = "The role's id."),
    ),
    request_body(content = Body, description = "Properties to change."),
    responses(
        (status = 200, description = "The updated role.", body = schemas::Role),
        (status = 400, description = schemas::E400_BODY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such role.", body = schemas::Error),
        (status = 409, description = "A role with this name already exists.", body = schemas::Error),
    ),
    security(("bearer" = ["update:roles"]))
)]
async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    c.require("update:roles").await?;
    let b: Body = c.body(&bytes).await?;
    let role = roles::update(&s, &c.actor(), &id, b.into()).await?;
    Ok(ok(role_json(&role)))
}

#[utoipa::path(
    delete,
    path = "/api/v2/roles/{id}",
    operation_id = "delete_roles_by_id",
    tag = "roles",
    summary = "Delete a role",
    params(
        ("id" = String, Path, description = "The role's id."),
    ),
    responses(
        (status = 204, description = "Deleted; its users lose its permissions."),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such role.", body = schemas::Error),
    ),
    security(("bearer" = ["delete:roles"]))
)]
async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("delete:roles").await?;
    roles::delete(&s, &c.actor(), &id).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/api/v2/roles/{id}/permissions",
    operation_id = "get_role_permission",
    tag = "roles",
    summary = "List a role's permissions",
    params(
        ("id" = String, Path, description = "The role's id."),
        schemas::PagingParams,
    ),
    responses(
        (status = 200, description = "The permissions, sorted by API identifier and name.", body = schemas::PermissionList),
        (status = 400, description = schemas::E400_QUERY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such role.", body = schemas::Error),
    ),
    security(("bearer" = ["read:roles"]))
)]
async fn permissions(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("read:roles").await?;
    let q: ListQuery = query(q)?;
    let page = s.store.role_permissions(&id, q.paging().page()?).await?;
    q.paging().respond(
        "permissions",
        page.items.iter().map(permission_json).collect(),
        page.total,
    )
}

#[utoipa::path(
    post,
    path = "/api/v2/roles/{id}/permissions",
    operation_id = "post_role_permission_assignment",
    tag = "roles",
    summary = "Add permissions to a role",
    params(
        ("id" = String, Path, description = "The role's id."),
    ),
    request_body(content = schemas::PermissionsRequest),
    responses(
        (status = 201, description = "Added (permissions the role already has are kept).", body = schemas::EmptyObject),
        (status = 400, description = "Invalid body, a permission the API does not define, or over the permissions-per-role limit.", body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such role.", body = schemas::Error),
    ),
    security(("bearer" = ["update:roles"]))
)]
async fn add_permissions(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    c.require("update:roles").await?;
    let perms = c.body::<PermissionsBody>(&bytes).await?.permissions;
    roles::add_permissions(&s, &c.actor(), &id, &perms).await?;
    Ok(created(json!({})))
}

#[utoipa::path(
    delete,
    path = "/api/v2/roles/{id}/permissions",
    operation_id = "delete_role_permission_assignment",
    tag = "roles",
    summary = "Remove permissions from a role",
    params(
        ("id" = String, Path, description = "The role's id."),
    ),
    request_body(content = schemas::PermissionsRequest),
    responses(
        (status = 204, description = "Removed (permissions the role does not have are ignored)."),
        (status = 400, description = "Invalid body, or a permission the API does not define.", body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such role.", body = schemas::Error),
    ),
    security(("bearer" = ["update:roles"]))
)]
async fn remove_permissions(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    c.require("update:roles").await?;
    let perms = c.body::<PermissionsBody>(&bytes).await?.permissions;
    roles::remove_permissions(&s, &c.actor(), &id, &perms).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/api/v2/roles/{id}/users",
    operation_id = "get_role_user",
    tag = "roles",
    summary = "List the users holding a role",
    description = "Requires both `read:roles` and `read:users`.",
    params(
        ("id" = String, Path, description = "The role's id."),
        schemas::PagingParams,
    ),
    responses(
        (status = 200, description = "The users, sorted by id.", body = schemas::RoleUserList),
        (status = 400, description = schemas::E400_QUERY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such role.", body = schemas::Error),
    ),
    security(("bearer" = ["read:roles", "read:users"]))
)]
async fn users(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("read:roles").await?;
    c.require("read:users").await?;
    let q: ListQuery = query(q)?;
    let page = s.store.role_users(&id, q.paging().page()?).await?;
    let items = page
        .items
        .iter()
        .map(|u| json!({"user_id": u.user_id, "email": u.email, "name": u.name}))
        .collect();
    q.paging().respond("users", items, page.total)
}

/// Users to assign a role to.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = RoleUsersRequest)]
struct UsersBody {
    /// User ids.
    #[schema(min_items = 1)]
    users: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/api/v2/roles/{id}/users",
    operation_id = "post_role_users",
    tag = "roles",
    summary = "Assign a role to users",
    params(
        ("id" = String, Path, description = "The role's id."),
    ),
    request_body(content = UsersBody),
    responses(
        (status = 201, description = "Assigned (users who already hold the role are kept).", body = schemas::EmptyObject),
        (status = 400, description = "Invalid body, a user that does not exist, or a user over the roles-per-user limit.", body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such role.", body = schemas::Error),
    ),
    security(("bearer" = ["update:roles"]))
)]
async fn assign_users(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    c.require("update:roles").await?;
    let b: UsersBody = c.body(&bytes).await?;
    roles::assign_users(&s, &c.actor(), &id, &b.users).await?;
    Ok(created(json!({})))
}
