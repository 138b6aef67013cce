//! Auth0's bulk user import: users (and their password hashes) moving from Auth0 or another
//! system into Writ with the file Auth0 itself accepts (`POST /api/v2/jobs/users-imports`;
//! the HTTP edge reads the multipart form and keeps the finished jobs).
//!
//! Each user is written in its own transaction, so one bad entry never spoils the others.
//! Importing the same file twice changes nothing: a user whose email exists is skipped
//! (`DUPLICATED_USER`), or with `upsert=true` updated only where the file differs (else
//! skipped as `UNCHANGED`); a later entry repeating an earlier entry's email is skipped
//! (`DUPLICATED_IN_FILE`). Upsert follows Auth0's table of upsertable fields: `email_verified`,
//! the name, `app_metadata` and `user_metadata` (merged as `PATCH /users/{id}` does), and a
//! `custom_password_hash` while the stored one is still an imported hash never used to log in;
//! `blocked` and `password_hash` are only read on creation.
//!
//! Writ keeps `email`, `email_verified`, `name` (or `given_name` + `family_name`), `blocked`,
//! the metadata and the password hash; `user_id`, `username`, `nickname` and `picture` are
//! accepted and not stored (Writ assigns its own `usr_…` ids and derives the nickname from the
//! email). Password hashes are checked as described in [`crate::crypto::imported`] and stored
//! wrapped in argon2id (*Wrapped forms* there: every password check then costs the same, so
//! response times do not reveal imported users); algorithms Writ cannot verify (scrypt, HMAC
//! with RIPEMD-160 or Whirlpool, LDAP `{CRYPT}`) fail the entry with `UNSUPPORTED_ALGORITHM`.
//! Wrapping costs one argon2id hash per password hash written, computed for the whole file on
//! the password hasher's pool before the users are written (users skipped as existing cost
//! none).

use std::collections::HashMap;

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value, json};
use writ_core::{DEFAULT_CONNECTION, metadata, validate};
use writ_store::{NewUser, StoreError};

use crate::audit::Operation;
use crate::crypto::imported::{self, CustomPasswordHash, ImportHashError};
use crate::crypto::needs_rehash;
use crate::{Actor, Result, ServiceError, Writ};

/// The id of the built-in database connection in Auth0's `con_…` form; `connection_id` may
/// be this or the connection's name, `Username-Password-Authentication`.
pub const CONNECTION_ID: &str = "con_writdatabase0001";

/// Properties of Auth0's user import schema.
const PROPERTIES: &[&str] = &[
    "email",
    "email_verified",
    "user_id",
    "username",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "blocked",
    "password_hash",
    "custom_password_hash",
    "app_metadata",
    "user_metadata",
];

/// Keys Auth0 forbids in an imported user's `app_metadata`.
const RESERVED_APP_METADATA: &[&str] = &[
    "__tenant",
    "_id",
    "blocked",
    "clientID",
    "created_at",
    "email_verified",
    "email",
    "globalClientID",
    "global_client_id",
    "identities",
    "lastIP",
    "lastLogin",
    "loginsCount",
    "metadata",
    "multifactor_last_modified",
    "multifactor",
    "updated_at",
    "user_id",
];

/// Counts of a finished import: every user is exactly one of inserted, updated, skipped,
/// failed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub total: usize,
    pub inserted: usize,
    pub updated: usize,
    pub skipped: usize,
    pub failed: usize,
}

/// An import request: the users file as sent, the connection named and the upsert flag.
#[derive(Debug, Clone, Default)]
pub struct ImportInput {
    /// The file: a JSON array of users in Auth0's bulk-import format.
    pub users: Option<Vec<u8>>,
    pub connection_id: Option<String>,
    /// Update users whose email exists (else skip them).
    pub upsert: bool,
}

/// What an import did: the counts, and one Auth0 `/errors` item (with `index` and `outcome`)
/// per user skipped or failed.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    pub summary: Summary,
    pub errors: Vec<Value>,
}

fn bad_file(message: impl Into<String>) -> ServiceError {
    ServiceError::invalid_message(Some("users"), message)
}

