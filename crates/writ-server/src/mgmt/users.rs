//! `/api/v2/users` and `/api/v2/users-by-email`: users of the built-in database connection,
//! their roles and direct permissions.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use writ_core::{DEFAULT_CONNECTION, User};
use writ_service::users::{self, UserInput};

use super::roles::role_json;
use super::{
    Caller, ListQuery, PermissionsBody, created, no_content, ok, permission_json, query, schemas,
};
use crate::error::ApiError;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/users", get(list).post(create))
        .route("/users/{id}", get(read).patch(update).delete(remove))
        .route(
            "/users/{id}/roles",
            get(roles).post(assign_roles).delete(remove_roles),
        )
        .route(
            "/users/{id}/permissions",
            get(permissions)
                .post(add_permissions)
                .delete(remove_permissions),
        )
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

/// A user to create, or the properties of one to change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UserRequest)]
struct Body {
    /// Unique email address (stored lowercased). Required on create.
    email: Option<String>,
    /// At least 8 characters, at most 1024 bytes. Required on create.
    password: Option<String>,
    /// Must be `Username-Password-Authentication` (the built-in connection). Required on create.
    connection: Option<String>,
    /// Display name, at most 300 characters.
    name: Option<String>,
    /// Blocked users cannot obtain tokens (default `false`).
    blocked: Option<bool>,
    /// Default `false`.
    email_verified: Option<bool>,
    /// Accepted for Auth0 compatibility and ignored (Writ sends no email).
    verify_email: Option<bool>,
    /// Data the user cannot change (at most 16 KiB as JSON).
    #[schema(value_type = Option<Object>)]
    app_metadata: Option<Map<String, Value>>,
    /// Data the user can change (at most 16 KiB as JSON).
    #[schema(value_type = Option<Object>)]
    user_metadata: Option<Map<String, Value>>,
}

impl From<Body> for UserInput {
    fn from(b: Body) -> Self {
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
    path = "/api/v2/users",
    operation_id = "get_users",
    tag = "users",
    summary = "List or search users",
    params(
        schemas::PagingParams,
        schemas::UserSearch,
    ),
    responses(
        (status = 200, description = "The users, oldest first.", body = schemas::UserList),
        (status = 400, description = schemas::E400_QUERY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
    ),
    security(("bearer" = ["read:users"]))
)]
async fn list(
    State(s): State<AppState>,
    c: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("read:users").await?;
    let q: ListQuery = query(q)?;
    let page = s
        .store
        .list_users(q.q.as_deref().filter(|v| !v.is_empty()), q.paging().page()?)
        .await?;
    q.paging().respond(
        "users",
        page.items.iter().map(user_json).collect(),
        page.total,
    )
}

#[utoipa::path(
    post,
    path = "/api/v2/users",
    operation_id = "post_users",
    tag = "users",
    summary = "Create a user",
    request_body(content = Body, description = "`connection`, `email` and `password` are required."),
    responses(
        (status = 201, description = "The new user.", body = schemas::User),
        (status = 400, description = "Invalid body: missing or unknown connection, invalid email, weak password, or metadata over 16 KiB.", body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 409, description = "A user with this email already exists.", body = schemas::Error),
    ),
    security(("bearer" = ["create:users"]))
)]
async fn create(State(s): State<AppState>, c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    c.require("create:users").await?;
    let b: Body = c.body(&bytes).await?;
    let _ = b.verify_email;
    let user = users::create(&s, &c.actor(), b.into()).await?;
    Ok(created(user_json(&user)))
}

#[utoipa::path(
    get,
    path = "/api/v2/users/{id}",
    operation_id = "get_users_by_id",
    tag = "users",
    summary = "Get a user",
    params(
        ("id" = String, Path, description = "The user's id."),
    ),
    responses(
        (status = 200, description = "The user.", body = schemas::User),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such user.", body = schemas::Error),
    ),
    security(("bearer" = ["read:users"]))
)]
async fn read(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("read:users").await?;
    Ok(ok(user_json(&s.store.get_user(&id).await?)))
}

#[utoipa::path(
    get,
    path = "/api/v2/users-by-email",
    operation_id = "get_users_by_email",
    tag = "users",
    summary = "Find users by email",
    params(
        schemas::EmailQuery,
    ),
    responses(
        (status = 200, description = "The users with this email (zero or one).", body = Vec<schemas::User>),
        (status = 400, description = "Missing `email` or invalid query string.", body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
    ),
    security(("bearer" = ["read:users"]))
)]
async fn by_email(
    State(s): State<AppState>,
    c: Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("read:users").await?;
    let q: ListQuery = query(q)?;
    let email = q.email.ok_or_else(|| {
        ApiError::invalid_query("Query validation error: 'Missing required property: email'.")
    })?;
    let users = s.store.users_by_email(&email).await?;
    Ok(ok(Value::Array(users.iter().map(user_json).collect())))
}

#[utoipa::path(
    patch,
    path = "/api/v2/users/{id}",
    operation_id = "patch_users_by_id",
    tag = "users",
    summary = "Update a user",
    description = "`app_metadata` and `user_metadata` are merged at the first level: a `null` value removes its key and an empty object clears all keys.",
    params(
        ("id" = String, Path, description = "The user's id."),
    ),
    request_body(content = Body, description = "Properties to change."),
    responses(
        (status = 200, description = "The updated user.", body = schemas::User),
        (status = 400, description = schemas::E400_BODY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such user.", body = schemas::Error),
        (status = 409, description = "Another user has this email.", body = schemas::Error),
    ),
    security(("bearer" = ["update:users"]))
)]
async fn update(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    c.require("update:users").await?;
    let b: Body = c.body(&bytes).await?;
    let u = users::update(&s, &c.actor(), &id, b.into()).await?;
    Ok(ok(user_json(&u)))
}

