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
//! The import itself (checks, hashes, upsert rules) is [`writ_service::imports`].
//!
//! Scopes: `create:users`; with `upsert=true` also `update:users`, since existing users are
//! then rewritten.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};

use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use serde_json::{Value, json};
use writ_core::DEFAULT_CONNECTION;
use writ_service::crypto::random_alnum;
use writ_service::imports::{self, CONNECTION_ID, ImportInput, ImportReport, Summary};

use super::{Caller, ok, schemas};
use crate::error::ApiError;
use crate::state::AppState;

/// How many finished jobs each server process remembers.
pub const MAX_JOBS: usize = 100;

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

fn form_bool(field: &str, v: &str) -> Result<bool, ApiError> {
    match v.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ApiError::bad_request(format!(
            "Payload validation error: 'Expected type boolean but found type string' on property {field}."
        ))),
    }
}

/// Reads the multipart form: the import, `external_id` and `send_completion_email`.
async fn read_form(
    form: Result<Multipart, MultipartRejection>,
) -> Result<(ImportInput, Option<String>, bool), ApiError> {
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
    let mut input = ImportInput::default();
    let (mut external_id, mut send_email) = (None, true);
    let mut names = HashSet::new();
    while let Some(field) = form.next_field().await.map_err(bad_form)? {
        let name = field.name().unwrap_or_default().to_owned();
        if !names.insert(name.clone()) {
            return Err(ApiError::bad_request(format!(
                "Payload validation error: '{name}' is given more than once."
            )));
        }
        match name.as_str() {
            "users" => input.users = Some(field.bytes().await.map_err(bad_form)?.to_vec()),
            "connection_id" => input.connection_id = Some(field.text().await.map_err(bad_form)?),
            "upsert" => input.upsert = form_bool("upsert", &field.text().await.map_err(bad_form)?)?,
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
    Ok((input, external_id, send_email))
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
    c.require("create:users").await?;
    let (form, external_id, send_completion_email) = c.check(read_form(form).await).await?;
    // Upsert rewrites existing users: that takes the right to update them.
    if form.upsert {
        c.require("update:users").await?;
    }
    let created_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let upsert = form.upsert;
    let ImportReport { summary, errors } = imports::import_users(&s, &c.actor(), form).await?;
    let job = Job {
        id: format!("job_{}", random_alnum(16)),
        created_at,
        external_id,
        upsert,
        send_completion_email,
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
    c.require("create:users").await?;
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
    c.require("create:users").await?;
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

    #[test]
    fn old_jobs_are_forgotten() {
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
