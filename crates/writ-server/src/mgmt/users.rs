//! `/api/v2/users` and `/api/v2/users-by-email`: users of the built-in database connection,
//! their roles and direct permissions.

use writ_service::users::{self, UserInput};

use super::prelude::*;
use super::types::{
    EmailQuery, EmptyObject, PermissionsRequest, RoleList, UserList, UserRequest, UserRolesRequest,
    UserSearch,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(roles, assign_roles, remove_roles))
        .routes(routes!(permissions, add_permissions, remove_permissions))
        .routes(routes!(by_email))
}

/// Users as the Management API shows them (see [`users::shown`]).
async fn shown(c: &Caller, list: Vec<writ_core::User>) -> Result<Vec<writ_core::User>, ApiError> {
    let mut out = Vec::with_capacity(list.len());
    for u in list {
        out.push(users::shown(c, u).await?);
    }
    Ok(out)
}

impl From<UserRequest> for UserInput {
    fn from(b: UserRequest) -> Self {
        UserInput {
            connection: b.connection,
            email: b.email,
            password: b.password,
            name: b.name,
            email_verified: b.email_verified,
            blocked: b.blocked,
            app_metadata: b.app_metadata,
            user_metadata: b.user_metadata,
        }
    }
}

#[utoipa::path(
    get,
    path = "/users",
    operation_id = "get_users",
    tag = "users",
    summary = "List or search users",
    params(Paging, UserSearch),
    responses(
        (status = 200, description = "The users, oldest first.", body = types::UserList),
        schemas::QueryDenied,
    ),
    security(("bearer" = ["read:users"]))
)]
async fn list(
    c: Caller,
    paging: Paging,
    Params(search): Params<UserSearch>,
) -> Result<Response, ApiError> {
    let mut page = c
        .store
        .list_users(
            search.q.as_deref().filter(|v| !v.is_empty()),
            paging.page()?,
        )
        .await?;
    page.items = shown(&c, page.items).await?;
    paging.answer::<UserList, _, _>(page)
}

#[utoipa::path(
    post,
    path = "/users",
    operation_id = "post_users",
    tag = "users",
    summary = "Create a user",
    request_body(content = UserRequest, description = "`connection`, `email` and `password` are required."),
    responses(
        (status = 201, description = "The new user.", body = types::User),
        (status = 400, description = "Invalid body: missing or unknown connection, invalid email, weak password, or metadata over 16 KiB.", body = types::Error),
        schemas::Denied,
        (status = 409, description = "A user with this email already exists.", body = types::Error),
    ),
    security(("bearer" = ["create:users"]))
)]
async fn create(c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    let b: UserRequest = c.body(&bytes).await?;
    let _ = b.verify_email;
    let user = users::create(&c, &c.actor(), b.into()).await?;
    Ok(created(types::User::from(&user)))
}

#[utoipa::path(
    get,
    path = "/users/{id}",
    operation_id = "get_users_by_id",
    tag = "users",
    summary = "Get a user",
    description = "With Auth0 Authorization Extension compatibility on (`WRIT_AUTHORIZATION_EXTENSION=true`), `app_metadata.authorization` is `{groups, roles, permissions}` computed now from Writ's RBAC (here, in the list and by email), and cannot be set.",
    params(UserId),
    responses(
        (status = 200, description = "The user.", body = types::User),
        schemas::Denied<UserId>,
    ),
    security(("bearer" = ["read:users"]))
)]
async fn read(c: Caller, Path(UserId(id)): Path<UserId>) -> Result<Response, ApiError> {
    let user = users::shown(&c, c.store.get_user(&id).await?).await?;
    Ok(ok(types::User::from(&user)))
}

#[utoipa::path(
    get,
    path = "/users-by-email",
    operation_id = "get_users_by_email",
    tag = "users",
    summary = "Find users by email",
    params(EmailQuery),
    responses(
        (status = 200, description = "The users with this email (zero or one).", body = Vec<types::User>),
        (status = 400, description = "Missing `email` or invalid query string.", body = types::Error),
        schemas::Denied,
    ),
    security(("bearer" = ["read:users"]))
)]
async fn by_email(c: Caller, Params(q): Params<EmailQuery>) -> Result<Response, ApiError> {
    let email = q.email.ok_or_else(|| {
        ApiError::invalid_query("Query validation error: 'Missing required property: email'.")
    })?;
    let users = shown(&c, c.store.users_by_email(&email).await?).await?;
    Ok(ok(users.iter().map(types::User::from).collect::<Vec<_>>()))
}

#[utoipa::path(
    patch,
    path = "/users/{id}",
    operation_id = "patch_users_by_id",
    tag = "users",
    summary = "Update a user",
    description = "`app_metadata` and `user_metadata` are merged at the first level: a `null` value removes its key and an empty object clears all keys.",
    params(UserId),
    request_body(content = UserRequest, description = "Properties to change."),
    responses(
        (status = 200, description = "The updated user.", body = types::User),
        schemas::BodyDenied<UserId>,
        (status = 409, description = "Another user has this email.", body = types::Error),
    ),
    security(("bearer" = ["update:users"]))
)]
async fn update(
    c: Caller,
    Path(UserId(id)): Path<UserId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: UserRequest = c.body(&bytes).await?;
    let u = users::update(&c, &c.actor(), &id, b.into()).await?;
    Ok(ok(types::User::from(&users::shown(&c, u).await?)))
}

