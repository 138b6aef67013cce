//! `/api/v2/roles`: roles, their permissions and their users.

use writ_service::roles::{self, RoleInput};

use super::prelude::*;
use super::types::{
    EmptyObject, PermissionList, PermissionsRequest, Role, RoleFilter, RoleList, RoleRequest,
    RoleUserList, RoleUsersRequest,
};

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
    params(Paging, RoleFilter),
    responses(
        (status = 200, description = "The roles, sorted by name.", body = types::RoleList),
        schemas::QueryDenied,
    ),
    security(("bearer" = ["read:roles"]))
)]
async fn list(
    c: Caller,
    paging: Paging,
    Params(filter): Params<RoleFilter>,
) -> Result<Response, ApiError> {
    let page = c
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
async fn create(c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    let b: RoleRequest = c.body(&bytes).await?;
    let role = roles::create(&c, &c.actor(), b.into()).await?;
    Ok(created(Role::from(&role)))
}

#[utoipa::path(
    get,
    path = "/roles/{id}",
    operation_id = "get_roles_by_id",
    tag = "roles",
    summary = "Get a role",
    params(RoleId),
    responses(
        (status = 200, description = "The role.", body = types::Role),
        schemas::Denied<RoleId>,
    ),
    security(("bearer" = ["read:roles"]))
)]
async fn read(c: Caller, Path(RoleId(id)): Path<RoleId>) -> Result<Response, ApiError> {
    Ok(ok(Role::from(&c.store.get_role(&id).await?)))
}

#[utoipa::path(
    patch,
    path = "/roles/{id}",
    operation_id = "patch_roles_by_id",
    tag = "roles",
    summary = "Update a role",
    params(RoleId),
    request_body(content = RoleRequest, description = "Properties to change."),
    responses(
        (status = 200, description = "The updated role.", body = types::Role),
        schemas::BodyDenied<RoleId>,
        (status = 409, description = "A role with this name already exists.", body = types::Error),
    ),
    security(("bearer" = ["update:roles"]))
)]
async fn update(
    c: Caller,
    Path(RoleId(id)): Path<RoleId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: RoleRequest = c.body(&bytes).await?;
    let role = roles::update(&c, &c.actor(), &id, b.into()).await?;
    Ok(ok(Role::from(&role)))
}

#[utoipa::path(
    delete,
    path = "/roles/{id}",
    operation_id = "delete_roles_by_id",
    tag = "roles",
    summary = "Delete a role",
    params(RoleId),
    responses(
        (status = 204, description = "Deleted; its users lose its permissions."),
        schemas::Denied<RoleId>,
    ),
    security(("bearer" = ["delete:roles"]))
)]
async fn remove(c: Caller, Path(RoleId(id)): Path<RoleId>) -> Result<Response, ApiError> {
    roles::delete(&c, &c.actor(), &id).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/roles/{id}/permissions",
    operation_id = "get_role_permission",
    tag = "roles",
    summary = "List a role's permissions",
    params(RoleId, Paging),
    responses(
        (status = 200, description = "The permissions, sorted by API identifier and name.", body = types::PermissionList),
        schemas::QueryDenied<RoleId>,
    ),
    security(("bearer" = ["read:roles"]))
)]
async fn permissions(
    c: Caller,
    Path(RoleId(id)): Path<RoleId>,
    paging: Paging,
) -> Result<Response, ApiError> {
    let page = c.store.role_permissions(&id, paging.page()?).await?;
    paging.answer::<PermissionList, _, _>(page)
}

#[utoipa::path(
    post,
    path = "/roles/{id}/permissions",
    operation_id = "post_role_permission_assignment",
    tag = "roles",
    summary = "Add permissions to a role",
    params(RoleId),
    request_body(content = types::PermissionsRequest),
    responses(
        (status = 201, description = "Added (permissions the role already has are kept).", body = types::EmptyObject),
        (status = 400, description = "Invalid body, a permission the API does not define, or over the permissions-per-role limit.", body = types::Error),
        schemas::Denied<RoleId>,
    ),
    security(("bearer" = ["update:roles"]))
)]
async fn add_permissions(
    c: Caller,
    Path(RoleId(id)): Path<RoleId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let perms = c
        .body::<PermissionsRequest>(&bytes)
        .await?
        .into_permissions();
    roles::add_permissions(&c, &c.actor(), &id, &perms).await?;
    Ok(created(EmptyObject {}))
}

#[utoipa::path(
    delete,
    path = "/roles/{id}/permissions",
    operation_id = "delete_role_permission_assignment",
    tag = "roles",
    summary = "Remove permissions from a role",
    params(RoleId),
    request_body(content = types::PermissionsRequest),
    responses(
        (status = 204, description = "Removed (permissions the role does not have are ignored)."),
        (status = 400, description = "Invalid body, or a permission the API does not define.", body = types::Error),
        schemas::Denied<RoleId>,
    ),
    security(("bearer" = ["update:roles"]))
)]
async fn remove_permissions(
    c: Caller,
    Path(RoleId(id)): Path<RoleId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let perms = c
        .body::<PermissionsRequest>(&bytes)
        .await?
        .into_permissions();
    roles::remove_permissions(&c, &c.actor(), &id, &perms).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/roles/{id}/users",
    operation_id = "get_role_user",
    tag = "roles",
    summary = "List the users holding a role",
    description = "Requires both `read:roles` and `read:users`.",
    params(RoleId, Paging),
    responses(
        (status = 200, description = "The users, sorted by id.", body = types::RoleUserList),
        schemas::QueryDenied<RoleId>,
    ),
    security(("bearer" = ["read:roles", "read:users"]))
)]
async fn users(
    c: Caller,
    Path(RoleId(id)): Path<RoleId>,
    paging: Paging,
) -> Result<Response, ApiError> {
    let page = c.store.role_users(&id, paging.page()?).await?;
    paging.answer::<RoleUserList, _, _>(page)
}

#[utoipa::path(
    post,
    path = "/roles/{id}/users",
    operation_id = "post_role_users",
    tag = "roles",
    summary = "Assign a role to users",
    params(RoleId),
    request_body(content = RoleUsersRequest),
    responses(
        (status = 201, description = "Assigned (users who already hold the role are kept).", body = types::EmptyObject),
        (status = 400, description = "Invalid body, a user that does not exist, or a user over the roles-per-user limit.", body = types::Error),
        schemas::Denied<RoleId>,
    ),
    security(("bearer" = ["update:roles"]))
)]
async fn assign_users(
    c: Caller,
    Path(RoleId(id)): Path<RoleId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: RoleUsersRequest = c.body(&bytes).await?;
    roles::assign_users(&c, &c.actor(), &id, &b.users).await?;
    Ok(created(EmptyObject {}))
}
