//! `/api/v2/jobs`: Auth0's bulk user import, so users (and their password hashes) move from
//! Auth0 or another system into Writ with the file Auth0 itself accepts.
//!
//! `POST /api/v2/jobs/users-imports` takes Auth0's multipart form (`users` file, `connection_id`,
//! `upsert`, `external_id`, `send_completion_email`). Unlike Auth0, Writ **processes the file
//! synchronously**, within the request: the job it answers is already `completed`, with its
//! summary. Jobs and their errors are **kept in memory only** (the most recent
//! [`MAX_JOBS`] per server process) for `GET /api/v2/jobs/{id}` and
//! `GET /api/v2/jobs/{id}/errors`; a restart forgets them, never the imported users.
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
//! email). Password hashes are checked as described in [`writ_service::crypto::imported`] and stored
//! wrapped in argon2id (*Wrapped forms* there: every password check then costs the same, so
//! response times do not reveal imported users); algorithms Writ cannot verify (scrypt, HMAC
//! with RIPEMD-160 or Whirlpool, LDAP `{CRYPT}`) fail the entry with `UNSUPPORTED_ALGORITHM`.
//! Wrapping costs one argon2id hash per password hash written, computed for the whole file on
//! the password hasher's pool before the users are written (users skipped as existing cost
//! none).
//!
//! Scopes: `create:users`; with `upsert=true` also `update:users`, since existing users are
//! then rewritten.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use futures_util::StreamExt;
use serde::Serialize;
use serde_json::{Map, Value, json};
use writ_core::{DEFAULT_CONNECTION, metadata, validate};
use writ_store::{NewUser, StoreError};

use super::{Caller, ok, schemas};
use crate::error::ApiError;
use crate::state::AppState;
use writ_service::crypto::imported::{self, CustomPasswordHash, ImportHashError};
use writ_service::crypto::{needs_rehash, random_alnum};

/// The id of the built-in database connection in Auth0's `con_…` form; `connection_id` may
/// be this or the connection's name, `Username-Password-Authentication`.
pub const CONNECTION_ID: &str = "con_writdatabase0001";

/// How many finished jobs each server process remembers.
pub const MAX_JOBS: usize = 100;

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

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/jobs/users-imports", post(create_import))
        .route("/jobs/{id}", get(read))
        .route("/jobs/{id}/errors", get(errors))
        .layer(Extension(Jobs::default()))
}

/// The finished jobs of this server process, oldest first.
#[derive(Clone, Default)]
pub struct Jobs(Arc<Mutex<VecDeque<Job>>>);

impl Jobs {
    fn insert(&self, job: Job) {
        let mut jobs = self.0.lock().expect("jobs lock");
        if jobs.len() >= MAX_JOBS {
            jobs.pop_front();
        }
        jobs.push_back(job);
    }

    fn get(&self, id: &str) -> Option<Job> {
        let jobs = self.0.lock().expect("jobs lock");
        jobs.iter().find(|j| j.id == id).cloned()
    }
}

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

/// A users-import job.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: String,
    pub created_at: String,
    pub external_id: Option<String>,
    pub upsert: bool,
    pub send_completion_email: bool,
    pub summary: Summary,
    /// One entry per user that was skipped or failed (Auth0's `/errors` items, with `index`
    /// and `outcome`).
    pub errors: Vec<Value>,
}

/// Auth0's job object, with the summary of the (already finished) import.
pub fn job_json(j: &Job) -> Value {
    let mut v = json!({
        "type": "users_import",
        "status": "completed",
        "id": j.id,
        "connection_id": CONNECTION_ID,
        "connection": DEFAULT_CONNECTION,
        "upsert": j.upsert,
        "send_completion_email": j.send_completion_email,
        "created_at": j.created_at,
        "percentage_done": 100,
        "time_left_seconds": 0,
        "summary": j.summary,
    });
    if let Some(e) = &j.external_id {
        v["external_id"] = json!(e);
    }
    v
}