/// Imports a users file, recorded as `POST /jobs/users-imports`. The caller must hold
/// `create:users`, and `update:users` too with upsert (checked by the edge, which knows the
/// token).
pub async fn import_users(w: &Writ, actor: &Actor, input: ImportInput) -> Result<ImportReport> {
    let op = Operation::at("POST", "/jobs/users-imports", "", 202);
    let change = async {
        let connection = input
            .connection_id
            .ok_or_else(|| ServiceError::missing("connection_id"))?;
        let connection = connection.trim();
        if connection != CONNECTION_ID && connection != DEFAULT_CONNECTION {
            return Err(ServiceError::invalid_message(
                Some("connection_id"),
                format!(
                    "The connection does not exist: '{connection}' (the built-in connection is '{CONNECTION_ID}', named '{DEFAULT_CONNECTION}')."
                ),
            ));
        }
        let users = input.users.ok_or_else(|| ServiceError::missing("users"))?;
        let users: Vec<Value> = match serde_json::from_slice(&users) {
            Ok(Value::Array(a)) if !a.is_empty() => a,
            Ok(Value::Array(_)) => {
                return Err(bad_file("The users file must contain at least one user."));
            }
            Ok(_) => return Err(bad_file("The users file must be a JSON array of users.")),
            Err(e) => return Err(bad_file(format!("The users file is not valid JSON: {e}"))),
        };
        let (summary, errors) = import(w, &users, input.upsert).await;
        tracing::info!(
            total = summary.total,
            inserted = summary.inserted,
            updated = summary.updated,
            skipped = summary.skipped,
            failed = summary.failed,
            "users import"
        );
        Ok(ImportReport { summary, errors })
    };
    w.recorded(actor, op, change).await
}

/// Why one user was not inserted or updated.
#[derive(Debug, Clone)]
pub struct EntryError {
    pub code: &'static str,
    message: String,
    path: String,
    skipped: bool,
}

impl EntryError {
    fn failed(code: &'static str, path: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            path: path.to_owned(),
            skipped: false,
        }
    }

    fn skipped(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            path: "#/email".into(),
            skipped: true,
        }
    }
}

