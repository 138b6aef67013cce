//! Groups: the tree (`groups.parent_id`), its members and its roles, a user's groups with
//! their paths and a user's effective roles with their sources. Written once for both
//! databases; the recursive walks are `WITH RECURSIVE`, which both run.
//!
//! Every write that changes what a user's token may carry runs in an [`AuthzTx`] and bumps
//! exactly the subjects concerned in one statement: the listed users for membership changes,
//! the groups of the subtree ([`Affected::GroupTree`]; their members' effective versions
//! follow) for role changes, moves, renames and deletes.
//!
//! A delete is O(groups) too: it marks the subtree deleted (`groups.deleted_at`, see the
//! migration `0014_group_tombstones`), and the members leave afterwards, in batches
//! ([`GroupStore::sweep_deleted_groups`]). Every read here and in `membership` leaves out a
//! group being deleted, except the two that must not: a user's effective version
//! (`rbac::USER_VERSION`) and the feed's expansion of a group's record.
//! Moves are authz writes too, so on PostgreSQL they queue on the authz log head lock taken
//! when the transaction begins (on SQLite, on the single writer): the cycle check reads the
//! tree after every earlier move committed, and two concurrent moves cannot form a cycle.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use async_trait::async_trait;
use writ_core::{EffectiveRole, Group, Role, RoleSource, ValidationError};

use super::membership::{Ancestry, USER_GROUPS, role, user_group_tree, user_summary};
use super::{AuthzTx, Conn, FOR_KEY_SHARE, FOR_UPDATE, LIKE, Store, bump, bump_users, id_list};
use crate::common::{Affected, GROUP_TREE, like_pattern, new_id, now_rfc3339, to_json, unique};
use crate::{
    GroupChange, GroupFilter, GroupPath, GroupStore, Page, Paged, Result, RoleStore, StoreError,
    UserStore, UserSummary,
};

/// A group's columns, in this order, as every query here reads them.
const COLUMNS: &str = "g.id, g.name, g.description, g.parent_id, g.created_at, g.updated_at";

/// A row of [`COLUMNS`].
type GroupRow = (String, String, String, Option<String>, String, String);

fn group((id, name, description, parent_id, created_at, updated_at): GroupRow) -> Result<Group> {
    Ok(Group {
        id,
        name,
        description,
        parent_id,
        created_at,
        updated_at,
    })
}

/// The message of a sibling-name conflict.
fn name_taken(name: &str) -> String {
    format!("A group named '{name}' already exists under this parent")
}

/// Whether `group_id` exists (and is not being deleted), read (on PostgreSQL) with `lock` so it
/// stays while the transaction lasts.
async fn group_exists(conn: &mut Conn, group_id: &str, lock: &str) -> Result<bool> {
    Ok(sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT 1 FROM groups WHERE id = $1 AND deleted_at IS NULL{lock}"
    )))
    .bind(group_id)
    .fetch_optional(conn)
    .await?
    .is_some())
}

/// What a group's members or roles are: the same writes over two tables.
#[derive(Clone, Copy)]
enum Relation {
    Members,
    Roles,
}

/// One relation's statements and names.
struct RelationSql {
    /// The ids of the list (`$1`, a JSON array) that do not exist.
    missing: &'static LazyLock<String>,
    /// Inserts the group (`$1`) with each listed id (`$2`), returning those new.
    insert: &'static LazyLock<String>,
    /// Deletes the group's (`$1`) rows with the listed ids (`$2`), returning those gone.
    delete: &'static LazyLock<String>,
    /// The request field (`members`, `roles`) and what its ids name (`User`, `Role`).
    field: &'static str,
    label: &'static str,
    /// The authz event kinds: added, removed.
    kinds: (&'static str, &'static str),
}

/// `table`'s rows missing among the listed ids (`$1`), in the list's order.
fn missing_sql(table: &str) -> String {
    format!(
        "SELECT l.id FROM ({}) l WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = l.id)",
        id_list("$1")
    )
}

