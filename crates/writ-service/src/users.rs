//! Users of the built-in database connection: create, change (a password change or a block
//! ends every session and refresh token of the user, in the store's transaction), delete, and
//! their roles and direct permissions. Each write is recorded by [`Writ::finish`].

use serde_json::{Map, Value};
use writ_core::{DEFAULT_CONNECTION, Permission, User, metadata, validate};
use writ_store::NewUser;

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

async fn hash(w: &Writ, password: &str) -> Result<String> {
    w.hasher
        .hash(password)
        .await
        .map_err(|e| ServiceError::Internal(e.to_string()))
}

/// Creates a user (the password is hashed with argon2id).
pub async fn create(w: &Writ, actor: &Actor, input: UserInput) -> Result<User> {
    let op = Operation::at("POST", "/users", "", 201);
    let result = async {
        check_connection(&input.connection, true)?;
        let email = input.email.ok_or_else(|| ServiceError::missing("email"))?;
        let email = validate::email("email", &email)?;
        let password = input
            .password
            .ok_or_else(|| ServiceError::missing("password"))?;
        validate::password("password", &password)?;
        check_metadata("app_metadata", &input.app_metadata)?;
        check_metadata("user_metadata", &input.user_metadata)?;
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
    }
    .await;
    w.finish(actor, op, result).await
}

/// Changes a user. A new password or a block ends the user's sessions and refresh tokens and
/// makes their access tokens stale (see `UserStore::update_user`).
pub async fn update(w: &Writ, actor: &Actor, id: &str, input: UserInput) -> Result<User> {
    let op = Operation::at("PATCH", "/users/{id}", id, 200);
    let result = async {
        check_connection(&input.connection, false)?;
        check_metadata("app_metadata", &input.app_metadata)?;
        check_metadata("user_metadata", &input.user_metadata)?;
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
                validate::password("password", &p)?;
                Some(hash(w, &p).await?)
            }
            None => None,
        };
        Ok(w.store.update_user(&u, new_hash.as_deref()).await?)
    }
    .await;
    w.finish(actor, op, result).await
}

/// Deletes a user with everything that speaks for them.
pub async fn delete(w: &Writ, actor: &Actor, id: &str) -> Result<()> {
    let op = Operation::at("DELETE", "/users/{id}", id, 204);
    let result = w.store.delete_user(id).await.map_err(Into::into);
    w.finish(actor, op, result).await
}

fn roles_given(roles: &[String]) -> Result<()> {
    if roles.is_empty() {
        return Err(ServiceError::invalid(
            "roles",
            "Array is too short (0), minimum 1",
        ));
    }
    Ok(())
}

/// Assigns roles to a user.
pub async fn assign_roles(w: &Writ, actor: &Actor, id: &str, roles: &[String]) -> Result<()> {
    let op = Operation::at("POST", "/users/{id}/roles", id, 204);
    let result = async {
        roles_given(roles)?;
        Ok(w.store.assign_user_roles(id, roles).await?)
    }
    .await;
    w.finish(actor, op, result).await
}

/// Removes roles from a user.
pub async fn remove_roles(w: &Writ, actor: &Actor, id: &str, roles: &[String]) -> Result<()> {
    let op = Operation::at("DELETE", "/users/{id}/roles", id, 204);
    let result = async {
        roles_given(roles)?;
        Ok(w.store.remove_user_roles(id, roles).await?)
    }
    .await;
    w.finish(actor, op, result).await
}

/// Grants permissions to a user directly.
pub async fn add_permissions(
    w: &Writ,
    actor: &Actor,
    id: &str,
    perms: &[Permission],
) -> Result<()> {
    let op = Operation::at("POST", "/users/{id}/permissions", id, 201);
    let result = async {
        crate::roles::permissions_given(perms)?;
        Ok(w.store.add_user_permissions(id, perms).await?)
    }
    .await;
    w.finish(actor, op, result).await
}

/// Removes direct permissions from a user.
pub async fn remove_permissions(
    w: &Writ,
    actor: &Actor,
    id: &str,
    perms: &[Permission],
) -> Result<()> {
    let op = Operation::at("DELETE", "/users/{id}/permissions", id, 204);
    let result = async {
        crate::roles::permissions_given(perms)?;
        Ok(w.store.remove_user_permissions(id, perms).await?)
    }
    .await;
    w.finish(actor, op, result).await
}