/// One valid entry of the file.
#[derive(Debug)]
pub struct Entry {
    email: String,
    email_verified: Option<bool>,
    name: Option<String>,
    blocked: Option<bool>,
    app_metadata: Option<Map<String, Value>>,
    user_metadata: Option<Map<String, Value>>,
    /// The imported hash (as [`imported`] checked it, not yet wrapped), and whether it came
    /// from `custom_password_hash` (upsertable).
    pub password_hash: Option<(String, bool)>,
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn wrong_type(field: &str, expected: &str, v: &Value) -> EntryError {
    EntryError::failed(
        "INVALID_TYPE",
        &format!("#/{field}"),
        format!("Expected type {expected} but found type {}", type_name(v)),
    )
}

/// Checks one entry of the file against Auth0's schema and Writ's rules.
pub fn parse_entry(v: &Value) -> std::result::Result<Entry, EntryError> {
    let Some(o) = v.as_object() else {
        return Err(EntryError::failed(
            "INVALID_TYPE",
            "#/",
            format!("Expected type object but found type {}", type_name(v)),
        ));
    };
    if let Some(k) = o.keys().find(|k| !PROPERTIES.contains(&k.as_str())) {
        return Err(EntryError::failed(
            "OBJECT_ADDITIONAL_PROPERTIES",
            "#/",
            format!("Additional properties not allowed: {k}"),
        ));
    }
    let string = |k: &str| -> std::result::Result<Option<&str>, EntryError> {
        match o.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(k, "string", other)),
        }
    };
    let boolean = |k: &str| -> std::result::Result<Option<bool>, EntryError> {
        match o.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(k, "boolean", other)),
        }
    };
    let object = |k: &str| -> std::result::Result<Option<Map<String, Value>>, EntryError> {
        match o.get(k) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m.clone())),
            Some(other) => Err(wrong_type(k, "object", other)),
        }
    };
    for k in ["user_id", "username", "nickname", "picture"] {
        string(k)?;
    }
    let email = string("email")?.ok_or_else(|| {
        EntryError::failed(
            "OBJECT_MISSING_REQUIRED_PROPERTY",
            "#/",
            "Missing required property: email",
        )
    })?;
    let email = validate::email("email", email).map_err(|_| {
        EntryError::failed(
            "INVALID_FORMAT",
            "#/email",
            format!("Object didn't pass validation for format email: {email}"),
        )
    })?;
    let name = match (
        string("name")?,
        string("given_name")?,
        string("family_name")?,
    ) {
        (Some(n), _, _) => Some(n.to_owned()),
        (None, g, f) => {
            let joined = [g, f].into_iter().flatten().collect::<Vec<_>>().join(" ");
            (!joined.trim().is_empty()).then_some(joined)
        }
    };
    let name = name
        .map(|n| {
            validate::name("name", &n, 300)
                .map_err(|e| EntryError::failed("INVALID_FORMAT", "#/name", e.reason))
        })
        .transpose()?;
    let app_metadata = object("app_metadata")?;
    let user_metadata = object("user_metadata")?;
    for (field, m) in [
        ("app_metadata", &app_metadata),
        ("user_metadata", &user_metadata),
    ] {
        if let Some(m) = m
            && serde_json::to_vec(m).map_or(0, |v| v.len()) > 16 * 1024
        {
            return Err(EntryError::failed(
                "INVALID_FORMAT",
                &format!("#/{field}"),
                format!("{field} must be at most 16 KiB"),
            ));
        }
    }
    if let Some(k) = app_metadata
        .iter()
        .flat_map(|m| m.keys())
        .find(|k| RESERVED_APP_METADATA.contains(&k.as_str()))
    {
        return Err(EntryError::failed(
            "INVALID_FORMAT",
            &format!("#/app_metadata/{k}"),
            format!("app_metadata must not contain the reserved property '{k}'"),
        ));
    }
    let hash_error = |path: &str, e: ImportHashError| match e {
        ImportHashError::Unsupported(_) => {
            EntryError::failed("UNSUPPORTED_ALGORITHM", path, e.to_string())
        }
        ImportHashError::Invalid(m) => EntryError::failed("INVALID_PASSWORD_HASH", path, m),
    };
    let password_hash = match (string("password_hash")?, o.get("custom_password_hash")) {
        (Some(_), Some(_)) => {
            return Err(EntryError::failed(
                "INVALID_PASSWORD_HASH",
                "#/",
                "password_hash and custom_password_hash are mutually exclusive",
            ));
        }
        (Some(h), None) => Some((
            imported::bcrypt_hash(h).map_err(|e| hash_error("#/password_hash", e))?,
            false,
        )),
        (None, Some(c)) => {
            if !c.is_object() {
                return Err(wrong_type("custom_password_hash", "object", c));
            }
            let custom: CustomPasswordHash = serde_json::from_value(c.clone()).map_err(|e| {
                EntryError::failed(
                    "INVALID_PASSWORD_HASH",
                    "#/custom_password_hash",
                    format!("custom_password_hash: {e}"),
                )
            })?;
            Some((
                imported::from_auth0(&custom)
                    .map_err(|e| hash_error("#/custom_password_hash", e))?,
                true,
            ))
        }
        (None, None) => None,
    };
    Ok(Entry {
        email,
        email_verified: boolean("email_verified")?,
        name,
        blocked: boolean("blocked")?,
        app_metadata,
        user_metadata,
        password_hash,
    })
}

/// What happened to one valid entry.
enum Outcome {
    Inserted,
    Updated,
}

/// The password hash an entry will store, worked out before any write, so that the argon2id
/// wrapping (see [`PasswordHasherPool::wrap_imported`]) of a whole file runs at once on the
/// hasher's pool, and only for the hashes that will be written: a new user's, or, with upsert,
/// one replacing an imported hash never used to log in and different from the file's.
///
/// [`PasswordHasherPool::wrap_imported`]: crate::crypto::PasswordHasherPool::wrap_imported
enum HashPlan {
    /// Nothing to store: no hash in the file, or it will not be written.
    Nothing,
    /// The wrapped hash to store.
    Store(String),
    /// The file's hash could not be wrapped.
    Invalid,
}

async fn plan_hash(w: &Writ, e: &Entry, upsert: bool) -> std::result::Result<HashPlan, StoreError> {
    let Some((legacy, upsertable)) = &e.password_hash else {
        return Ok(HashPlan::Nothing);
    };
    if let Some(c) = w.store.credentials_by_email(&e.email).await? {
        let stored = c.password_hash.as_deref();
        if !(upsert && *upsertable && stored.is_none_or(needs_rehash)) {
            return Ok(HashPlan::Nothing);
        }
        // The same hash again (stored wrapped): unchanged.
        if let Some(st) = stored
            && w.hasher.holds_imported(st, legacy).await
        {
            return Ok(HashPlan::Nothing);
        }
    }
    Ok(match w.hasher.wrap_imported(legacy).await {
        Some(w) => HashPlan::Store(w),
        None => HashPlan::Invalid,
    })
}