/// Inserts `(group_id, column)` for the group `$1` and each distinct listed id (`$2`).
fn insert_sql(table: &str, column: &str) -> String {
    format!(
        "INSERT INTO {table} (group_id, {column}) SELECT DISTINCT $1, l.id FROM ({}) l \
         WHERE TRUE ON CONFLICT DO NOTHING RETURNING {column}",
        id_list("$2")
    )
}

/// Deletes the group's (`$1`) rows whose `column` is listed (`$2`).
fn delete_sql(table: &str, column: &str) -> String {
    format!(
        "DELETE FROM {table} WHERE group_id = $1 AND {column} IN ({}) RETURNING {column}",
        id_list("$2")
    )
}

static MISSING_USERS: LazyLock<String> = LazyLock::new(|| missing_sql("users"));
static MISSING_ROLES: LazyLock<String> = LazyLock::new(|| missing_sql("roles"));
static INSERT_MEMBERS: LazyLock<String> = LazyLock::new(|| insert_sql("group_members", "user_id"));
static INSERT_ROLES: LazyLock<String> = LazyLock::new(|| insert_sql("group_roles", "role_id"));
static DELETE_MEMBERS: LazyLock<String> = LazyLock::new(|| delete_sql("group_members", "user_id"));
static DELETE_ROLES: LazyLock<String> = LazyLock::new(|| delete_sql("group_roles", "role_id"));

impl Relation {
    fn sql(self) -> RelationSql {
        match self {
            Relation::Members => RelationSql {
                missing: &MISSING_USERS,
                insert: &INSERT_MEMBERS,
                delete: &DELETE_MEMBERS,
                field: "members",
                label: "User",
                kinds: ("group_member_added", "group_member_removed"),
            },
            Relation::Roles => RelationSql {
                missing: &MISSING_ROLES,
                insert: &INSERT_ROLES,
                delete: &DELETE_ROLES,
                field: "roles",
                label: "Role",
                kinds: ("group_roles_added", "group_roles_removed"),
            },
        }
    }
}

impl Store {
    /// Adds or removes the listed members or roles of a group in one transaction (each listed
    /// id must exist to be added) and bumps whom it concerns: the users added or removed, or,
    /// for roles, the subtree's members.
    async fn change_relation(
        &self,
        rel: Relation,
        group_id: &str,
        ids: &[String],
        add: bool,
    ) -> Result<()> {
        let sql = rel.sql();
        let list = to_json(&ids);
        let mut tx = self.authz_write().await?;
        if !group_exists(&mut tx, group_id, FOR_KEY_SHARE).await? {
            return Err(StoreError::NotFound("group"));
        }
        if add {
            let missing: Option<String> = sqlx::query_scalar(sql.missing.as_str())
                .bind(&list)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(m) = missing {
                let i = ids.iter().position(|id| *id == m).unwrap_or(0);
                return Err(ValidationError::new(
                    format!("{}[{i}]", sql.field),
                    format!("{} '{m}' does not exist", sql.label),
                )
                .into());
            }
        }
        let changed: Vec<String> =
            sqlx::query_scalar(if add { sql.insert } else { sql.delete }.as_str())
                .bind(group_id)
                .bind(&list)
                .fetch_all(&mut *tx)
                .await?;
        if !changed.is_empty() {
            let kind = if add { sql.kinds.0 } else { sql.kinds.1 };
            match rel {
                Relation::Members => bump_users(&mut tx, &to_json(&changed), kind).await?,
                Relation::Roles => bump(&mut tx, Affected::GroupTree(group_id), kind).await?,
            }
        }
        tx.commit().await
    }
}