/// Why one user was not inserted or updated.
#[derive(Debug, Clone)]
pub(crate) struct EntryError {
    pub(crate) code: &'static str,
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
pub(crate) struct Entry {
    email: String,
    email_verified: Option<bool>,
    name: Option<String>,
    blocked: Option<bool>,
    app_metadata: Option<Map<String, Value>>,
    user_metadata: Option<Map<String, Value>>,
    /// The imported hash (as [`imported`] checked it, not yet wrapped), and whether it came
    /// from `custom_password_hash` (upsertable).
    pub(crate) password_hash: Option<(String, bool)>,
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
pub(crate) fn parse_entry(v: &Value) -> Result<Entry, EntryError> {
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
    let string = |k: &str| -> Result<Option<&str>, EntryError> {
        match o.get(k) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(k, "string", other)),
        }
    };
    let boolean = |k: &str| -> Result<Option<bool>, EntryError> {
        match o.get(k) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(wrong_type(k, "boolean", other)),
        }
    };
    let object = |k: &str| -> Result<Option<Map<String, Value>>, EntryError> {
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
/// [`PasswordHasherPool::wrap_imported`]: writ_service::crypto::PasswordHasherPool::wrap_imported
enum HashPlan {
    /// Nothing to store: no hash in the file, or it will not be written.
    Nothing,
    /// The wrapped hash to store.
    Store(String),
    /// The file's hash could not be wrapped.
    Invalid,
}

async fn plan_hash(s: &AppState, e: &Entry, upsert: bool) -> Result<HashPlan, StoreError> {
    let Some((legacy, upsertable)) = &e.password_hash else {
        return Ok(HashPlan::Nothing);
    };
    if let Some(c) = s.store.credentials_by_email(&e.email).await? {
        let stored = c.password_hash.as_deref();
        if !(upsert && *upsertable && stored.is_none_or(needs_rehash)) {
            return Ok(HashPlan::Nothing);
        }
        // The same hash again (stored wrapped): unchanged.
        if let Some(st) = stored
            && s.hasher.holds_imported(st, legacy).await
        {
            return Ok(HashPlan::Nothing);
        }
    }
    Ok(match s.hasher.wrap_imported(legacy).await {
        Some(w) => HashPlan::Store(w),
        None => HashPlan::Invalid,
    })
}

/// Writes one valid entry (its own transaction), with the password hash [`plan_hash`] chose.
async fn apply(
    s: &AppState,
    e: Entry,
    plan: HashPlan,
    upsert: bool,
) -> Result<Outcome, EntryError> {
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
    let existing = s
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
        let created = s
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
    match s.store.update_user(&u, new_hash.as_deref()).await {
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
async fn import(s: &AppState, users: &[Value], upsert: bool) -> (Summary, Vec<Value>) {
    let mut summary = Summary {
        total: users.len(),
        ..Summary::default()
    };
    let mut errors = vec![];
    let mut seen: HashMap<String, usize> = HashMap::new();
    let parsed: Vec<Result<Entry, EntryError>> = users.iter().map(parse_entry).collect();
    // The hashes to store, wrapped in argon2id, several at once (the hasher's pool bounds how
    // many hash together).
    let planning: Vec<_> = parsed
        .iter()
        .map(|p| async move {
            match p {
                Ok(e) => plan_hash(s, e, upsert).await,
                Err(_) => Ok(HashPlan::Nothing),
            }
        })
        .collect();
    let plans: Vec<Result<HashPlan, StoreError>> = futures_util::stream::iter(planning)
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
                        Ok(plan) => apply(s, entry, plan, upsert).await,
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

fn missing(field: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Payload validation error: 'Missing required property: {field}'."
    ))
}

fn form_bool(field: &str, v: &str) -> Result<bool, ApiError> {
    match v.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Payload validation error: 'Expected type boolean but found type string' on property {field}."
        ))),
    }
}

/// The multipart form of `POST /api/v2/jobs/users-imports`.
#[derive(utoipa::ToSchema)]
#[schema(as = UsersImportRequest)]
#[allow(dead_code)]
struct ImportForm {
    /// The users file: a JSON array of users in Auth0's bulk-import format (at most 256 KiB
    /// per request; split bigger files).
    #[schema(value_type = String, format = Binary)]
    users: Vec<u8>,
    /// `con_writdatabase0001` or `Username-Password-Authentication`: Writ's one database
    /// connection.
    connection_id: String,
    /// Update users whose email exists (default `false`: skip them).
    upsert: Option<bool>,
    /// Echoed in the job.
    external_id: Option<String>,
    /// Accepted for Auth0 compatibility and ignored (Writ sends no email).
    send_completion_email: Option<bool>,
}

