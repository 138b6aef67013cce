//! Roles, users, their assignments and direct grants, and effective-permission evaluation
//! (with or without where each permission comes from). Each write that changes effective
//! permissions runs in an [`AuthzTx`] and bumps the affected users' authz versions in that
//! transaction.

use std::sync::LazyLock;

use async_trait::async_trait;
use sqlx::FromRow;
use writ_core::*;

use super::membership::{RoleRow, USER_GROUPS, role, user_group_tree, user_summary};
use super::{AuthzTx, Conn, FOR_UPDATE, LIKE, STRING_AGG, Store, bump, id_list};
use crate::common::{
    Affected, MAX_PERMISSIONS, MAX_ROLES_PER_USER, json_obj, like_pattern, new_id, now_rfc3339,
    to_json, unique,
};
use crate::*;

/// A user's authz version and the permission names their direct grants, roles and groups'
/// roles (through every ancestor group) give them for one API, space-separated (permission
/// names contain none, see `validate::scope_value`), with duplicates (`$1` user id, `$2` API
/// identifier); no row when the user does not exist.
///
/// One statement, so the version and the permissions come from one snapshot. Every step is an
/// index lookup keyed by this user: the `user_permissions` and `user_roles` primary keys, the
/// user's groups and their ancestors ([`USER_GROUPS`]), the `group_roles` primary key, then
/// `role_permissions` by (role, API): O(the user's roles, groups and grants), never O(users) or
/// O(the API's role permissions). `CROSS JOIN` fixes SQLite's join order to start from the
/// user's rows (PostgreSQL plans it as an inner join). Duplicates are removed in Rust, which
/// is cheaper than sorting in the database.
pub(crate) static EFFECTIVE_PERMISSIONS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH RECURSIVE rs AS (SELECT id FROM resource_servers WHERE identifier = $2), \
         {USER_GROUPS}, \
         p AS ( \
           SELECT up.permission FROM rs CROSS JOIN user_permissions up \
             WHERE up.user_id = $1 AND up.rs_id = rs.id \
           UNION ALL \
           SELECT rp.permission FROM rs CROSS JOIN user_roles ur CROSS JOIN role_permissions rp \
             WHERE ur.user_id = $1 AND rp.role_id = ur.role_id AND rp.rs_id = rs.id \
           UNION ALL \
           SELECT rp.permission FROM rs CROSS JOIN ug CROSS JOIN group_roles gr \
             CROSS JOIN role_permissions rp \
             WHERE gr.group_id = ug.id AND rp.role_id = gr.role_id AND rp.rs_id = rs.id) \
         SELECT {USER_VERSION}, (SELECT {STRING_AGG}(permission, ' ') FROM p) \
         FROM users u WHERE u.id = $1"
    )
});

/// The effective authz version of the user `u` (SQL): the newest of their own and their groups'.
/// A group's version covers its subtree (a change to what a group grants raises every group
/// below it, see the migration `0012_group_versions`), so the user's direct groups are enough:
/// one index range of `group_members` and a primary-key read per group.
const USER_VERSION: &str = "COALESCE((SELECT MAX(g.authz_version) FROM group_members gm \
       JOIN groups g ON g.id = gm.group_id \
       WHERE gm.user_id = u.id AND g.authz_version > u.authz_version), u.authz_version)";

/// A user row with its effective authz version ([`UserRow`]); the query goes on with `WHERE`.
static SELECT_USER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT u.id, u.email, u.email_verified, u.password_hash, u.name, u.blocked, \
           u.app_metadata, u.user_metadata, u.created_at, u.updated_at, \
           {USER_VERSION} AS authz_version FROM users u"
    )
});

static USER_BY_ID: LazyLock<String> = LazyLock::new(|| format!("{} WHERE u.id = $1", *SELECT_USER));
static USER_BY_EMAIL: LazyLock<String> =
    LazyLock::new(|| format!("{} WHERE u.email = $1", *SELECT_USER));