#[async_trait]
impl GroupStore for Store {
    async fn create_group(
        &self,
        name: &str,
        description: &str,
        parent_id: Option<&str>,
    ) -> Result<Group> {
        let at = now_rfc3339();
        let g = Group {
            id: new_id("grp"),
            name: name.into(),
            description: description.into(),
            parent_id: parent_id.map(Into::into),
            created_at: at.clone(),
            updated_at: at,
        };
        let mut tx = self.write().await?;
        if let Some(p) = parent_id
            && !group_exists(&mut tx, p, FOR_KEY_SHARE).await?
        {
            return Err(parent_missing(p));
        }
        sqlx::query(
            "INSERT INTO groups (id, name, description, parent_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5)",
        )
        .bind(&g.id)
        .bind(&g.name)
        .bind(&g.description)
        .bind(&g.parent_id)
        .bind(&g.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unique(name_taken(name)))?;
        tx.commit().await?;
        Ok(g)
    }

    async fn get_group(&self, id: &str) -> Result<Group> {
        let select = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM groups g WHERE g.id = $1 AND g.deleted_at IS NULL"
        ));
        let r: Option<GroupRow> = self.by_key(select, id).await?;
        group(r.ok_or(StoreError::NotFound("group"))?)
    }

    async fn list_groups(&self, filter: &GroupFilter, page: Page) -> Result<Paged<Group>> {
        let search = filter.search.as_deref().map(like_pattern);
        let cond = format!(
            "g.deleted_at IS NULL AND ($1 IS NULL OR g.name = $1) \
             AND ($2 IS NULL OR g.name {LIKE} $2 ESCAPE '\\')"
        );
        self.paged(
            sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM groups g WHERE {cond} ORDER BY g.name, g.id \
                 LIMIT $3 OFFSET $4"
            )),
            sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM groups g WHERE {cond}")),
            &[filter.name.as_deref(), search.as_deref()],
            page,
            group,
        )
        .await
    }

    async fn update_group(&self, id: &str, change: &GroupChange) -> Result<Group> {
        let mut tx = self.authz_write().await?;
        let row: Option<GroupRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM groups g WHERE g.id = $1 AND g.deleted_at IS NULL{FOR_UPDATE}"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let mut g = group(row.ok_or(StoreError::NotFound("group"))?)?;
        // A new name changes the group names and paths tokens carry: its subtree's members
        // are bumped as for a move.
        let renamed = change.name.as_ref().is_some_and(|n| *n != g.name);
        if let Some(n) = &change.name {
            g.name = n.clone();
        }
        if let Some(d) = &change.description {
            g.description = d.clone();
        }
        let moved = match &change.parent_id {
            Some(p) if *p != g.parent_id => {
                if let Some(p) = p {
                    check_parent(&mut tx, id, p).await?;
                }
                g.parent_id = p.clone();
                true
            }
            _ => false,
        };
        g.updated_at = now_rfc3339();
        sqlx::query(
            "UPDATE groups SET name = $2, description = $3, parent_id = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(&g.id)
        .bind(&g.name)
        .bind(&g.description)
        .bind(&g.parent_id)
        .bind(&g.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(unique(name_taken(&g.name)))?;
        if moved {
            bump(&mut tx, Affected::GroupTree(id), "group_moved").await?;
        } else if renamed {
            bump(&mut tx, Affected::GroupTree(id), "group_renamed").await?;
        }
        tx.commit().await?;
        Ok(g)
    }

    async fn delete_group(&self, id: &str) -> Result<()> {
        static MARK: LazyLock<String> = LazyLock::new(|| {
            format!(
                "UPDATE groups SET deleted_at = $2, name = '/' || id, \
                   parent_id = CASE WHEN id = $1 THEN NULL ELSE parent_id END \
                 WHERE id IN ({GROUP_TREE})"
            )
        });
        static UNROLE: LazyLock<String> =
            LazyLock::new(|| format!("DELETE FROM group_roles WHERE group_id IN ({GROUP_TREE})"));
        let mut tx = self.authz_write().await?;
        if !group_exists(&mut tx, id, FOR_UPDATE).await? {
            return Err(StoreError::NotFound("group"));
        }
        // Every group of the subtree gets a version above all its members' (one record each,
        // read by followers as the members, who stay until swept) before it is detached.
        bump(&mut tx, Affected::GroupTree(id), "group_deleted").await?;
        sqlx::query(UNROLE.as_str())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(MARK.as_str())
            .bind(id)
            .bind(now_rfc3339())
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    }

    async fn sweep_deleted_groups(&self, batch: u32) -> Result<u64> {
        static LEAVE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "DELETE FROM group_members WHERE group_id = $1 AND user_id IN ({})",
                id_list("$2")
            )
        });
        let mut tx = self.authz_write().await?;
        let group: Option<String> = sqlx::query_scalar(
            "SELECT g.id FROM groups g WHERE g.deleted_at IS NOT NULL \
             AND EXISTS (SELECT 1 FROM group_members gm WHERE gm.group_id = g.id) LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(group) = group else {
            // Every member has left every deleted group (no one joins one: it reads as gone),
            // so the rows go; children with their parents or on their own, all at once.
            sqlx::query("DELETE FROM groups WHERE deleted_at IS NOT NULL")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(0);
        };
        let users: Vec<String> = sqlx::query_scalar(
            "SELECT user_id FROM group_members WHERE group_id = $1 ORDER BY user_id LIMIT $2",
        )
        .bind(&group)
        .bind(i64::from(batch.max(1)))
        .fetch_all(&mut *tx)
        .await?;
        let list = to_json(&users);
        // Their own versions rise above the group's (their tokens are refused once more), so
        // none falls back when the group no longer counts, and the feed tells followers that
        // read the group's record after they left.
        bump_users(&mut tx, &list, "group_deleted").await?;
        sqlx::query(LEAVE.as_str())
            .bind(&group)
            .bind(&list)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(users.len() as u64)
    }

    async fn group_members(&self, group_id: &str, page: Page) -> Result<Paged<UserSummary>> {
        self.get_group(group_id).await?;
        self.paged(
            "SELECT u.id, u.email, u.name FROM group_members gm JOIN users u ON u.id = gm.user_id \
             WHERE gm.group_id = $1 ORDER BY u.id LIMIT $2 OFFSET $3",
            "SELECT COUNT(*) FROM group_members WHERE group_id = $1",
            &[Some(group_id)],
            page,
            user_summary,
        )
        .await
    }

    async fn add_group_members(&self, group_id: &str, user_ids: &[String]) -> Result<()> {
        self.change_relation(Relation::Members, group_id, user_ids, true)
            .await
    }

    async fn remove_group_members(&self, group_id: &str, user_ids: &[String]) -> Result<()> {
        self.change_relation(Relation::Members, group_id, user_ids, false)
            .await
    }

    async fn group_roles(&self, group_id: &str, page: Page) -> Result<Paged<Role>> {
        self.get_group(group_id).await?;
        self.paged(
            "SELECT r.id, r.name, r.description FROM group_roles gr JOIN roles r ON r.id = gr.role_id \
             WHERE gr.group_id = $1 ORDER BY r.name, r.id LIMIT $2 OFFSET $3",
            "SELECT COUNT(*) FROM group_roles WHERE group_id = $1",
            &[Some(group_id)],
            page,
            role,
        )
        .await
    }

    async fn add_group_roles(&self, group_id: &str, role_ids: &[String]) -> Result<()> {
        self.change_relation(Relation::Roles, group_id, role_ids, true)
            .await
    }

    async fn remove_group_roles(&self, group_id: &str, role_ids: &[String]) -> Result<()> {
        self.change_relation(Relation::Roles, group_id, role_ids, false)
            .await
    }

    async fn role_groups(&self, role_id: &str, page: Page) -> Result<Paged<Group>> {
        self.get_role(role_id).await?;
        self.paged(
            sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM group_roles gr JOIN groups g ON g.id = gr.group_id \
                 WHERE gr.role_id = $1 ORDER BY g.name, g.id LIMIT $2 OFFSET $3"
            )),
            "SELECT COUNT(*) FROM group_roles WHERE role_id = $1",
            &[Some(role_id)],
            page,
            group,
        )
        .await
    }

    async fn user_groups(&self, user_id: &str, page: Page) -> Result<Paged<GroupPath>> {
        self.authz_version(user_id).await?;
        let groups = self
            .paged(
                sqlx::AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM group_members gm JOIN groups g ON g.id = gm.group_id \
                     WHERE gm.user_id = $1 AND g.deleted_at IS NULL \
                     ORDER BY g.name, g.id LIMIT $2 OFFSET $3"
                )),
                "SELECT COUNT(*) FROM group_members gm JOIN groups g ON g.id = gm.group_id \
                 WHERE gm.user_id = $1 AND g.deleted_at IS NULL",
                &[Some(user_id)],
                page,
                group,
            )
            .await?;
        let tree = user_group_tree(self, user_id).await?;
        Ok(Paged {
            items: groups
                .items
                .into_iter()
                .map(|group| GroupPath {
                    path: tree.path(&group.id),
                    group,
                })
                .collect(),
            total: groups.total,
        })
    }

    async fn effective_roles(&self, user_id: &str) -> Result<Vec<EffectiveRole>> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "WITH RECURSIVE {USER_GROUPS} \
                 SELECT r.id, r.name, r.description, CAST(NULL AS TEXT) AS group_id \
                   FROM user_roles ur CROSS JOIN roles r \
                   WHERE ur.user_id = $1 AND r.id = ur.role_id \
                 UNION ALL \
                 SELECT r.id, r.name, r.description, gr.group_id \
                   FROM ug CROSS JOIN group_roles gr CROSS JOIN roles r \
                   WHERE gr.group_id = ug.id AND r.id = gr.role_id"
            )
        });
        let rows: Vec<(String, String, String, Option<String>)> = sqlx::query_as(SQL.as_str())
            .bind(user_id)
            .fetch_all(&self.pool)
            .await?;
        if rows.is_empty() {
            self.authz_version(user_id).await?;
            return Ok(Vec::new());
        }
        let tree = if rows.iter().any(|r| r.3.is_some()) {
            user_group_tree(self, user_id).await?
        } else {
            Ancestry::default()
        };
        // By (name, id); sources direct first, then paths in order, once each.
        let mut roles: BTreeMap<(String, String), (String, Vec<RoleSource>)> = BTreeMap::new();
        for (id, name, description, group_id) in rows {
            let source = match group_id {
                Some(g) => RoleSource::Group(tree.path(&g)),
                None => RoleSource::Direct,
            };
            roles
                .entry((name, id))
                .or_insert_with(|| (description, Vec::new()))
                .1
                .push(source);
        }
        Ok(roles
            .into_iter()
            .map(|((name, id), (description, mut sources))| {
                sources.sort();
                sources.dedup();
                EffectiveRole {
                    id,
                    name,
                    description,
                    sources,
                }
            })
            .collect())
    }
}

/// The refusal of a parent that does not exist.
fn parent_missing(parent_id: &str) -> StoreError {
    ValidationError::new("parent_id", format!("Group '{parent_id}' does not exist")).into()
}

/// Checks, inside the move's transaction, that `parent_id` exists and is neither the group
/// `id` nor one of its descendants (the new parent's ancestors must not include `id`).
async fn check_parent(tx: &mut AuthzTx, id: &str, parent_id: &str) -> Result<()> {
    if !group_exists(tx, parent_id, FOR_KEY_SHARE).await? {
        return Err(parent_missing(parent_id));
    }
    let cycle = sqlx::query(
        "WITH RECURSIVE up(id) AS ( \
           SELECT id FROM groups WHERE id = $1 \
           UNION SELECT g.parent_id FROM groups g CROSS JOIN up \
             WHERE g.id = up.id AND g.parent_id IS NOT NULL) \
         SELECT 1 FROM up WHERE id = $2",
    )
    .bind(parent_id)
    .bind(id)
    .fetch_optional(&mut **tx)
    .await?
    .is_some();
    if cycle {
        return Err(ValidationError::new(
            "parent_id",
            "A group cannot be moved under itself or one of its descendants",
        )
        .into());
    }
    Ok(())
}