#[utoipa::path(
    post,
    path = "/api/v2/jobs/users-imports",
    operation_id = "post_users_imports",
    tag = "jobs",
    summary = "Import users (Auth0's bulk-import format)",
    description = "Imports a JSON array of users in Auth0's bulk-import format, with their password hashes \
        (`password_hash`: bcrypt; `custom_password_hash`: argon2, bcrypt, pbkdf2, md4, md5, sha1, sha256, sha512, \
        hmac, ldap), stored wrapped in argon2id. Needs `create:users`, and `update:users` too with `upsert=true`. \
        Writ processes the file synchronously: the answered job is already `completed` and carries its summary; `GET /api/v2/jobs/{id}/errors` lists the users skipped or failed. Each user is written in its \
        own transaction; importing the same file again changes nothing. Jobs are kept in memory by the server process.",
    request_body(content = ImportForm, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "The finished job.", body = JobSchema),
        (status = 400, description = "A missing or invalid form field, an unknown connection, or a users file that is not a non-empty JSON array.", body = schemas::Error),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
    ),
    // `update:users` too with `upsert=true`.
    security(("bearer" = ["create:users"]), ("bearer" = ["create:users", "update:users"]))
)]
async fn create_import(
    State(s): State<AppState>,
    Extension(jobs): Extension<Jobs>,
    c: Caller,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    c.require("create:users")?;
    let mut form = form.map_err(|e| {
        ApiError::bad_request(format!(
            "The body must be multipart/form-data with a users file: {e}"
        ))
    })?;
    let bad_form = |e: axum::extract::multipart::MultipartError| {
        ApiError::new(
            e.status(),
            "invalid_body",
            format!("Invalid multipart body: {e}"),
        )
    };
    let (mut users, mut connection, mut upsert, mut external_id, mut send_email) =
        (None, None, false, None, true);
    let mut names = HashSet::new();
    while let Some(field) = form.next_field().await.map_err(bad_form)? {
        let name = field.name().unwrap_or_default().to_owned();
        if !names.insert(name.clone()) {
            return Err(ApiError::bad_request(format!(
                "Payload validation error: '{name}' is given more than once."
            )));
        }
        match name.as_str() {
            "users" => users = Some(field.bytes().await.map_err(bad_form)?),
            "connection_id" => connection = Some(field.text().await.map_err(bad_form)?),
            "upsert" => upsert = form_bool("upsert", &field.text().await.map_err(bad_form)?)?,
            "external_id" => external_id = Some(field.text().await.map_err(bad_form)?),
            "send_completion_email" => {
                send_email = form_bool(
                    "send_completion_email",
                    &field.text().await.map_err(bad_form)?,
                )?
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "Payload validation error: 'Additional properties not allowed: {other}'."
                )));
            }
        }
    }
    // Upsert rewrites existing users: that takes the right to update them.
    if upsert {
        c.require("update:users")?;
    }
    let connection = connection.ok_or_else(|| missing("connection_id"))?;
    let connection = connection.trim();
    if connection != CONNECTION_ID && connection != DEFAULT_CONNECTION {
        return Err(ApiError::bad_request(format!(
            "The connection does not exist: '{connection}' (the built-in connection is '{CONNECTION_ID}', named '{DEFAULT_CONNECTION}')."
        )));
    }
    let users = users.ok_or_else(|| missing("users"))?;
    let users: Vec<Value> = match serde_json::from_slice(&users) {
        Ok(Value::Array(a)) if !a.is_empty() => a,
        Ok(Value::Array(_)) => {
            return Err(ApiError::bad_request(
                "The users file must contain at least one user.",
            ));
        }
        Ok(_) => {
            return Err(ApiError::bad_request(
                "The users file must be a JSON array of users.",
            ));
        }
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "The users file is not valid JSON: {e}"
            )));
        }
    };
    let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (summary, errors) = import(&s, &users, upsert).await;
    tracing::info!(
        total = summary.total,
        inserted = summary.inserted,
        updated = summary.updated,
        skipped = summary.skipped,
        failed = summary.failed,
        "users import"
    );
    let job = Job {
        id: format!("job_{}", random_alnum(16)),
        created_at,
        external_id,
        upsert,
        send_completion_email: send_email,
        summary,
        errors,
    };
    let body = job_json(&job);
    jobs.insert(job);
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v2/jobs/{id}",
    operation_id = "get_jobs_by_id",
    tag = "jobs",
    summary = "Get a job",
    params(
        ("id" = String, Path, description = "The job's id (`job_…`)."),
    ),
    responses(
        (status = 200, description = "The job.", body = JobSchema),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such job (or the server restarted since).", body = schemas::Error),
    ),
    security(("bearer" = ["create:users"]))
)]
async fn read(
    Extension(jobs): Extension<Jobs>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("create:users")?;
    let job = jobs.get(&id).ok_or_else(|| ApiError::not_found("job"))?;
    Ok(ok(job_json(&job)))
}