#[utoipa::path(
    delete,
    path = "/users/{id}",
    operation_id = "delete_users_by_id",
    tag = "users",
    summary = "Delete a user",
    params(UserId),
    responses(
        (status = 204, description = "Deleted."),
        schemas::Denied<UserId>,
    ),
    security(("bearer" = ["delete:users"]))
)]
async fn remove(c: Caller, Path(UserId(id)): Path<UserId>) -> Result<Response, ApiError> {
    users::delete(&c, &c.actor(), &id).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/users/{id}/roles",
    operation_id = "get_user_roles",
    tag = "users",
    summary = "List a user's roles",
    description = "Requires both `read:users` and `read:roles`.",
    params(UserId, Paging),
    responses(
        (status = 200, description = "The roles.", body = types::RoleList),
        schemas::QueryDenied<UserId>,
    ),
    security(("bearer" = ["read:users", "read:roles"]))
)]
async fn roles(
    c: Caller,
    Path(UserId(id)): Path<UserId>,
    paging: Paging,
) -> Result<Response, ApiError> {
    let page = c.store.user_roles(&id, paging.page()?).await?;
    paging.answer::<RoleList, _, _>(page)
}

#[utoipa::path(
    post,
    path = "/users/{id}/roles",
    operation_id = "post_user_roles",
    tag = "users",
    summary = "Assign roles to a user",
    params(UserId),
    request_body(content = UserRolesRequest),
    responses(
        (status = 204, description = "Assigned (roles the user already holds are kept)."),
        (status = 400, description = "Invalid body, a role that does not exist, or over the roles-per-user limit.", body = types::Error),
        schemas::Denied<UserId>,
    ),
    security(("bearer" = ["update:users"]))
)]
async fn assign_roles(
    c: Caller,
    Path(UserId(id)): Path<UserId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let roles: UserRolesRequest = c.body(&bytes).await?;
    users::assign_roles(&c, &c.actor(), &id, &roles.roles).await?;
    Ok(no_content())
}

#[utoipa::path(
    delete,
    path = "/users/{id}/roles",
    operation_id = "delete_user_roles",
    tag = "users",
    summary = "Remove roles from a user",
    params(UserId),
    request_body(content = UserRolesRequest),
    responses(
        (status = 204, description = "Removed (roles the user does not hold are ignored)."),
        schemas::BodyDenied<UserId>,
    ),
    security(("bearer" = ["update:users"]))
)]
async fn remove_roles(
    c: Caller,
    Path(UserId(id)): Path<UserId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let roles: UserRolesRequest = c.body(&bytes).await?;
    users::remove_roles(&c, &c.actor(), &id, &roles.roles).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/users/{id}/permissions",
    operation_id = "get_permissions",
    tag = "users",
    summary = "List a user's permissions",
    params(UserId, Paging),
    responses(
        (status = 200, description = "Every permission the user holds, as Auth0 lists them: granted directly (source `DIRECT`) or through a role (`ROLE`, with the role's id and name), including the roles of the user's groups and their ancestors (with `group_path`). Sorted by API identifier, then name. Only direct grants can be removed with `DELETE`.", body = types::UserPermissionList),
        schemas::QueryDenied<UserId>,
    ),
    security(("bearer" = ["read:users"]))
)]
async fn permissions(
    c: Caller,
    Path(UserId(id)): Path<UserId>,
    paging: Paging,
) -> Result<Response, ApiError> {
    let page = paging.page()?;
    users::get(&c, &id).await?;
    let all: Vec<types::UserPermission> = users::effective_permissions(&c, &id)
        .await?
        .into_iter()
        .flat_map(|api| {
            let (identifier, name) = (api.identifier, api.name);
            api.permissions
                .into_iter()
                .map(move |p| types::UserPermission {
                    permission_name: p.name,
                    description: p.description,
                    resource_server_name: name.clone(),
                    resource_server_identifier: identifier.clone(),
                    sources: p.sources.iter().map(Into::into).collect(),
                })
        })
        .collect();
    let total = all.len() as i64;
    let items = all
        .into_iter()
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(page.per_page as usize)
        .collect();
    Ok(ok(
        paging.respond::<_, types::UserPermissionList>(items, total)?
    ))
}

#[utoipa::path(
    post,
    path = "/users/{id}/permissions",
    operation_id = "post_permissions",
    tag = "users",
    summary = "Add permissions to a user",
    params(UserId),
    request_body(content = types::PermissionsRequest),
    responses(
        (status = 201, description = "Added (permissions the user already has are kept).", body = types::EmptyObject),
        (status = 400, description = "Invalid body, a permission the API does not define, or over the permissions-per-user limit.", body = types::Error),
        schemas::Denied<UserId>,
    ),
    security(("bearer" = ["update:users"]))
)]
async fn add_permissions(
    c: Caller,
    Path(UserId(id)): Path<UserId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let perms: PermissionsRequest = c.body(&bytes).await?;
    users::add_permissions(&c, &c.actor(), &id, &perms.into_permissions()).await?;
    Ok(created(EmptyObject {}))
}

#[utoipa::path(
    delete,
    path = "/users/{id}/permissions",
    operation_id = "delete_permissions",
    tag = "users",
    summary = "Remove permissions from a user",
    params(UserId),
    request_body(content = types::PermissionsRequest),
    responses(
        (status = 204, description = "Removed (permissions the user does not have are ignored)."),
        (status = 400, description = "Invalid body, or a permission the API does not define.", body = types::Error),
        schemas::Denied<UserId>,
    ),
    security(("bearer" = ["update:users"]))
)]
async fn remove_permissions(
    c: Caller,
    Path(UserId(id)): Path<UserId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let perms: PermissionsRequest = c.body(&bytes).await?;
    users::remove_permissions(&c, &c.actor(), &id, &perms.into_permissions()).await?;
    Ok(no_content())
}