/// Every (API, permission) a user holds, once per source: direct grants, then each role's,
/// then each role's held by one of the user's groups or their ancestors (`$1` user id, `$2` an
/// API identifier or NULL for all), sorted by API identifier, permission, then the direct
/// grant (no role) before roles by name, then group roles (the last column, the group holding
/// the role, is NULL for the others; the caller names the group by its path). Starts from the
/// user's rows as [`EFFECTIVE_PERMISSIONS`] does: O(the user's roles, groups and grants).
/// PostgreSQL may still prefer scanning a table of a few pages (roles, scopes) to probing it.
static PERMISSION_SOURCES: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH RECURSIVE {USER_GROUPS} \
    SELECT rs.identifier, rs.name, up.permission, s.description, \
        CAST(NULL AS TEXT) AS role_id, CAST(NULL AS TEXT) AS role_name, \
        CAST(NULL AS TEXT) AS group_id \
      FROM user_permissions up CROSS JOIN resource_servers rs CROSS JOIN resource_server_scopes s \
      WHERE up.user_id = $1 AND rs.id = up.rs_id AND ($2 IS NULL OR rs.identifier = $2) \
        AND s.rs_id = up.rs_id AND s.value = up.permission \
    UNION ALL \
    SELECT rs.identifier, rs.name, rp.permission, s.description, r.id, r.name, \
        CAST(NULL AS TEXT) \
      FROM user_roles ur CROSS JOIN roles r CROSS JOIN role_permissions rp \
        CROSS JOIN resource_servers rs CROSS JOIN resource_server_scopes s \
      WHERE ur.user_id = $1 AND r.id = ur.role_id AND rp.role_id = ur.role_id \
        AND rs.id = rp.rs_id AND ($2 IS NULL OR rs.identifier = $2) \
        AND s.rs_id = rp.rs_id AND s.value = rp.permission \
    UNION ALL \
    SELECT rs.identifier, rs.name, rp.permission, s.description, r.id, r.name, gr.group_id \
      FROM ug CROSS JOIN group_roles gr CROSS JOIN roles r CROSS JOIN role_permissions rp \
        CROSS JOIN resource_servers rs CROSS JOIN resource_server_scopes s \
      WHERE gr.group_id = ug.id AND r.id = gr.role_id AND rp.role_id = gr.role_id \
        AND rs.id = rp.rs_id AND ($2 IS NULL OR rs.identifier = $2) \
        AND s.rs_id = rp.rs_id AND s.value = rp.permission \
    ORDER BY 1, 3, 7 NULLS FIRST, 6 NULLS FIRST"
    )
});

#[derive(FromRow)]
struct UserRow {
    id: String,
    email: String,
    email_verified: bool,
    password_hash: Option<String>,
    name: Option<String>,
    blocked: bool,
    app_metadata: String,
    user_metadata: String,
    created_at: String,
    updated_at: String,
    authz_version: i64,
}

impl UserRow {
    fn into_parts(self) -> Result<(User, Option<String>)> {
        Ok((
            User {
                app_metadata: json_obj(&self.app_metadata)?,
                user_metadata: json_obj(&self.user_metadata)?,
                user_id: self.id,
                email: self.email,
                email_verified: self.email_verified,
                name: self.name,
                blocked: self.blocked,
                created_at: self.created_at,
                updated_at: self.updated_at,
                authz_version: self.authz_version,
            },
            self.password_hash,
        ))
    }
    fn into_user(self) -> Result<User> {
        Ok(self.into_parts()?.0)
    }
}

/// The users of `ids` that exist, with their effective authz versions, read inside the
/// caller's transaction: one statement whatever their number (a batch of refresh-token
/// rotations reads its users with the rotation, see `login::rotate_many`).
pub(super) async fn users_in(conn: &mut Conn, ids: &[&str]) -> Result<Vec<User>> {
    static LISTED: LazyLock<String> =
        LazyLock::new(|| format!("{} WHERE u.id IN ({})", *SELECT_USER, id_list("$1")));
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<UserRow> = sqlx::query_as(LISTED.as_str())
        .bind(to_json(&ids))
        .fetch_all(&mut *conn)
        .await?;
    rows.into_iter().map(UserRow::into_user).collect()
}

