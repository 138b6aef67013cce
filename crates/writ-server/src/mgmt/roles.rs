//! `/api/v2/roles`: roles, their permissions and their users.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use writ_service::roles::{self, RoleInput};

use super::types::{
    self, EmptyObject, PermissionList, PermissionsRequest, Role, RoleFilter, RoleList, RoleRequest,
    RoleUserList, RoleUsersRequest,
};
use super::{Caller, Paging, created, no_content, ok, query, schemas};
use crate::error::ApiError;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(permissions, add_permissions, remove_permissions))
        .routes(routes!(users, assign_users))
}

impl From<RoleRequest> for RoleInput {
    fn from(b: RoleRequest) -> Self {
        RoleInput {
            name: b.name,
            description: b.description,
        }
    }
}

#[utoipa::path(
    get,
    path = "/roles",
    operation_id = "get_roles",
    tag = "roles",
    summary = "List roles",
    params(
        Paging,
        RoleFilter,
    ),
    responses(
        (status = 200, description = "The roles, sorted by name.", body = types::RoleList),
        schemas::QueryDenied,
    ),
    security(("bearer" = ["read:roles"]))
)]
async fn list(
    State(s): State<AppState>,
    c: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("read:roles").await?;
    let paging: Paging = query(q.clone())?;
    let filter: RoleFilter = query(q)?;
    let page = s
        .store
        .list_roles(filter.name_filter.as_deref(), paging.page()?)
        .await?;
    paging.answer::<RoleList, _, _>(page)
}

#[utoipa::path(
    post,
    path = "/roles",
    operation_id = "post_roles",
    tag = "roles",
    summary = "Create a role",
    request_body(content = RoleRequest, description = "`name` is required."),
    responses(
        (status = 201, description = "The new role.", body = types::Role),
        schemas::BodyDenied,
        (status = 409, description = "A role with this name already exists.", body = types::Error),
    ),
    security(("bearer" = ["create:roles"]))
)]
async fn create(State(s): State<AppState>, c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("create:roles").await?;
    let b: RoleRequest = c.body(&bytes).await?;
    let role = roles::create(&s, &c.actor(), b.into()).await?;
    Ok(created(Role::from(&role)))
}

#[utoipa::path(
    get,
    path = "/roles/{id}",
    operation_id = "get_roles_by_id",
    tag = "roles",
    summary = "Get a role",
    params(
        ("id" = String, Path, description = "The role's id."),
    ),
    responses(
        (status = 200, description = "The role.", body = types::Role),
        schemas::Denied,
        (status = 404, description = "No such role.", body = types::Error),
    ),
    security(("bearer" = ["read:roles"]))
)]
async fn read(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("read:roles").await?;
    Ok(ok(Role::from(&s.store.get_role(&id).await?)))
}

#[utoipa::path(
    patch,
    path = "/roles/{id}",
    operation_id = "patch_roles_by_id",
    tag = "roles",
    summary = "Update a role",
    params(
        ("id" = String, Path, description = "The role's id."),
    ),
    request_body(content = RoleRequest, description = "Properties to change."),
    responses(
        (status = 200, description = "The updated role.", body = types::Role),
        schemas::BodyDenied,
        (status = 404, description = "No such role.", body = types::Error),
        (status = 409, description = "A role with this name already exists.", body = types::Error),
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
    let b: RoleRequest = c.body(&bytes).await?;
    let role = roles::update(&s, &c.actor(), &id, b.into()).await?;
    Ok(ok(Role::from(&role)))
}

#[utoipa::path(
    delete,
    path = "/roles/{id}",
    operation_id = "delete_roles_by_id",
    tag = "roles",
    summary = "Delete a role",
    params(
        ("id" = String, Path, description = "The role's id."),
    ),
    responses(
        (status = 204, description = "Deleted; its users lose its permissions."),
        schemas::Denied,
        (status = 404, description = "No such role.", body = types::Error),
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
    path = "/roles/{id}/permissions",
    operation_id = "get_role_permission",
    tag = "roles",
    summary = "List a role's permissions",
    params(
        ("id" = String, Path, description = "The role's id."),
        Paging,
    ),
    responses(
        (status = 200, description = "The permissions, sorted by API identifier and name.", body = types::PermissionList),
        schemas::QueryDenied,
        (status = 404, description = "No such role.", body = types::Error),
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
    let paging: Paging = query(q)?;
    let page = s.store.role_permissions(&id, paging.page()?).await?;
    paging.answer::<PermissionList, _, _>(page)
}

#[utoipa::path(
    post,
    path = "/roles/{id}/permissions",
    operation_id = "post_role_permission_assignment",
    tag = "roles",
    summary = "Add permissions to a role",
    params(
        ("id" = String, Path, description = "The role's id."),
    ),
    request_body(content = types::PermissionsRequest),
    responses(
        (status = 201, description = "Added (permissions the role already has are kept).", body = types::EmptyObject),
        (status = 400, description = "Invalid body, a permission the API does not define, or over the permissions-per-role limit.", body = types::Error),
        schemas::Denied,
        (status = 404, description = "No such role.", body = types::Error),
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
    let perms = c
        .body::<PermissionsRequest>(&bytes)
        .await?
        .into_permissions();
    roles::add_permissions(&s, &c.actor(), &id, &perms).await?;
    Ok(created(EmptyObject {}))
}

#[utoipa::path(
    delete,
    path = "/roles/{id}/permissions",
    operation_id = "delete_role_permission_assignment",
    tag = "roles",
    summary = "Remove permissions from a role",
    params(
        ("id" = String, Path, description = "The role's id."),
    ),
    request_body(content = types::PermissionsRequest),
    responses(
        (status = 204, description = "Removed (permissions the role does not have are ignored)."),
        (status = 400, description = "Invalid body, or a permission the API does not define.", body = types::Error),
        schemas::Denied,
        (status = 404, description = "No such role.", body = types::Error),
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
    let perms = c
        .body::<PermissionsRequest>(&bytes)
        .await?
        .into_permissions();
    roles::remove_permissions(&s, &c.actor(), &id, &perms).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/roles/{id}/users",
    operation_id = "get_role_user",
    tag = "roles",
    summary = "List the users holding a role",
    description = "Requires both `read:roles` and `read:users`.",
    params(
        ("id" = String, Path, description = "The role's id."),
        Paging,
    ),
    responses(
        (status = 200, description = "The users, sorted by id.", body = types::RoleUserList),
        schemas::QueryDenied,
        (status = 404, description = "No such role.", body = types::Error),
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
    let paging: Paging = query(q)?;
    let page = s.store.role_users(&id, paging.page()?).await?;
    paging.answer::<RoleUserList, _, _>(page)
}

#[utoipa::path(
    post,
    path = "/roles/{id}/users",
    operation_id = "post_role_users",
    tag = "roles",
    summary = "Assign a role to users",
    params(
        ("id" = String, Path, description = "The role's id."),
    ),
    request_body(content = RoleUsersRequest),
    responses(
        (status = 201, description = "Assigned (users who already hold the role are kept).", body = types::EmptyObject),
        (status = 400, description = "Invalid body, a user that does not exist, or a user over the roles-per-user limit.", body = types::Error),
        schemas::Denied,
        (status = 404, description = "No such role.", body = types::Error),
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
    let b: RoleUsersRequest = c.body(&bytes).await?;
    roles::assign_users(&s, &c.actor(), &id, &b.users).await?;
    Ok(created(EmptyObject {}))
}
