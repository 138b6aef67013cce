//! Groups (Keycloak-style, nested): their members inherit the group's roles and those of every
//! ancestor. Each write validates, makes one store transaction (which refuses cycles and bumps
//! the authz version of every user whose token it changes: the members added or removed, or
//! the groups of the subtree, whose members' versions follow) and is recorded by
//! [`Writ::recorded`]. A deleted group's members leave it afterwards ([`sweep`]). Reads include a
//! user's groups with their paths and a user's effective roles with where each comes from.

use writ_core::{EffectiveRole, Group, Role, validate};
use writ_store::{GroupChange, GroupFilter, GroupPath, Page, Paged, UserSummary};

use crate::audit::Operation;
use crate::roles::change;
use crate::{Actor, Result, ServiceError, Writ};

/// A group to create, or the properties of one to change (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct GroupInput {
    /// Unique among its siblings, at most 255 characters, without `/`; required on create.
    pub name: Option<String>,
    /// At most 140 characters.
    pub description: Option<String>,
    /// The parent group: `Some(None)` (JSON `null`) makes it top-level; on create, `None` too.
    pub parent_id: Option<Option<String>>,
}

/// The input's name and description, validated.
fn checked(input: &GroupInput) -> Result<(Option<String>, Option<String>)> {
    let name = input
        .name
        .as_deref()
        .map(|n| validate::group_name("name", n))
        .transpose()?;
    if let Some(d) = &input.description {
        validate::description("description", d)?;
    }
    Ok((name, input.description.clone()))
}

/// Creates a group (under `parent_id` when given).
pub async fn create(w: &Writ, actor: &Actor, input: GroupInput) -> Result<Group> {
    let op = Operation::at("POST", "/groups", "", 201);
    let change = async {
        let (name, description) = checked(&input)?;
        let name = name.ok_or_else(|| ServiceError::missing("name"))?;
        let parent = input.parent_id.flatten();
        Ok(w.store
            .create_group(&name, &description.unwrap_or_default(), parent.as_deref())
            .await?)
    };
    w.recorded(actor, op, change).await
}

/// Renames, describes or moves a group (a move under itself or a descendant is refused,
/// naming `parent_id`; it bumps every member of the subtree).
pub async fn update(w: &Writ, actor: &Actor, id: &str, input: GroupInput) -> Result<Group> {
    let op = Operation::at("PATCH", "/groups/{id}", id, 200);
    let change = async {
        let (name, description) = checked(&input)?;
        let change = GroupChange {
            name,
            description,
            parent_id: input.parent_id,
        };
        Ok(w.store.update_group(id, &change).await?)
    };
    w.recorded(actor, op, change).await
}

/// Deletes a group with its subtree (as Keycloak does); their members lose the roles at once,
/// and leave the deleted groups in the background ([`spawn_sweep`]).
pub async fn delete(w: &Writ, actor: &Actor, id: &str) -> Result<()> {
    let op = Operation::at("DELETE", "/groups/{id}", id, 204);
    let change = async { Ok(w.store.delete_group(id).await?) };
    let result = w.recorded(actor, op, change).await;
    if result.is_ok() {
        spawn_sweep(w);
    }
    result
}

/// How many members leave a deleted group per transaction: small enough that other authz
/// writes, which queue behind each, wait milliseconds.
pub const SWEEP_BATCH: u32 = 2_000;

/// Moves the members out of every deleted group, a batch per transaction, until none is left
/// (then the groups' rows go); returns how many memberships ended. The retention task runs it
/// at start too, so a sweep a stop cut short is finished by the next start.
pub async fn sweep(w: &Writ) -> std::result::Result<u64, writ_store::StoreError> {
    let mut total = 0;
    loop {
        match w.store.sweep_deleted_groups(SWEEP_BATCH).await? {
            0 => return Ok(total),
            n => total += n,
        }
    }
}

/// Runs [`sweep`] in the background, holding the state only while it runs.
pub fn spawn_sweep(w: &Writ) {
    let weak = w.downgrade();
    tokio::spawn(async move {
        let Some(w) = weak.upgrade() else {
            return;
        };
        match sweep(&w).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(memberships = n, "members left the deleted groups"),
            Err(e) => {
                tracing::warn!(error = %e, "sweeping deleted groups (retried at the next prune)")
            }
        }
    });
}

