//! Users of the built-in database connection: create, change (a password change or a block
//! ends every session and refresh token of the user, in the store's transaction), delete, and
//! their roles and direct permissions. Each write is recorded by [`Writ::recorded`].

use serde_json::{Map, Value};
use writ_core::Role;
use writ_core::{DEFAULT_CONNECTION, Permission, User, metadata, validate};
use writ_store::{NewUser, Page, Paged, PermissionInfo, Source};

use crate::audit::Operation;
use crate::{Actor, Result, ServiceError, Writ};

/// A user to create, or the properties of one to change (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct UserInput {
    /// Must be the built-in connection; required on create.
    pub connection: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    pub name: Option<String>,
    pub email_verified: Option<bool>,
    pub blocked: Option<bool>,
    /// Merged into the current one at the first level (a `null` value removes the key).
    pub app_metadata: Option<Map<String, Value>>,
    pub user_metadata: Option<Map<String, Value>>,
}

fn check_connection(c: &Option<String>, required: bool) -> Result<()> {
    match c {
        None if required => Err(ServiceError::missing("connection")),
        Some(c) if c != DEFAULT_CONNECTION => Err(ServiceError::invalid_message(
            Some("connection"),
            format!(
                "The connection does not exist: '{c}' (the built-in connection is '{DEFAULT_CONNECTION}')."
            ),
        )),
        _ => Ok(()),
    }
}

/// The `app_metadata` key the Authorization Extension compatibility computes.
pub const AUTHORIZATION: &str = "authorization";

fn check_metadata(field: &str, m: &Option<Map<String, Value>>) -> Result<()> {
    if let Some(m) = m
        && serde_json::to_vec(m).map_or(0, |v| v.len()) > 16 * 1024
    {
        return Err(ServiceError::invalid(
            field,
            format!("{field} must be at most 16 KiB"),
        ));
    }
    Ok(())
}

/// Whether the Authorization Extension compatibility is on: for the tenant
/// (`WRIT_AUTHORIZATION_EXTENSION`) or for at least one API (its `token_claims`).
pub fn extension_on(w: &Writ) -> bool {
    w.config.authorization_extension
        || w.catalog
            .load()
            .apis
            .values()
            .any(|a| a.token_claims.authorization_extension)
}

/// With the Authorization Extension compatibility on, `app_metadata.authorization` is Writ's
/// RBAC seen through the extension's shape: it cannot be written.
fn computed_is_read_only(w: &Writ, m: &Option<Map<String, Value>>) -> Result<()> {
    if extension_on(w) && m.as_ref().is_some_and(|m| m.contains_key(AUTHORIZATION)) {
        return Err(ServiceError::invalid(
            "app_metadata",
            "app_metadata.authorization is computed by Writ from the user's groups, roles and permissions (Authorization Extension compatibility) and cannot be set: change those instead",
        ));
    }
    Ok(())
}

/// The Authorization Extension's view of a user's access, computed now: `groups` (the names
/// of the user's groups and of every group above them), `roles` (effective roles, direct or
/// through groups) and `permissions` (effective permission names across every API), each
/// sorted and without repeats. `version` is the user's authz version as read with the user:
/// the groups and roles come from the cache tokens use, read again only when it moved.
pub async fn authorization(w: &Writ, id: &str, version: i64) -> Result<Value> {
    let m = w.memberships.get(w.store.as_ref(), id, version).await?;
    let permissions: Vec<String> = w
        .store
        .effective_permissions_with_sources(id, None)
        .await?
        .into_iter()
        .map(|p| p.permission_name)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok(m.authorization(&permissions))
}

/// `user` as the Management API shows it: with the Authorization Extension compatibility on,
/// its `app_metadata.authorization` computed now (see [`authorization`]).
pub async fn shown(w: &Writ, mut user: User) -> Result<User> {
    if extension_on(w) {
        let a = authorization(w, &user.user_id, user.authz_version).await?;
        user.app_metadata.insert(AUTHORIZATION.into(), a);
    }
    Ok(user)
}