/// Writes one valid entry (its own transaction), with the password hash [`plan_hash`] chose.
async fn apply(
    w: &Writ,
    e: Entry,
    plan: HashPlan,
    upsert: bool,
) -> std::result::Result<Outcome, EntryError> {
    let internal = |err: StoreError| {
        tracing::error!(error = %err, "users import");
        EntryError::failed("INTERNAL_ERROR", "#/", "Internal error")
    };
    let wrapped = match plan {
        HashPlan::Invalid => {
            return Err(EntryError::failed(
                "INVALID_PASSWORD_HASH",
                "#/",
                "The password hash could not be stored",
            ));
        }
        HashPlan::Store(w) => Some(w),
        HashPlan::Nothing => None,
    };
    let existing = w
        .store
        .credentials_by_email(&e.email)
        .await
        .map_err(internal)?;
    let Some(existing) = existing else {
        if e.password_hash.is_some() && wrapped.is_none() {
            // The user existed when the hashes were prepared, and is gone now.
            return Err(EntryError::failed(
                "INTERNAL_ERROR",
                "#/",
                "The user was deleted during the import",
            ));
        }
        let created = w
            .store
            .create_user(NewUser {
                email: e.email,
                password_hash: wrapped,
                name: e.name,
                email_verified: e.email_verified.unwrap_or(false),
                blocked: e.blocked.unwrap_or(false),
                app_metadata: e.app_metadata.unwrap_or_default(),
                user_metadata: e.user_metadata.unwrap_or_default(),
            })
            .await;
        return match created {
            Ok(_) => Ok(Outcome::Inserted),
            // Created concurrently by someone else: the same as existing.
            Err(StoreError::Conflict(_)) => Err(EntryError::skipped(
                "DUPLICATED_USER",
                "The user already exists and upsert is false",
            )),
            Err(err) => Err(internal(err)),
        };
    };
    if !upsert {
        return Err(EntryError::skipped(
            "DUPLICATED_USER",
            "The user already exists and upsert is false",
        ));
    }
    let mut u = existing.user.clone();
    if let Some(v) = e.email_verified {
        u.email_verified = v;
    }
    if let Some(n) = e.name {
        u.name = Some(n);
    }
    if let Some(m) = &e.app_metadata {
        metadata::merge(&mut u.app_metadata, m);
    }
    if let Some(m) = &e.user_metadata {
        metadata::merge(&mut u.user_metadata, m);
    }
    // A custom hash replaces the stored one only while that is still an imported hash that
    // was never used to log in (a login re-hashes it to argon2id), and only when it differs
    // (see `plan_hash`; checked again here, as a login may have re-hashed it since).
    let stored = existing.password_hash.as_deref();
    let new_hash = match (&e.password_hash, wrapped) {
        (Some((_, true)), Some(w)) if stored.is_none_or(needs_rehash) => Some(w),
        _ => None,
    };
    if u == existing.user && new_hash.is_none() {
        return Err(EntryError::skipped(
            "UNCHANGED",
            "The user already exists with these properties",
        ));
    }
    match w.store.update_user(&u, new_hash.as_deref()).await {
        Ok(_) => Ok(Outcome::Updated),
        Err(StoreError::NotFound(_)) => Err(EntryError::failed(
            "INTERNAL_ERROR",
            "#/",
            "The user was deleted during the import",
        )),
        Err(err) => Err(internal(err)),
    }
}

/// The user as submitted, without its password hash (never echoed back).
fn redacted(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("password_hash");
        o.remove("custom_password_hash");
    }
    v
}

