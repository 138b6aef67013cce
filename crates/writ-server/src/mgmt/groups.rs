//! `/api/v2/groups`: groups (a tree), their members and roles; and the group views of roles and
//! users (`/roles/{id}/groups`, `/users/{id}/groups`, `/users/{id}/effective-roles`).

use writ_service::groups::{self, GroupInput};

use super::prelude::*;
use super::types::{
    EffectivePermission, EffectivePermissions, EffectivePermissionsQuery, EffectiveRole,
    EffectiveRoles, EmptyObject, Group, GroupFilter, GroupList, GroupMemberList,
    GroupMembersRequest, GroupRequest, GroupRolesRequest, RoleList, UserGroupList,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(list, create))
        .routes(routes!(read, update, remove))
        .routes(routes!(members, add_members, remove_members))
        .routes(routes!(roles, add_roles, remove_roles))
        .routes(routes!(role_groups))
        .routes(routes!(user_groups))
        .routes(routes!(effective_roles))
        .routes(routes!(effective_permissions))
}

impl From<GroupRequest> for GroupInput {
    fn from(b: GroupRequest) -> Self {
        GroupInput {
            name: b.name,
            description: b.description,
            parent_id: b.parent_id,
        }
    }
}

#[utoipa::path(
    get,
    path = "/groups",
    operation_id = "get_groups",
    tag = "groups",
    summary = "List groups",
    params(Paging, GroupFilter),
    responses(
        (status = 200, description = "The groups, sorted by name.", body = types::GroupList),
        schemas::QueryDenied,
    ),
    security(("bearer" = ["read:groups"]))
)]
async fn list(
    c: Caller,
    paging: Paging,
    Params(f): Params<GroupFilter>,
) -> Result<Response, ApiError> {
    let (name, search) = (f.name.as_deref(), f.search.as_deref());
    let page = groups::list(&c, name, search, paging.page()?).await?;
    paging.answer::<GroupList, _, _>(page)
}

#[utoipa::path(
    post,
    path = "/groups",
    operation_id = "post_groups",
    tag = "groups",
    summary = "Create a group",
    request_body(content = GroupRequest, description = "`name` is required; `parent_id` places it under another group."),
    responses(
        (status = 201, description = "The new group.", body = types::Group),
        schemas::BodyDenied,
        (status = 409, description = "A sibling group with this name already exists.", body = types::Error),
    ),
    security(("bearer" = ["create:groups"]))
)]
async fn create(c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    let b: GroupRequest = c.body(&bytes).await?;
    let group = groups::create(&c, &c.actor(), b.into()).await?;
    Ok(created(Group::from(&group)))
}

#[utoipa::path(
    get,
    path = "/groups/{id}",
    operation_id = "get_groups_by_id",
    tag = "groups",
    summary = "Get a group",
    params(GroupId),
    responses(
        (status = 200, description = "The group.", body = types::Group),
        schemas::Denied<GroupId>,
    ),
    security(("bearer" = ["read:groups"]))
)]
async fn read(c: Caller, Path(GroupId(id)): Path<GroupId>) -> Result<Response, ApiError> {
    Ok(ok(Group::from(&groups::get(&c, &id).await?)))
}

#[utoipa::path(
    patch,
    path = "/groups/{id}",
    operation_id = "patch_groups_by_id",
    tag = "groups",
    summary = "Update or move a group",
    description = "A new `parent_id` moves the group with its subtree (`null`: to the top); a move under the group itself or one of its descendants is refused. A move changes what its members inherit: their older tokens are refused.",
    params(GroupId),
    request_body(content = GroupRequest, description = "Properties to change."),
    responses(
        (status = 200, description = "The updated group.", body = types::Group),
        schemas::BodyDenied<GroupId>,
        (status = 409, description = "A sibling group with this name already exists.", body = types::Error),
    ),
    security(("bearer" = ["update:groups"]))
)]
async fn update(
    c: Caller,
    Path(GroupId(id)): Path<GroupId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: GroupRequest = c.body(&bytes).await?;
    let group = groups::update(&c, &c.actor(), &id, b.into()).await?;
    Ok(ok(Group::from(&group)))
}