async fn hash(w: &Writ, password: &str) -> Result<String> {
    w.hasher
        .hash(password)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

/// Checks a new password against the password policy (for the user with `email`) and hashes
/// it (argon2id): the path of passwords chosen on a reset link.
pub async fn new_password_hash(
    w: &Writ,
    field: &str,
    password: &str,
    email: Option<&str>,
) -> Result<String> {
    w.config.password_policy.validate(field, password, email)?;
    hash(w, password).await
}

/// Creates a user (the password is hashed with argon2id).
pub async fn create(w: &Writ, actor: &Actor, input: UserInput) -> Result<User> {
    let op = Operation::at("POST", "/users", "", 201);
    let change = async {
        check_connection(&input.connection, true)?;
        let email = input.email.ok_or_else(|| ServiceError::missing("email"))?;
        let email = validate::email("email", &email)?;
        let password = input
            .password
            .ok_or_else(|| ServiceError::missing("password"))?;
        w.config
            .password_policy
            .validate("password", &password, Some(&email))?;
        check_metadata("app_metadata", &input.app_metadata)?;
        check_metadata("user_metadata", &input.user_metadata)?;
        computed_is_read_only(w, &input.app_metadata)?;
        let name = input
            .name
            .map(|n| validate::name("name", &n, 300))
            .transpose()?;
        let password_hash = Some(hash(w, &password).await?);
        Ok(w.store
            .create_user(NewUser {
                email,
                password_hash,
                name,
                email_verified: input.email_verified.unwrap_or(false),
                blocked: input.blocked.unwrap_or(false),
                app_metadata: input.app_metadata.unwrap_or_default(),
                user_metadata: input.user_metadata.unwrap_or_default(),
            })
            .await?)
    };
    w.recorded(actor, op, change).await
}

/// Changes a user. A new password or a block ends the user's sessions and refresh tokens and
/// makes their access tokens stale (see `UserStore::update_user`).
pub async fn update(w: &Writ, actor: &Actor, id: &str, input: UserInput) -> Result<User> {
    let op = Operation::at("PATCH", "/users/{id}", id, 200);
    let change = async {
        check_connection(&input.connection, false)?;
        check_metadata("app_metadata", &input.app_metadata)?;
        check_metadata("user_metadata", &input.user_metadata)?;
        computed_is_read_only(w, &input.app_metadata)?;
        let mut u = w.store.get_user(id).await?;
        if let Some(e) = input.email {
            u.email = validate::email("email", &e)?;
        }
        if let Some(n) = input.name {
            u.name = Some(validate::name("name", &n, 300)?);
        }
        if let Some(v) = input.blocked {
            u.blocked = v;
        }
        if let Some(v) = input.email_verified {
            u.email_verified = v;
        }
        if let Some(m) = &input.app_metadata {
            metadata::merge(&mut u.app_metadata, m);
        }
        if let Some(m) = &input.user_metadata {
            metadata::merge(&mut u.user_metadata, m);
        }
        let new_hash = match input.password {
            Some(p) => {
                w.config
                    .password_policy
                    .validate("password", &p, Some(&u.email))?;
                Some(hash(w, &p).await?)
            }
            None => None,
        };
        Ok(w.store.update_user(&u, new_hash.as_deref()).await?)
    };
    w.recorded(actor, op, change).await
}

/// Deletes a user with everything that speaks for them.
pub async fn delete(w: &Writ, actor: &Actor, id: &str) -> Result<()> {
    let op = Operation::at("DELETE", "/users/{id}", id, 204);
    let change = async { Ok(w.store.delete_user(id).await?) };
    w.recorded(actor, op, change).await
}

/// Assigns roles to a user.
pub async fn assign_roles(w: &Writ, actor: &Actor, id: &str, roles: &[String]) -> Result<()> {
    let op = Operation::at("POST", "/users/{id}/roles", id, 204);
    crate::roles::change(w, actor, op, "roles", roles, || {
        w.store.assign_user_roles(id, roles)
    })
    .await
}

/// Removes roles from a user.
pub async fn remove_roles(w: &Writ, actor: &Actor, id: &str, roles: &[String]) -> Result<()> {
    let op = Operation::at("DELETE", "/users/{id}/roles", id, 204);
    crate::roles::change(w, actor, op, "roles", roles, || {
        w.store.remove_user_roles(id, roles)
    })
    .await
}

/// Grants permissions to a user directly.
pub async fn add_permissions(
    w: &Writ,
    actor: &Actor,
    id: &str,
    perms: &[Permission],
) -> Result<()> {
    let op = Operation::at("POST", "/users/{id}/permissions", id, 201);
    crate::roles::change(w, actor, op, "permissions", perms, || {
        w.store.add_user_permissions(id, perms)
    })
    .await
}

/// Removes direct permissions from a user.
pub async fn remove_permissions(
    w: &Writ,
    actor: &Actor,
    id: &str,
    perms: &[Permission],
) -> Result<()> {
    let op = Operation::at("DELETE", "/users/{id}/permissions", id, 204);
    crate::roles::change(w, actor, op, "permissions", perms, || {
        w.store.remove_user_permissions(id, perms)
    })
    .await
}

/// A page of users, oldest first; `search` as `GET /api/v2/users?q=`.
pub async fn list(w: &Writ, search: Option<&str>, page: Page) -> Result<Paged<User>> {
    Ok(w.store.list_users(search, page).await?)
}

/// One user.
pub async fn get(w: &Writ, id: &str) -> Result<User> {
    Ok(w.store.get_user(id).await?)
}

/// The user with this email address (case-folded), if any.
pub async fn by_email(w: &Writ, email: &str) -> Result<Option<User>> {
    Ok(w.store
        .users_by_email(&email.to_lowercase())
        .await?
        .into_iter()
        .next())
}

/// Every permission granted to a user directly.
pub async fn direct_permissions(w: &Writ, id: &str) -> Result<Vec<PermissionInfo>> {
    Ok(crate::paging::all_pages(|p| w.store.user_permissions(id, p)).await?)
}

/// Every role a user holds, sorted by name.
pub async fn roles(w: &Writ, id: &str) -> Result<Vec<Role>> {
    Ok(crate::paging::all_pages(|p| w.store.user_roles(id, p)).await?)
}

/// One permission a user holds at an API, and every reason they hold it (the direct grant
/// first, then each role by name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedPermission {
    pub name: String,
    pub description: String,
    pub sources: Vec<Source>,
}