#[utoipa::path(
    delete,
    path = "/api/v2/users/{id}",
    operation_id = "delete_users_by_id",
    tag = "users",
    summary = "Delete a user",
    params(
        ("id" = String, Path, description = "The user's id."),
    ),
    responses(
        (status = 204, description = "Deleted."),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such user.", body = schemas::Error),
    ),
    security(("bearer" = ["delete:users"]))
)]
async fn remove(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("delete:users").await?;
    users::delete(&s, &c.actor(), &id).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/api/v2/users/{id}/roles",
    operation_id = "get_user_roles",
    tag = "users",
    summary = "List a user's roles",
    description = "Requires both `read:users` and `read:roles`.",
    params(
        ("id" = String, Path, description = "The user's id."),
        schemas::PagingParams,
    ),
    responses(
        (status = 200, description = "The roles.", body = schemas::RoleList),
        (status = 400, description = schemas::E400_QUERY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such user.", body = schemas::Error),
    ),
    security(("bearer" = ["read:users", "read:roles"]))
)]
async fn roles(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("read:users").await?;
    c.require("read:roles").await?;
    let q: ListQuery = query(q)?;
    let page = s.store.user_roles(&id, q.paging().page()?).await?;
    q.paging().respond(
        "roles",
        page.items.iter().map(role_json).collect(),
        page.total,
    )
}

/// Roles to assign or remove.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = UserRolesRequest)]
struct RolesBody {
    /// Role ids.
    #[schema(min_items = 1)]
    roles: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/api/v2/users/{id}/roles",
    operation_id = "post_user_roles",
    tag = "users",
    summary = "Assign roles to a user",
    params(
        ("id" = String, Path, description = "The user's id."),
    ),
    request_body(content = RolesBody),
    responses(
        (status = 204, description = "Assigned (roles the user already holds are kept)."),
        (status = 400, description = "Invalid body, a role that does not exist, or over the roles-per-user limit.", body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such user.", body = schemas::Error),
    ),
    security(("bearer" = ["update:users"]))
)]
async fn assign_roles(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    c.require("update:users").await?;
    let roles: RolesBody = c.body(&bytes).await?;
    users::assign_roles(&s, &c.actor(), &id, &roles.roles).await?;
    Ok(no_content())
}

#[utoipa::path(
    delete,
    path = "/api/v2/users/{id}/roles",
    operation_id = "delete_user_roles",
    tag = "users",
    summary = "Remove roles from a user",
    params(
        ("id" = String, Path, description = "The user's id."),
    ),
    request_body(content = RolesBody),
    responses(
        (status = 204, description = "Removed (roles the user does not hold are ignored)."),
        (status = 400, description = schemas::E400_BODY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such user.", body = schemas::Error),
    ),
    security(("bearer" = ["update:users"]))
)]
async fn remove_roles(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    c.require("update:users").await?;
    let roles: RolesBody = c.body(&bytes).await?;
    users::remove_roles(&s, &c.actor(), &id, &roles.roles).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/api/v2/users/{id}/permissions",
    operation_id = "get_permissions",
    tag = "users",
    summary = "List a user's direct permissions",
    params(
        ("id" = String, Path, description = "The user's id."),
        schemas::PagingParams,
    ),
    responses(
        (status = 200, description = "The permissions assigned to the user directly (not through roles), sorted by API identifier and name.", body = schemas::PermissionList),
        (status = 400, description = schemas::E400_QUERY, body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such user.", body = schemas::Error),
    ),
    security(("bearer" = ["read:users"]))
)]
async fn permissions(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    c.require("read:users").await?;
    let q: ListQuery = query(q)?;
    let page = s.store.user_permissions(&id, q.paging().page()?).await?;
    q.paging().respond(
        "permissions",
        page.items.iter().map(permission_json).collect(),
        page.total,
    )
}

#[utoipa::path(
    post,
    path = "/api/v2/users/{id}/permissions",
    operation_id = "post_permissions",
    tag = "users",
    summary = "Add permissions to a user",
    params(
        ("id" = String, Path, description = "The user's id."),
    ),
    request_body(content = schemas::PermissionsRequest),
    responses(
        (status = 201, description = "Added (permissions the user already has are kept).", body = schemas::EmptyObject),
        (status = 400, description = "Invalid body, a permission the API does not define, or over the permissions-per-user limit.", body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such user.", body = schemas::Error),
    ),
    security(("bearer" = ["update:users"]))
)]
async fn add_permissions(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    c.require("update:users").await?;
    let perms: PermissionsBody = c.body(&bytes).await?;
    users::add_permissions(&s, &c.actor(), &id, &perms.permissions).await?;
    Ok(created(json!({})))
}

#[utoipa::path(
    delete,
    path = "/api/v2/users/{id}/permissions",
    operation_id = "delete_permissions",
    tag = "users",
    summary = "Remove permissions from a user",
    params(
        ("id" = String, Path, description = "The user's id."),
    ),
    request_body(content = schemas::PermissionsRequest),
    responses(
        (status = 204, description = "Removed (permissions the user does not have are ignored)."),
        (status = 400, description = "Invalid body, or a permission the API does not define.", body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such user.", body = schemas::Error),
    ),
    security(("bearer" = ["update:users"]))
)]
async fn remove_permissions(
    State(s): State<AppState>,
    c: Caller,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    c.require("update:users").await?;
    let perms: PermissionsBody = c.body(&bytes).await?;
    users::remove_permissions(&s, &c.actor(), &id, &perms.permissions).await?;
    Ok(no_content())
}
