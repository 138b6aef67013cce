//! Roles: named sets of permissions, and the users holding them. Each write validates, makes
//! one store transaction (which bumps the authz version of every user whose permissions it
//! changes) and is recorded by [`Writ::recorded`].

use writ_core::{Permission, Role, validate};
use writ_store::{Page, Paged, PermissionInfo, StoreError, UserSummary};

use crate::audit::Operation;
use crate::{Actor, Result, ServiceError, Writ};

/// A role to create, or the properties of one to change (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct RoleInput {
    /// Unique, at most 50 characters; required on create.
    pub name: Option<String>,
    /// At most 140 characters.
    pub description: Option<String>,
}

fn description(d: Option<String>) -> Result<Option<String>> {
    match d {
        Some(d) if d.chars().count() > 140 => Err(ServiceError::invalid(
            "description",
            "String is too long (max 140)",
        )),
        d => Ok(d),
    }
}

/// Creates a role.
pub async fn create(w: &Writ, actor: &Actor, input: RoleInput) -> Result<Role> {
    let op = Operation::at("POST", "/roles", "", 201);
    let change = async {
        let name = input.name.ok_or_else(|| ServiceError::missing("name"))?;
        let name = validate::name("name", &name, 50)?;
        let description = description(input.description)?.unwrap_or_default();
        Ok(w.store.create_role(&name, &description).await?)
    };
    w.recorded(actor, op, change).await
}

/// Changes a role's name or description.
pub async fn update(w: &Writ, actor: &Actor, id: &str, input: RoleInput) -> Result<Role> {
    let op = Operation::at("PATCH", "/roles/{id}", id, 200);
    let change = async {
        let mut role = w.store.get_role(id).await?;
        if let Some(n) = input.name {
            role.name = validate::name("name", &n, 50)?;
        }
        if let Some(d) = description(input.description)? {
            role.description = d;
        }
        w.store.update_role(&role).await?;
        Ok(role)
    };
    w.recorded(actor, op, change).await
}

/// Deletes a role; its users lose its permissions.
pub async fn delete(w: &Writ, actor: &Actor, id: &str) -> Result<()> {
    let op = Operation::at("DELETE", "/roles/{id}", id, 204);
    let change = async { Ok(w.store.delete_role(id).await?) };
    w.recorded(actor, op, change).await
}

/// The list of a relation write (`field`: its permissions, roles or users) must not be empty.
pub(crate) fn given<T>(field: &'static str, list: &[T]) -> Result<()> {
    if list.is_empty() {
        return Err(ServiceError::invalid(
            field,
            "Array is too short (0), minimum 1",
        ));
    }
    Ok(())
}

/// A write to a relation of a role or user (its permissions, roles or users): the store's
/// `write` once the list is [`given`] as `field`, recorded as `op`.
pub(crate) async fn change<T, F, Fut>(
    w: &Writ,
    actor: &Actor,
    op: Operation,
    field: &'static str,
    list: &[T],
    write: F,
) -> Result<()>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = std::result::Result<(), StoreError>>,
{
    let change = async {
        given(field, list)?;
        Ok(write().await?)
    };
    w.recorded(actor, op, change).await
}

/// Adds permissions to a role (those it has are kept).
pub async fn add_permissions(
    w: &Writ,
    actor: &Actor,
    id: &str,
    perms: &[Permission],
) -> Result<()> {
    let op = Operation::at("POST", "/roles/{id}/permissions", id, 201);
    change(w, actor, op, "permissions", perms, || {
        w.store.add_role_permissions(id, perms)
    })
    .await
}

/// Removes permissions from a role (those it lacks are ignored).
pub async fn remove_permissions(
    w: &Writ,
    actor: &Actor,
    id: &str,
    perms: &[Permission],
) -> Result<()> {
    let op = Operation::at("DELETE", "/roles/{id}/permissions", id, 204);
    change(w, actor, op, "permissions", perms, || {
        w.store.remove_role_permissions(id, perms)
    })
    .await
}

/// Assigns a role to users (those holding it already are kept).
pub async fn assign_users(w: &Writ, actor: &Actor, id: &str, users: &[String]) -> Result<()> {
    let op = Operation::at("POST", "/roles/{id}/users", id, 201);
    change(w, actor, op, "users", users, || {
        w.store.assign_role_users(id, users)
    })
    .await
}

/// A page of roles, sorted by name; `search` filters by name.
pub async fn list(w: &Writ, search: Option<&str>, page: Page) -> Result<Paged<Role>> {
    Ok(w.store.list_roles(search, page).await?)
}

/// One role.
pub async fn get(w: &Writ, id: &str) -> Result<Role> {
    Ok(w.store.get_role(id).await?)
}

/// Every permission of a role.
pub async fn permissions(w: &Writ, id: &str) -> Result<Vec<PermissionInfo>> {
    Ok(crate::paging::all_pages(|p| w.store.role_permissions(id, p)).await?)
}

/// A page of the users holding a role.
pub async fn members(w: &Writ, id: &str, page: Page) -> Result<Paged<UserSummary>> {
    Ok(w.store.role_users(id, page).await?)
}

/// Every role, sorted by name.
pub async fn list_all(w: &Writ) -> Result<Vec<Role>> {
    Ok(crate::paging::all_pages(|p| w.store.list_roles(None, p)).await?)
}