#[utoipa::path(
    delete,
    path = "/groups/{id}",
    operation_id = "delete_groups_by_id",
    tag = "groups",
    summary = "Delete a group and its subgroups",
    params(GroupId),
    responses(
        (status = 204, description = "Deleted with its whole subtree; its members lose what they held through it."),
        schemas::Denied<GroupId>,
    ),
    security(("bearer" = ["delete:groups"]))
)]
async fn remove(c: Caller, Path(GroupId(id)): Path<GroupId>) -> Result<Response, ApiError> {
    groups::delete(&c, &c.actor(), &id).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/groups/{id}/members",
    operation_id = "get_group_members",
    tag = "groups",
    summary = "List a group's members",
    description = "Its direct members (not those of its subgroups). Requires both `read:groups` and `read:users`.",
    params(GroupId, Paging),
    responses(
        (status = 200, description = "The members, sorted by id.", body = types::GroupMemberList),
        schemas::QueryDenied<GroupId>,
    ),
    security(("bearer" = ["read:groups", "read:users"]))
)]
async fn members(
    c: Caller,
    Path(GroupId(id)): Path<GroupId>,
    paging: Paging,
) -> Result<Response, ApiError> {
    let page = groups::members(&c, &id, paging.page()?).await?;
    paging.answer::<GroupMemberList, _, _>(page)
}

#[utoipa::path(
    post,
    path = "/groups/{id}/members",
    operation_id = "post_group_members",
    tag = "groups",
    summary = "Add members to a group",
    params(GroupId),
    request_body(content = GroupMembersRequest),
    responses(
        (status = 201, description = "Added (members already in it are kept).", body = types::EmptyObject),
        (status = 400, description = "Invalid body, or a user that does not exist (nothing is added).", body = types::Error),
        schemas::Denied<GroupId>,
    ),
    security(("bearer" = ["update:groups"]))
)]
async fn add_members(
    c: Caller,
    Path(GroupId(id)): Path<GroupId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: GroupMembersRequest = c.body(&bytes).await?;
    groups::add_members(&c, &c.actor(), &id, &b.members).await?;
    Ok(created(EmptyObject {}))
}

#[utoipa::path(
    delete,
    path = "/groups/{id}/members",
    operation_id = "delete_group_members",
    tag = "groups",
    summary = "Remove members from a group",
    params(GroupId),
    request_body(content = GroupMembersRequest),
    responses(
        (status = 204, description = "Removed (users who are not members are ignored)."),
        (status = 400, description = "Invalid body.", body = types::Error),
        schemas::Denied<GroupId>,
    ),
    security(("bearer" = ["update:groups"]))
)]
async fn remove_members(
    c: Caller,
    Path(GroupId(id)): Path<GroupId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: GroupMembersRequest = c.body(&bytes).await?;
    groups::remove_members(&c, &c.actor(), &id, &b.members).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/groups/{id}/roles",
    operation_id = "get_group_roles",
    tag = "groups",
    summary = "List a group's roles",
    description = "The roles assigned to the group itself (its members also inherit those of its ancestors). Requires both `read:groups` and `read:roles`.",
    params(GroupId, Paging),
    responses(
        (status = 200, description = "The roles, sorted by name.", body = types::RoleList),
        schemas::QueryDenied<GroupId>,
    ),
    security(("bearer" = ["read:groups", "read:roles"]))
)]
async fn roles(
    c: Caller,
    Path(GroupId(id)): Path<GroupId>,
    paging: Paging,
) -> Result<Response, ApiError> {
    let page = groups::roles(&c, &id, paging.page()?).await?;
    paging.answer::<RoleList, _, _>(page)
}

#[utoipa::path(
    post,
    path = "/groups/{id}/roles",
    operation_id = "post_group_roles",
    tag = "groups",
    summary = "Assign roles to a group",
    params(GroupId),
    request_body(content = GroupRolesRequest),
    responses(
        (status = 201, description = "Assigned (roles the group has are kept); the members of its subtree get them.", body = types::EmptyObject),
        (status = 400, description = "Invalid body, or a role that does not exist (nothing is assigned).", body = types::Error),
        schemas::Denied<GroupId>,
    ),
    security(("bearer" = ["update:groups"]))
)]
async fn add_roles(
    c: Caller,
    Path(GroupId(id)): Path<GroupId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: GroupRolesRequest = c.body(&bytes).await?;
    groups::add_roles(&c, &c.actor(), &id, &b.roles).await?;
    Ok(created(EmptyObject {}))
}

#[utoipa::path(
    delete,
    path = "/groups/{id}/roles",
    operation_id = "delete_group_roles",
    tag = "groups",
    summary = "Remove roles from a group",
    params(GroupId),
    request_body(content = GroupRolesRequest),
    responses(
        (status = 204, description = "Removed (roles the group does not have are ignored)."),
        (status = 400, description = "Invalid body.", body = types::Error),
        schemas::Denied<GroupId>,
    ),
    security(("bearer" = ["update:groups"]))
)]
async fn remove_roles(
    c: Caller,
    Path(GroupId(id)): Path<GroupId>,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    let b: GroupRolesRequest = c.body(&bytes).await?;
    groups::remove_roles(&c, &c.actor(), &id, &b.roles).await?;
    Ok(no_content())
}

