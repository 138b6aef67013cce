//! What the RBAC and group queries both read, so neither module imports the other: role
//! and user-summary rows, and a user's groups with every ancestor ([`USER_GROUPS`],
//! [`Ancestry`]), from which permission sources and effective roles name group paths.

use std::collections::HashMap;
use std::sync::LazyLock;

use writ_core::Role;

use super::Store;
use crate::{Result, UserSummary};

/// The groups a user (`$1`) is in and all their ancestors, once each: a `WITH RECURSIVE` list
/// item `ug(id)`. It starts from the `group_members_by_user` index and climbs by the groups'
/// primary key: O(the user's groups × depth). `UNION` (not `UNION ALL`) stops at groups already
/// seen, so groups sharing an ancestor climb it once.
///
/// A group being deleted is left out (its members are still there until they are swept, see
/// `GroupStore::sweep_deleted_groups`); its subtree is detached and holds no roles already, so
/// only names and paths would show.
pub(super) const USER_GROUPS: &str = "ug(id) AS ( \
       SELECT gm.group_id FROM group_members gm CROSS JOIN groups d \
         WHERE gm.user_id = $1 AND d.id = gm.group_id AND d.deleted_at IS NULL \
       UNION SELECT g.parent_id FROM groups g CROSS JOIN ug \
         WHERE g.id = ug.id AND g.parent_id IS NOT NULL)";

/// A role's columns, `id, name, description`, as read.
pub(super) type RoleRow = (String, String, String);

pub(super) fn role((id, name, description): RoleRow) -> Result<Role> {
    Ok(Role {
        id,
        name,
        description,
    })
}

/// A user as listed under a role or a group: `id, email, name`.
pub(super) fn user_summary(
    (user_id, email, name): (String, String, Option<String>),
) -> Result<UserSummary> {
    Ok(UserSummary {
        user_id,
        email,
        name,
    })
}

/// The groups a user is in and their ancestors (id → name, parent): enough to name each of
/// them by its path.
#[derive(Default)]
pub(super) struct Ancestry(HashMap<String, (String, Option<String>)>);

impl Ancestry {
    /// The path of group `id` (`/eng/backend`), from the root down.
    pub(super) fn path(&self, id: &str) -> String {
        let mut names = Vec::new();
        let mut at = Some(id);
        // Bounded by the map's size, whatever the data.
        while let Some(id) = at.filter(|_| names.len() <= self.0.len()) {
            match self.0.get(id) {
                Some((name, parent)) => {
                    names.push(name.as_str());
                    at = parent.as_deref();
                }
                None => break,
            }
        }
        names.iter().rev().fold(String::new(), |p, n| p + "/" + n)
    }
}

/// Reads [`Ancestry`] for a user: the groups [`USER_GROUPS`] finds, O(their groups × depth).
pub(super) async fn user_group_tree(store: &Store, user_id: &str) -> Result<Ancestry> {
    static SQL: LazyLock<String> = LazyLock::new(|| {
        format!(
            "WITH RECURSIVE {USER_GROUPS} \
             SELECT g.id, g.name, g.parent_id FROM ug CROSS JOIN groups g WHERE g.id = ug.id"
        )
    });
    let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(SQL.as_str())
        .bind(user_id)
        .fetch_all(&store.pool)
        .await?;
    Ok(Ancestry(
        rows.into_iter()
            .map(|(id, name, parent)| (id, (name, parent)))
            .collect(),
    ))
}