/// Resolves permissions to `(rs_id, name)`, checking each exists in its API's catalog.
async fn resolve(conn: &mut Conn, perms: &[Permission]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(perms.len());
    for (i, p) in perms.iter().enumerate() {
        let rs: Option<String> = sqlx::query_scalar(
            "SELECT rs.id FROM resource_servers rs JOIN resource_server_scopes s ON s.rs_id = rs.id \
             WHERE rs.identifier = $1 AND s.value = $2",
        )
        .bind(&p.resource_server_identifier)
        .bind(&p.permission_name)
        .fetch_optional(&mut *conn)
        .await?;
        let rs = rs.ok_or_else(|| {
            ValidationError::new(
                format!("permissions[{i}]"),
                format!(
                    "Permission '{}' does not exist for resource server '{}'",
                    p.permission_name, p.resource_server_identifier
                ),
            )
        })?;
        out.push((rs, p.permission_name.clone()));
    }
    Ok(out)
}

/// Runs `sql` (a `SELECT 1 … WHERE id = $1`) and says whether it found a row.
async fn exists(conn: &mut Conn, sql: &'static str, id: &str) -> Result<bool> {
    Ok(sqlx::query(sql)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .is_some())
}

const PERM_INFO: &str = "SELECT rs.identifier, rs.name, p.permission, s.description FROM {T} p \
     JOIN resource_servers rs ON rs.id = p.rs_id \
     JOIN resource_server_scopes s ON s.rs_id = p.rs_id AND s.value = p.permission \
     WHERE p.{K} = $1 ORDER BY rs.identifier, p.permission LIMIT $2 OFFSET $3";

async fn perm_page(
    store: &Store,
    table: &str,
    key: &str,
    id: &str,
    page: Page,
) -> Result<Paged<PermissionInfo>> {
    store
        .paged(
            sqlx::AssertSqlSafe(PERM_INFO.replace("{T}", table).replace("{K}", key)),
            sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table} WHERE {key} = $1")),
            &[Some(id)],
            page,
            perm_info,
        )
        .await
}

/// A [`PERM_INFO`] row: API identifier, API name, permission, description.
type PermInfoRow = (String, String, String, String);

fn perm_info(
    (resource_server_identifier, resource_server_name, permission_name, description): PermInfoRow,
) -> Result<PermissionInfo> {
    Ok(PermissionInfo {
        resource_server_identifier,
        resource_server_name,
        permission_name,
        description,
    })
}

/// Whose permissions or role assignments change: a role's (fanned out to its holders) or a
/// user's.
#[derive(Clone, Copy)]
enum Owner<'a> {
    Role(&'a str),
    User(&'a str),
}

/// Statements per owner: (exists, insert, delete, count, not-found name, limit message).
struct OwnerSql {
    exists: &'static str,
    insert: &'static str,
    delete: &'static str,
    count: &'static str,
    what: &'static str,
    limit: &'static str,
}

impl Owner<'_> {
    fn id(&self) -> &str {
        match self {
            Owner::Role(id) | Owner::User(id) => id,
        }
    }

    fn sql(&self) -> OwnerSql {
        match self {
            Owner::Role(_) => OwnerSql {
                exists: "SELECT 1 FROM roles WHERE id = $1",
                insert: "INSERT INTO role_permissions (role_id, rs_id, permission) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                delete: "DELETE FROM role_permissions WHERE role_id = $1 AND rs_id = $2 AND permission = $3",
                count: "SELECT COUNT(*) FROM role_permissions WHERE role_id = $1",
                what: "role",
                limit: "A role can have at most 1000 permissions",
            },
            Owner::User(_) => OwnerSql {
                exists: "SELECT 1 FROM users WHERE id = $1",
                insert: "INSERT INTO user_permissions (user_id, rs_id, permission) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                delete: "DELETE FROM user_permissions WHERE user_id = $1 AND rs_id = $2 AND permission = $3",
                count: "SELECT COUNT(*) FROM user_permissions WHERE user_id = $1",
                what: "user",
                limit: "A user can have at most 1000 direct permissions",
            },
        }
    }

    fn affected(&self) -> Affected<'_> {
        match self {
            Owner::Role(id) => Affected::RoleHolders(id),
            Owner::User(id) => Affected::User(id),
        }
    }
}