/// Imports the users of one file, in order.
async fn import(w: &Writ, users: &[Value], upsert: bool) -> (Summary, Vec<Value>) {
    let mut summary = Summary {
        total: users.len(),
        ..Summary::default()
    };
    let mut errors = vec![];
    let mut seen: HashMap<String, usize> = HashMap::new();
    let parsed: Vec<std::result::Result<Entry, EntryError>> =
        users.iter().map(parse_entry).collect();
    // The hashes to store, wrapped in argon2id, several at once (the hasher's pool bounds how
    // many hash together).
    let planning: Vec<_> = parsed
        .iter()
        .map(|p| async move {
            match p {
                Ok(e) => plan_hash(w, e, upsert).await,
                Err(_) => Ok(HashPlan::Nothing),
            }
        })
        .collect();
    let plans: Vec<std::result::Result<HashPlan, StoreError>> =
        futures_util::stream::iter(planning)
            .buffered(16)
            .collect()
            .await;
    for ((i, v), (parsed, plan)) in users.iter().enumerate().zip(parsed.into_iter().zip(plans)) {
        let result = match parsed {
            Err(e) => Err(e),
            Ok(entry) => match seen.get(&entry.email) {
                Some(first) => Err(EntryError::skipped(
                    "DUPLICATED_IN_FILE",
                    format!("The email appears earlier in the file (user {first})"),
                )),
                None => {
                    seen.insert(entry.email.clone(), i);
                    match plan {
                        Ok(plan) => apply(w, entry, plan, upsert).await,
                        Err(err) => {
                            tracing::error!(error = %err, "users import");
                            Err(EntryError::failed("INTERNAL_ERROR", "#/", "Internal error"))
                        }
                    }
                }
            },
        };
        match result {
            Ok(Outcome::Inserted) => summary.inserted += 1,
            Ok(Outcome::Updated) => summary.updated += 1,
            Err(e) => {
                if e.skipped {
                    summary.skipped += 1;
                } else {
                    summary.failed += 1;
                }
                errors.push(json!({
                    "user": redacted(v),
                    "errors": [{ "code": e.code, "message": e.message, "path": e.path }],
                    "index": i,
                    "outcome": if e.skipped { "skipped" } else { "failed" },
                }));
            }
        }
    }
    (summary, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(v: Value) -> &'static str {
        parse_entry(&v).unwrap_err().code
    }

    #[test]
    fn entries_are_checked_like_auth0s_schema() {
        let e = parse_entry(&json!({
            "email": "Ann@Example.com", "email_verified": true, "given_name": "Ann", "family_name": "Lee",
            "nickname": "ann", "picture": "https://example.com/a.png", "user_id": "123",
            "app_metadata": {"plan": "pro"}, "user_metadata": {"theme": "dark"},
            "password_hash": "$2b$10$nFguVi9LsCAcvTZFKQlRKeLVydo8ETv483lkNsSFI/Wl1Rz1Ypo1K"
        }))
        .unwrap();
        assert_eq!(e.email, "ann@example.com");
        assert_eq!(e.name.as_deref(), Some("Ann Lee"));
        assert_eq!(e.email_verified, Some(true));
        assert!(matches!(e.password_hash, Some((_, false))));

        assert_eq!(code(json!("x")), "INVALID_TYPE");
        assert_eq!(
            code(json!({"name": "x"})),
            "OBJECT_MISSING_REQUIRED_PROPERTY"
        );
        assert_eq!(code(json!({"email": "nope"})), "INVALID_FORMAT");
        assert_eq!(
            code(json!({"email": "a@b.co", "extra": 1})),
            "OBJECT_ADDITIONAL_PROPERTIES"
        );
        assert_eq!(
            code(json!({"email": "a@b.co", "blocked": "yes"})),
            "INVALID_TYPE"
        );
        assert_eq!(
            code(json!({"email": "a@b.co", "app_metadata": {"email": "x"}})),
            "INVALID_FORMAT"
        );
        assert_eq!(
            code(json!({"email": "a@b.co", "password_hash": "x", "custom_password_hash": {}})),
            "INVALID_PASSWORD_HASH"
        );
        assert_eq!(
            code(json!({"email": "a@b.co", "password_hash": "$1$md5crypt"})),
            "INVALID_PASSWORD_HASH"
        );
        assert_eq!(
            code(
                json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "scrypt", "hash": {"value": "x"}}})
            ),
            "UNSUPPORTED_ALGORITHM"
        );
        assert_eq!(
            code(
                json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "md5", "hash": {"value": "x"}, "extra": 1}})
            ),
            "INVALID_PASSWORD_HASH"
        );
    }

    #[test]
    fn errors_never_echo_hashes() {
        let v = json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "md5"}, "password_hash": "x"});
        assert_eq!(redacted(&v), json!({"email": "a@b.co"}));
    }
}