#[utoipa::path(
    get,
    path = "/api/v2/jobs/{id}/errors",
    operation_id = "get_job_errors",
    tag = "jobs",
    summary = "Get the users a job skipped or failed",
    description = "Auth0's shape: an array of `{user, errors: [{code, message, path}]}` (the user as submitted, \
        without its password hash), plus Writ's `index` (the user's position in the file, from 0) and \
        `outcome` (`skipped` or `failed`). Skip codes: `DUPLICATED_USER`, `UNCHANGED`, `DUPLICATED_IN_FILE`. \
        Without any, answers the job itself, as Auth0 does.",
    params(
        ("id" = String, Path, description = "The job's id (`job_…`)."),
    ),
    responses(
        (status = 200, description = "The users skipped or failed, or the job when there are none.", body = JobErrorsSchema),
        (status = 401, description = schemas::E401, body = schemas::Error),
        (status = 403, description = schemas::E403, body = schemas::Error),
        (status = 404, description = "No such job (or the server restarted since).", body = schemas::Error),
    ),
    security(("bearer" = ["create:users"]))
)]
async fn errors(
    Extension(jobs): Extension<Jobs>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    c.require("create:users")?;
    let job = jobs.get(&id).ok_or_else(|| ApiError::not_found("job"))?;
    if job.errors.is_empty() {
        return Ok(ok(job_json(&job)));
    }
    Ok(ok(Value::Array(job.errors)))
}

/// Schema-only types for the OpenAPI document (never built; `job_json` and `import` produce
/// this JSON, the tests in `openapi.rs` compare them).
#[allow(dead_code)]
mod doc {
    use serde::Serialize;
    use serde_json::Value;
    use utoipa::ToSchema;

    /// The counts of a finished import: each user is exactly one of inserted, updated,
    /// skipped, failed.
    #[derive(Serialize, ToSchema)]
    #[schema(as = JobSummary)]
    pub struct JobSummarySchema {
        pub total: u64,
        pub inserted: u64,
        pub updated: u64,
        /// Existing users (`DUPLICATED_USER`, or `UNCHANGED` with upsert) and repeated emails.
        pub skipped: u64,
        pub failed: u64,
    }

    /// A users-import job (Auth0's job object). Writ's jobs are finished when answered.
    #[derive(Serialize, ToSchema)]
    #[schema(as = Job)]
    pub struct JobSchema {
        /// Always `users_import`.
        #[serde(rename = "type")]
        pub kind: String,
        /// Always `completed`.
        pub status: String,
        /// `job_` and 16 letters or digits.
        pub id: String,
        /// `con_writdatabase0001`.
        pub connection_id: String,
        /// `Username-Password-Authentication`.
        pub connection: String,
        pub upsert: bool,
        pub send_completion_email: bool,
        /// The `external_id` of the request, when given.
        pub external_id: Option<String>,
        /// RFC 3339 timestamp.
        pub created_at: String,
        /// Always 100.
        pub percentage_done: u8,
        /// Always 0.
        pub time_left_seconds: u32,
        pub summary: JobSummarySchema,
    }

    /// Why a user was skipped or failed.
    #[derive(Serialize, ToSchema)]
    pub struct JobErrorDetail {
        /// For example `DUPLICATED_USER`, `UNCHANGED`, `DUPLICATED_IN_FILE`, `INVALID_TYPE`,
        /// `INVALID_FORMAT`, `OBJECT_MISSING_REQUIRED_PROPERTY`, `OBJECT_ADDITIONAL_PROPERTIES`,
        /// `INVALID_PASSWORD_HASH`, `UNSUPPORTED_ALGORITHM`.
        pub code: String,
        pub message: String,
        /// JSON pointer into the user, e.g. `#/email`.
        pub path: String,
    }

    /// A user that was skipped or failed.
    #[derive(Serialize, ToSchema)]
    pub struct JobError {
        /// The user as submitted, without its password hash.
        pub user: Value,
        pub errors: Vec<JobErrorDetail>,
        /// The user's position in the file, from 0.
        pub index: u64,
        /// `skipped` or `failed`.
        pub outcome: String,
    }

    /// The users a job skipped or failed, or (when none) the job itself.
    #[derive(Serialize, ToSchema)]
    #[serde(untagged)]
    #[schema(as = JobErrors)]
    pub enum JobErrorsSchema {
        Errors(Vec<JobError>),
        Job(JobSchema),
    }
}

pub(crate) use doc::{JobErrorsSchema, JobSchema};

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
    fn the_job_and_its_errors_never_echo_hashes() {
        let v = json!({"email": "a@b.co", "custom_password_hash": {"algorithm": "md5"}, "password_hash": "x"});
        assert_eq!(redacted(&v), json!({"email": "a@b.co"}));
        let jobs = Jobs::default();
        for i in 0..MAX_JOBS + 5 {
            jobs.insert(Job {
                id: format!("job_{i}"),
                created_at: String::new(),
                external_id: None,
                upsert: false,
                send_completion_email: true,
                summary: Summary::default(),
                errors: vec![],
            });
        }
        assert!(jobs.get("job_0").is_none(), "oldest jobs are forgotten");
        assert!(jobs.get(&format!("job_{}", MAX_JOBS + 4)).is_some());
    }
}