impl SourcedPermission {
    /// Auth0's kinds of source, once each: `direct` (granted to the user) and `roles` (through
    /// any role, the user's own or a group's).
    pub fn source_kinds(&self) -> Vec<&'static str> {
        let mut kinds = Vec::new();
        if self.sources.iter().any(|s| matches!(s, Source::Direct)) {
            kinds.push("direct");
        }
        if self.sources.iter().any(|s| !matches!(s, Source::Direct)) {
            kinds.push("roles");
        }
        kinds
    }
}

/// A user's effective permissions at one API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiPermissions {
    pub identifier: String,
    pub name: String,
    /// The API enforces RBAC (`enforce_policies`): its tokens carry these permissions.
    pub rbac: bool,
    /// Sorted by name.
    pub permissions: Vec<SourcedPermission>,
}

/// A user's effective permissions — direct ∪ every role's — per API (sorted by identifier),
/// each with where it comes from: one store query, O(the user's roles and grants).
pub async fn effective_permissions(w: &Writ, id: &str) -> Result<Vec<ApiPermissions>> {
    let sources = w.store.effective_permissions_with_sources(id, None).await?;
    let catalog = w.catalog.load();
    Ok(by_api(sources, |api| {
        catalog.apis.get(api).is_some_and(|a| a.enforce_policies)
    }))
}

/// A user's effective permissions at the API `api` (direct, through roles, through groups'
/// roles), sorted by name, each with where it comes from; `NotFound` for an unknown API.
pub async fn effective_permissions_at(
    w: &Writ,
    id: &str,
    api: &str,
) -> Result<Vec<SourcedPermission>> {
    let rbac = match w.catalog.load().apis.get(api) {
        Some(a) => a.enforce_policies,
        None => return Err(writ_store::StoreError::NotFound("resource server").into()),
    };
    let sources = w
        .store
        .effective_permissions_with_sources(id, Some(api))
        .await?;
    Ok(by_api(sources, |_| rbac)
        .into_iter()
        .next()
        .map(|a| a.permissions)
        .unwrap_or_default())
}

/// Groups permission sources (in the store's order) by API, then permission.
fn by_api(
    sources: Vec<writ_store::PermissionSource>,
    rbac_of: impl Fn(&str) -> bool,
) -> Vec<ApiPermissions> {
    use std::collections::BTreeMap;
    // API identifier → (API name, permission → (description, sources)).
    type Perms = BTreeMap<String, (String, Vec<Source>)>;
    let mut apis: BTreeMap<String, (String, Perms)> = BTreeMap::new();
    for s in sources {
        let api = apis
            .entry(s.resource_server_identifier)
            .or_insert_with(|| (s.resource_server_name, BTreeMap::new()));
        let perm = api
            .1
            .entry(s.permission_name)
            .or_insert_with(|| (s.description, Vec::new()));
        if !perm.1.contains(&s.source) {
            perm.1.push(s.source);
        }
    }
    apis.into_iter()
        .map(|(identifier, (name, perms))| ApiPermissions {
            rbac: rbac_of(&identifier),
            identifier,
            name,
            permissions: perms
                .into_iter()
                .map(|(name, (description, sources))| SourcedPermission {
                    name,
                    description,
                    sources,
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use writ_store::PermissionSource;

    fn src(api: &str, name: &str, role: Option<&str>) -> PermissionSource {
        PermissionSource {
            resource_server_identifier: api.into(),
            resource_server_name: api.into(),
            permission_name: name.into(),
            description: String::new(),
            source: match role {
                Some(r) => Source::Role {
                    id: format!("rol_{r}"),
                    name: r.into(),
                },
                None => Source::Direct,
            },
        }
    }

    #[test]
    fn effective_permissions_name_their_sources() {
        // In the store's order: API, permission, the direct grant first, then roles by name.
        let eff = by_api(
            vec![
                src("a", "read", Some("editor")),
                src("a", "read", Some("viewer")),
                src("a", "write", None),
                src("a", "write", Some("editor")),
                src("b", "x", Some("viewer")),
            ],
            |id| id == "a",
        );
        assert_eq!(eff.len(), 2);
        let a = &eff[0];
        assert!(a.rbac);
        let label = |s: &Source| match s {
            Source::Direct => "direct".to_owned(),
            Source::Role { name, .. } => format!("role: {name}"),
            Source::Group {
                path, role_name, ..
            } => format!("role: {role_name} (group {path})"),
        };
        let by: Vec<(&str, Vec<String>)> = a
            .permissions
            .iter()
            .map(|p| (p.name.as_str(), p.sources.iter().map(label).collect()))
            .collect();
        assert_eq!(
            by,
            vec![
                ("read", vec!["role: editor".into(), "role: viewer".into()]),
                ("write", vec!["direct".into(), "role: editor".into()]),
            ]
        );
        assert!(!eff[1].rbac);
    }
}