/// Adds users to a group (members already are kept); an unknown user refuses the whole list.
pub async fn add_members(w: &Writ, actor: &Actor, id: &str, users: &[String]) -> Result<()> {
    let op = Operation::at("POST", "/groups/{id}/members", id, 201);
    change(w, actor, op, "members", users, || {
        w.store.add_group_members(id, users)
    })
    .await
}

/// Removes users from a group (non-members are ignored).
pub async fn remove_members(w: &Writ, actor: &Actor, id: &str, users: &[String]) -> Result<()> {
    let op = Operation::at("DELETE", "/groups/{id}/members", id, 204);
    change(w, actor, op, "members", users, || {
        w.store.remove_group_members(id, users)
    })
    .await
}

/// Assigns roles to a group (those it has are kept); its members and its subgroups' inherit
/// them.
pub async fn add_roles(w: &Writ, actor: &Actor, id: &str, roles: &[String]) -> Result<()> {
    let op = Operation::at("POST", "/groups/{id}/roles", id, 201);
    change(w, actor, op, "roles", roles, || {
        w.store.add_group_roles(id, roles)
    })
    .await
}

/// Removes roles from a group (those it lacks are ignored).
pub async fn remove_roles(w: &Writ, actor: &Actor, id: &str, roles: &[String]) -> Result<()> {
    let op = Operation::at("DELETE", "/groups/{id}/roles", id, 204);
    change(w, actor, op, "roles", roles, || {
        w.store.remove_group_roles(id, roles)
    })
    .await
}

/// A page of groups, sorted by name: `name` an exact name, `search` a part of one.
pub async fn list(
    w: &Writ,
    name: Option<&str>,
    search: Option<&str>,
    page: Page,
) -> Result<Paged<Group>> {
    let filter = GroupFilter {
        name: name.map(Into::into),
        search: search.map(Into::into),
    };
    Ok(w.store.list_groups(&filter, page).await?)
}

/// Every group, sorted by name.
pub async fn all(w: &Writ) -> Result<Vec<Group>> {
    let filter = GroupFilter::default();
    Ok(crate::paging::all_pages(|p| w.store.list_groups(&filter, p)).await?)
}

/// One group.
pub async fn get(w: &Writ, id: &str) -> Result<Group> {
    Ok(w.store.get_group(id).await?)
}

/// A page of a group's direct members.
pub async fn members(w: &Writ, id: &str, page: Page) -> Result<Paged<UserSummary>> {
    Ok(w.store.group_members(id, page).await?)
}

/// A page of the roles assigned to a group itself.
pub async fn roles(w: &Writ, id: &str, page: Page) -> Result<Paged<Role>> {
    Ok(w.store.group_roles(id, page).await?)
}

/// A page of the groups a role is assigned to.
pub async fn role_groups(w: &Writ, role_id: &str, page: Page) -> Result<Paged<Group>> {
    Ok(w.store.role_groups(role_id, page).await?)
}

/// A page of the groups a user is a direct member of, each with its path (`/eng/backend`).
pub async fn user_groups(w: &Writ, user_id: &str, page: Page) -> Result<Paged<GroupPath>> {
    Ok(w.store.user_groups(user_id, page).await?)
}

/// A user's effective roles (direct ∪ through their groups and all their ancestors), by name,
/// each with its sources: `direct` and the paths of the groups holding it.
pub async fn effective_roles(w: &Writ, user_id: &str) -> Result<Vec<EffectiveRole>> {
    Ok(w.store.effective_roles(user_id).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_descriptions_are_checked_naming_the_field() {
        let bad_name = GroupInput {
            name: Some("a/b".into()),
            ..Default::default()
        };
        assert_eq!(checked(&bad_name).unwrap_err().field(), Some("name"));
        let long = GroupInput {
            name: Some(" ok ".into()),
            description: Some("d".repeat(141)),
            ..Default::default()
        };
        assert_eq!(checked(&long).unwrap_err().field(), Some("description"));
        let fine = GroupInput {
            name: Some(" ok ".into()),
            description: Some("d".repeat(140)),
            ..Default::default()
        };
        assert_eq!(checked(&fine).unwrap().0.as_deref(), Some("ok"));
        assert_eq!(checked(&GroupInput::default()).unwrap(), (None, None));
    }
}