#[utoipa::path(
    get,
    path = "/roles/{id}/groups",
    operation_id = "get_role_groups",
    tag = "roles",
    summary = "List the groups a role is assigned to",
    description = "Requires both `read:roles` and `read:groups`.",
    params(RoleId, Paging),
    responses(
        (status = 200, description = "The groups, sorted by name.", body = types::GroupList),
        schemas::QueryDenied<RoleId>,
    ),
    security(("bearer" = ["read:roles", "read:groups"]))
)]
async fn role_groups(
    c: Caller,
    Path(RoleId(id)): Path<RoleId>,
    paging: Paging,
) -> Result<Response, ApiError> {
    let page = groups::role_groups(&c, &id, paging.page()?).await?;
    paging.answer::<GroupList, _, _>(page)
}

#[utoipa::path(
    get,
    path = "/users/{id}/groups",
    operation_id = "get_user_groups",
    tag = "users",
    summary = "List a user's groups",
    description = "The groups the user is a direct member of, each with its path. Requires both `read:users` and `read:groups`.",
    params(UserId, Paging),
    responses(
        (status = 200, description = "The groups, sorted by name.", body = types::UserGroupList),
        schemas::QueryDenied<UserId>,
    ),
    security(("bearer" = ["read:users", "read:groups"]))
)]
async fn user_groups(
    c: Caller,
    Path(UserId(id)): Path<UserId>,
    paging: Paging,
) -> Result<Response, ApiError> {
    let page = groups::user_groups(&c, &id, paging.page()?).await?;
    paging.answer::<UserGroupList, _, _>(page)
}

#[utoipa::path(
    get,
    path = "/users/{id}/effective-roles",
    operation_id = "get_user_effective_roles",
    tag = "users",
    summary = "List a user's effective roles",
    description = "Every role the user holds, directly or through a group (and its ancestors), each with its sources: `direct`, or the path of the group it comes through. Requires both `read:users` and `read:roles`.",
    params(UserId),
    responses(
        (status = 200, description = "The roles, sorted by name.", body = types::EffectiveRoles),
        schemas::Denied<UserId>,
    ),
    security(("bearer" = ["read:users", "read:roles"]))
)]
async fn effective_roles(c: Caller, Path(UserId(id)): Path<UserId>) -> Result<Response, ApiError> {
    let roles = groups::effective_roles(&c, &id).await?;
    let roles = roles.iter().map(EffectiveRole::from).collect();
    Ok(ok(EffectiveRoles { roles }))
}

#[utoipa::path(
    get,
    path = "/users/{id}/effective-permissions",
    operation_id = "get_user_effective_permissions",
    tag = "users",
    summary = "List a user's effective permissions at an API",
    description = "Every permission the user holds at the API, directly, through their roles or through their groups' roles (and their ancestors'), sorted by name, each with its `sources` (`direct`, `roles`). The page continues at `next` (pass it as `from`).",
    params(UserId, EffectivePermissionsQuery),
    responses(
        (status = 200, description = "The permissions.", body = types::EffectivePermissions),
        schemas::Denied<UserId>,
    ),
    security(("bearer" = ["read:users"]))
)]
async fn effective_permissions(
    c: Caller,
    Path(UserId(id)): Path<UserId>,
    Params(q): Params<EffectivePermissionsQuery>,
) -> Result<Response, ApiError> {
    let api = q
        .resource_server_identifier
        .filter(|a| !a.is_empty() && a.len() <= 600)
        .ok_or_else(|| {
            ApiError::invalid_query(
                "Query validation error: 'Missing required property: resource_server_identifier' on property resource_server_identifier.",
            )
        })?;
    let take = q.take.unwrap_or(50);
    if !(1..=100).contains(&take) {
        return Err(ApiError::invalid_query(
            "Query validation error: 'Value must be between 1 and 100' on property take.",
        ));
    }
    let from: usize = match q.from.as_deref() {
        None | Some("") => 0,
        Some(f) => f.parse().map_err(|_| {
            ApiError::invalid_query("Query validation error: 'Invalid cursor' on property from.")
        })?,
    };
    let all = writ_service::users::effective_permissions_at(&c, &id, &api).await?;
    let api_name = c
        .catalog
        .load()
        .apis
        .get(&api)
        .map(|a| a.name.clone())
        .unwrap_or_default();
    let end = from.saturating_add(take as usize).min(all.len());
    let permissions = all
        .iter()
        .skip(from)
        .take(take as usize)
        .map(|p| EffectivePermission {
            resource_server_identifier: api.clone(),
            permission_name: p.name.clone(),
            resource_server_name: api_name.clone(),
            description: p.description.clone(),
            sources: p.source_kinds().iter().map(|k| (*k).to_owned()).collect(),
        })
        .collect();
    let next = (end < all.len()).then(|| end.to_string());
    Ok(ok(EffectivePermissions { permissions, next }))
}