impl Store {
    /// Adds or removes permissions of a role or a user in one transaction, enforcing Auth0's
    /// limit, and bumps the affected users' authz versions if anything changed.
    async fn change_permissions(
        &self,
        owner: Owner<'_>,
        perms: &[Permission],
        add: bool,
    ) -> Result<()> {
        let sql = owner.sql();
        let mut tx = self.authz_write().await?;
        if !exists(&mut tx, sql.exists, owner.id()).await? {
            return Err(StoreError::NotFound(sql.what));
        }
        let mut changed = 0;
        for (rs, name) in resolve(&mut tx, perms).await? {
            changed += sqlx::query(if add { sql.insert } else { sql.delete })
                .bind(owner.id())
                .bind(&rs)
                .bind(&name)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        if add {
            let count: i64 = sqlx::query_scalar(sql.count)
                .bind(owner.id())
                .fetch_one(&mut *tx)
                .await?;
            if count > MAX_PERMISSIONS {
                return Err(ValidationError::new("permissions", sql.limit).into());
            }
        }
        if changed > 0 {
            let kind = match (owner, add) {
                (Owner::Role(_), true) => "role_permissions_added",
                (Owner::Role(_), false) => "role_permissions_removed",
                (Owner::User(_), true) => "permissions_added",
                (Owner::User(_), false) => "permissions_removed",
            };
            bump(&mut tx, owner.affected(), kind).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Assigns in one transaction each of `others` (users, to a role owner; roles, to a user
    /// owner), checking that the owner and each of them exist; bumps each user whose roles
    /// changed.
    async fn assign_roles(&self, owner: Owner<'_>, others: &[String]) -> Result<()> {
        let (exists_other, field, label) = match owner {
            Owner::Role(_) => ("SELECT 1 FROM users WHERE id = $1", "users", "User"),
            Owner::User(_) => ("SELECT 1 FROM roles WHERE id = $1", "roles", "Role"),
        };
        let sql = owner.sql();
        let mut tx = self.authz_write().await?;
        if !exists(&mut tx, sql.exists, owner.id()).await? {
            return Err(StoreError::NotFound(sql.what));
        }
        for (i, other) in others.iter().enumerate() {
            if !exists(&mut tx, exists_other, other).await? {
                return Err(ValidationError::new(
                    format!("{field}[{i}]"),
                    format!("{label} '{other}' does not exist"),
                )
                .into());
            }
            match owner {
                Owner::Role(role) => assign(&mut tx, other, role).await?,
                Owner::User(user) => assign(&mut tx, user, other).await?,
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl RoleStore for Store {
    async fn create_role(&self, name: &str, description: &str) -> Result<Role> {
        let role = Role {
            id: new_id("rol"),
            name: name.into(),
            description: description.into(),
        };
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO roles (id, name, description, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&role.id)
        .bind(&role.name)
        .bind(&role.description)
        .bind(now_rfc3339())
        .execute(&mut *tx)
        .await
        .map_err(unique(format!("Role with name '{name}' already exists")))?;
        tx.commit().await?;
        Ok(role)
    }

    async fn get_role(&self, id: &str) -> Result<Role> {
        let r: Option<RoleRow> = self
            .by_key("SELECT id, name, description FROM roles WHERE id = $1", id)
            .await?;
        role(r.ok_or(StoreError::NotFound("role"))?)
    }

    async fn list_roles(&self, name_filter: Option<&str>, page: Page) -> Result<Paged<Role>> {
        let pattern = name_filter.map(like_pattern);
        let filter = format!("($1 IS NULL OR name {LIKE} $1 ESCAPE '\\')");
        self.paged(
            sqlx::AssertSqlSafe(format!(
                "SELECT id, name, description FROM roles WHERE {filter} ORDER BY name, id LIMIT $2 OFFSET $3"
            )),
            sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM roles WHERE {filter}")),
            &[pattern.as_deref()],
            page,
            role,
        )
        .await
    }

    async fn update_role(&self, role: &Role) -> Result<()> {
        // A new name changes the role names tokens carry: its holders are bumped.
        let mut tx = self.authz_write().await?;
        let old: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT name FROM roles WHERE id = $1{FOR_UPDATE}"
        )))
        .bind(&role.id)
        .fetch_optional(&mut *tx)
        .await?;
        let renamed = old.is_some_and(|n| n != role.name);
        let n = sqlx::query("UPDATE roles SET name = $2, description = $3 WHERE id = $1")
            .bind(&role.id)
            .bind(&role.name)
            .bind(&role.description)
            .execute(&mut *tx)
            .await
            .map_err(unique(format!(
                "Role with name '{}' already exists",
                role.name
            )))?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("role"));
        }
        if renamed {
            bump(&mut tx, Affected::RoleHolders(&role.id), "role_renamed").await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn delete_role(&self, id: &str) -> Result<()> {
        self.delete_bumping(
            Affected::RoleHolders(id),
            "role_deleted",
            "DELETE FROM roles WHERE id = $1",
            "role",
        )
        .await
    }

    async fn role_permissions(&self, role_id: &str, page: Page) -> Result<Paged<PermissionInfo>> {
        self.get_role(role_id).await?;
        perm_page(self, "role_permissions", "role_id", role_id, page).await
    }

    async fn add_role_permissions(&self, role_id: &str, perms: &[Permission]) -> Result<()> {
        self.change_permissions(Owner::Role(role_id), perms, true)
            .await
    }

    async fn remove_role_permissions(&self, role_id: &str, perms: &[Permission]) -> Result<()> {
        self.change_permissions(Owner::Role(role_id), perms, false)
            .await
    }

    async fn role_users(&self, role_id: &str, page: Page) -> Result<Paged<UserSummary>> {
        self.get_role(role_id).await?;
        self.paged(
            "SELECT u.id, u.email, u.name FROM user_roles ur JOIN users u ON u.id = ur.user_id WHERE ur.role_id = $1 \
             ORDER BY u.id LIMIT $2 OFFSET $3",
            "SELECT COUNT(*) FROM user_roles WHERE role_id = $1",
            &[Some(role_id)],
            page,
            user_summary,
        )
        .await
    }

    async fn assign_role_users(&self, role_id: &str, user_ids: &[String]) -> Result<()> {
        self.assign_roles(Owner::Role(role_id), user_ids).await
    }
}

/// Assigns one role to one user, enforcing the per-user limit; bumps if it was new.
async fn assign(tx: &mut AuthzTx, user_id: &str, role_id: &str) -> Result<()> {
    let n = sqlx::query(
        "INSERT INTO user_roles (user_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(user_id)
    .bind(role_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n > 0 {
        let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_roles WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&mut **tx)
            .await?;
        if count > MAX_ROLES_PER_USER {
            return Err(ValidationError::new(
                "roles",
                format!("A user can have at most {MAX_ROLES_PER_USER} roles"),
            )
            .into());
        }
        bump(tx, Affected::User(user_id), "role_assigned").await?;
    }
    Ok(())
}

#[async_trait]
impl UserStore for Store {
    async fn create_user(&self, u: NewUser) -> Result<User> {
        // Unique whatever case a caller sends (the core's validation folds it already).
        let email = u.email.to_lowercase();
        let id = new_id("usr");
        let at = now_rfc3339();
        let mut tx = self.write().await?;
        sqlx::query(
            "INSERT INTO users (id, email, email_verified, password_hash, name, blocked, app_metadata, user_metadata, created_at, updated_at, authz_version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, 0)",
        )
        .bind(&id)
        .bind(&email)
        .bind(u.email_verified)
        .bind(&u.password_hash)
        .bind(&u.name)
        .bind(u.blocked)
        .bind(to_json(&u.app_metadata))
        .bind(to_json(&u.user_metadata))
        .bind(&at)
        .execute(&mut *tx)
        .await
        .map_err(unique("The user already exists."))?;
        tx.commit().await?;
        Ok(User {
            user_id: id,
            email,
            email_verified: u.email_verified,
            name: u.name,
            blocked: u.blocked,
            app_metadata: u.app_metadata,
            user_metadata: u.user_metadata,
            created_at: at.clone(),
            updated_at: at,
            // Rows start below every change's version (a change's is its event's seq, ≥ 1).
            authz_version: 0,
        })
    }

    async fn get_user(&self, id: &str) -> Result<User> {
        let r: Option<UserRow> = self.by_key(USER_BY_ID.as_str(), id).await?;
        r.ok_or(StoreError::NotFound("user"))?.into_user()
    }

    async fn users_by_email(&self, email: &str) -> Result<Vec<User>> {
        Ok(self
            .credentials_by_email(email)
            .await?
            .map(|c| c.user)
            .into_iter()
            .collect())
    }

    async fn credentials_by_email(&self, email: &str) -> Result<Option<Credentials>> {
        let r: Option<UserRow> = self
            .by_key(USER_BY_EMAIL.as_str(), &email.to_lowercase())
            .await?;
        r.map(|r| {
            r.into_parts().map(|(user, password_hash)| Credentials {
                user,
                password_hash,
            })
        })
        .transpose()
    }

    async fn list_users(&self, q: Option<&str>, page: Page) -> Result<Paged<User>> {
        let pattern = q.map(like_pattern);
        let filter =
            format!("($1 IS NULL OR email {LIKE} $1 ESCAPE '\\' OR name {LIKE} $1 ESCAPE '\\')");
        self.paged(
            sqlx::AssertSqlSafe(format!(
                "{} WHERE {filter} ORDER BY u.created_at, u.id LIMIT $2 OFFSET $3",
                *SELECT_USER
            )),
            sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM users WHERE {filter}")),
            &[pattern.as_deref()],
            page,
            UserRow::into_user,
        )
        .await
    }

    async fn update_user(&self, u: &User, password_hash: Option<&str>) -> Result<User> {
        let mut tx = self.authz_write().await?;
        let old: Option<UserRow> = sqlx::query_as(USER_BY_ID.as_str())
            .bind(&u.user_id)
            .fetch_optional(&mut *tx)
            .await?;
        let (old, _) = old.ok_or(StoreError::NotFound("user"))?.into_parts()?;
        sqlx::query(
            "UPDATE users SET email = $2, email_verified = $3, name = $4, blocked = $5, app_metadata = $6, user_metadata = $7, \
             updated_at = $8, password_hash = COALESCE($9, password_hash) WHERE id = $1",
        )
        .bind(&u.user_id)
        .bind(u.email.to_lowercase())
        .bind(u.email_verified)
        .bind(&u.name)
        .bind(u.blocked)
        .bind(to_json(&u.app_metadata))
        .bind(to_json(&u.user_metadata))
        .bind(now_rfc3339())
        .bind(password_hash)
        .execute(&mut *tx)
        .await
        .map_err(unique("The specified new email already exists"))?;
        let kind = if old.blocked != u.blocked {
            Some(if u.blocked {
                "user_blocked"
            } else {
                "user_unblocked"
            })
        } else if password_hash.is_some() {
            Some("password_changed")
        } else if old.app_metadata != u.app_metadata {
            Some("app_metadata_changed")
        } else {
            None
        };
        if let Some(kind) = kind {
            bump(&mut tx, Affected::User(&u.user_id), kind).await?;
        }
        // Whoever held the old password (or the account before the block) is signed out.
        if password_hash.is_some() || (u.blocked && !old.blocked) {
            super::end_user_sessions(&mut tx, &u.user_id).await?;
        }
        let row: UserRow = sqlx::query_as(USER_BY_ID.as_str())
            .bind(&u.user_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        row.into_user()
    }

    async fn rehash_password(&self, user_id: &str, old: &str, new: &str) -> Result<bool> {
        let n = self
            .write_one(
                sqlx::query(
                    "UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2",
                )
                .bind(user_id)
                .bind(old)
                .bind(new),
            )
            .await?;
        Ok(n == 1)
    }

    async fn delete_user(&self, id: &str) -> Result<()> {
        self.delete_bumping(
            Affected::User(id),
            "user_deleted",
            "DELETE FROM users WHERE id = $1",
            "user",
        )
        .await
    }

    async fn user_roles(&self, user_id: &str, page: Page) -> Result<Paged<Role>> {
        self.get_user(user_id).await?;
        self.paged(
            "SELECT r.id, r.name, r.description FROM user_roles ur JOIN roles r ON r.id = ur.role_id WHERE ur.user_id = $1 \
             ORDER BY r.name LIMIT $2 OFFSET $3",
            "SELECT COUNT(*) FROM user_roles WHERE user_id = $1",
            &[Some(user_id)],
            page,
            role,
        )
        .await
    }

    async fn assign_user_roles(&self, user_id: &str, role_ids: &[String]) -> Result<()> {
        self.assign_roles(Owner::User(user_id), role_ids).await
    }

    async fn remove_user_roles(&self, user_id: &str, role_ids: &[String]) -> Result<()> {
        let mut tx = self.authz_write().await?;
        if !exists(&mut tx, "SELECT 1 FROM users WHERE id = $1", user_id).await? {
            return Err(StoreError::NotFound("user"));
        }
        let mut removed = 0;
        for r in role_ids {
            removed += sqlx::query("DELETE FROM user_roles WHERE user_id = $1 AND role_id = $2")
                .bind(user_id)
                .bind(r)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        }
        if removed > 0 {
            bump(&mut tx, Affected::User(user_id), "role_unassigned").await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn user_permissions(&self, user_id: &str, page: Page) -> Result<Paged<PermissionInfo>> {
        self.get_user(user_id).await?;
        perm_page(self, "user_permissions", "user_id", user_id, page).await
    }

    async fn add_user_permissions(&self, user_id: &str, perms: &[Permission]) -> Result<()> {
        self.change_permissions(Owner::User(user_id), perms, true)
            .await
    }

    async fn remove_user_permissions(&self, user_id: &str, perms: &[Permission]) -> Result<()> {
        self.change_permissions(Owner::User(user_id), perms, false)
            .await
    }

    async fn authz_version(&self, user_id: &str) -> Result<i64> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {USER_VERSION} FROM users u WHERE u.id = $1"));
        let v: Option<i64> = sqlx::query_scalar(SQL.as_str())
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await?;
        v.ok_or(StoreError::NotFound("user"))
    }

    async fn effective_permissions(
        &self,
        user_id: &str,
        api_identifier: &str,
    ) -> Result<(Vec<String>, i64)> {
        let row: Option<(i64, Option<String>)> = sqlx::query_as(EFFECTIVE_PERMISSIONS.as_str())
            .bind(user_id)
            .bind(api_identifier)
            .fetch_optional(&self.pool)
            .await?;
        let (version, list) = row.ok_or(StoreError::NotFound("user"))?;
        let perms = writ_core::rbac::effective_permissions(
            list.as_deref().unwrap_or("").split_ascii_whitespace(),
        );
        Ok((perms, version))
    }

    async fn effective_permissions_with_sources(
        &self,
        user_id: &str,
        api_identifier: Option<&str>,
    ) -> Result<Vec<PermissionSource>> {
        type Row = (
            String,
            String,
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
        );
        let rows: Vec<Row> = sqlx::query_as(PERMISSION_SOURCES.as_str())
            .bind(user_id)
            .bind(api_identifier)
            .fetch_all(&self.pool)
            .await?;
        // Nothing found: the user may hold nothing, or not exist (a second read, only then).
        if rows.is_empty() {
            self.authz_version(user_id).await?;
        }
        // Group paths, read only when a permission comes through a group.
        let tree = if rows.iter().any(|r| r.6.is_some()) {
            user_group_tree(self, user_id).await?
        } else {
            Default::default()
        };
        let mut out: Vec<PermissionSource> = rows
            .into_iter()
            .map(
                |(api, api_name, permission, description, role_id, role_name, group_id)| {
                    PermissionSource {
                        resource_server_identifier: api,
                        resource_server_name: api_name,
                        permission_name: permission,
                        description,
                        source: match (role_id, role_name, group_id) {
                            (Some(role_id), Some(role_name), Some(group)) => Source::Group {
                                path: tree.path(&group),
                                role_id,
                                role_name,
                            },
                            (Some(id), Some(name), None) => Source::Role { id, name },
                            _ => Source::Direct,
                        },
                    }
                },
            )
            .collect();
        // Group sources by path, then role name (the direct grant and roles keep their order).
        out.sort_by(|a, b| source_order(a).cmp(&source_order(b)));
        Ok(out)
    }
}

/// The order of permission sources: API, permission, the direct grant, roles (in the query's
/// order, by name), then group roles by group path and role name.
fn source_order(p: &PermissionSource) -> (&str, &str, u8, &str, &str) {
    let (rank, path, role) = match &p.source {
        Source::Direct => (0, "", ""),
        Source::Role { .. } => (1, "", ""),
        Source::Group {
            path, role_name, ..
        } => (2, path.as_str(), role_name.as_str()),
    };
    (
        &p.resource_server_identifier,
        &p.permission_name,
        rank,
        path,
        role,
    )
}
