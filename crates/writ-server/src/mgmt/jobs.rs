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

use axum::Extension;
use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::Value;
use writ_core::DEFAULT_CONNECTION;
use writ_service::crypto::random_alnum;
use writ_service::imports::{self, CONNECTION_ID, ImportInput, ImportReport, Summary};

use super::prelude::*;
use super::types::{JobErrors, UsersImportRequest};

/// How many finished jobs each server process remembers.
pub const MAX_JOBS: usize = 100;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(create_import))
        .routes(routes!(read))
        .routes(routes!(errors))
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

    /// The job `id`, or the Management API's 404.
    fn find(&self, id: &str) -> Result<Job, ApiError> {
        self.get(id).ok_or_else(|| ApiError::not_found("job"))
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

impl From<&Job> for types::Job {
    /// Auth0's job object, with the summary of the (already finished) import.
    fn from(j: &Job) -> Self {
        types::Job {
            kind: "users_import".to_owned(),
            status: "completed".to_owned(),
            id: j.id.clone(),
            connection_id: CONNECTION_ID.to_owned(),
            connection: DEFAULT_CONNECTION.to_owned(),
            upsert: j.upsert,
            send_completion_email: j.send_completion_email,
            external_id: j.external_id.clone(),
            created_at: j.created_at.clone(),
            percentage_done: 100,
            time_left_seconds: 0,
            summary: (&j.summary).into(),
        }
    }
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

#[utoipa::path(
    post,
    path = "/jobs/users-imports",
    operation_id = "post_users_imports",
    tag = "jobs",
    summary = "Import users (Auth0's bulk-import format)",
    description = "Imports a JSON array of users in Auth0's bulk-import format, with their password hashes \
        (`password_hash`: bcrypt; `custom_password_hash`: argon2, bcrypt, pbkdf2, md4, md5, sha1, sha256, sha512, \
        hmac, ldap), stored wrapped in argon2id. Needs `create:users`, and `update:users` too with `upsert=true`. \
        Writ processes the file synchronously: the answered job is already `completed` and carries its summary; `GET /api/v2/jobs/{id}/errors` lists the users skipped or failed. Each user is written in its \
        own transaction; importing the same file again changes nothing. Jobs are kept in memory by the server process.",
    request_body(content = UsersImportRequest, content_type = "multipart/form-data"),
    responses(
        (status = 202, description = "The finished job.", body = types::Job),
        (status = 400, description = "A missing or invalid form field, an unknown connection, or a users file that is not a non-empty JSON array.", body = types::Error),
        schemas::Denied,
    ),
    // The second alternative, `update:users` too, with `upsert=true` (`require_conditional`).
    security(("bearer" = ["create:users"]), ("bearer" = ["create:users", "update:users"]))
)]
async fn create_import(
    Extension(jobs): Extension<Jobs>,
    c: Caller,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let (form, external_id, send_completion_email) = c.check(read_form(form).await).await?;
    // Upsert rewrites existing users: that takes the right to update them.
    if form.upsert {
        c.require_conditional().await?;
    }
    let created_at = writ_service::time::now_rfc3339();
    let upsert = form.upsert;
    let ImportReport { summary, errors } = imports::import_users(&c, &c.actor(), form).await?;
    let job = Job {
        id: format!("job_{}", random_alnum(16)),
        created_at,
        external_id,
        upsert,
        send_completion_email,
        summary,
        errors,
    };
    let body = types::Job::from(&job);
    jobs.insert(job);
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

#[utoipa::path(
    get,
    path = "/jobs/{id}",
    operation_id = "get_jobs_by_id",
    tag = "jobs",
    summary = "Get a job",
    params(JobId),
    responses(
        (status = 200, description = "The job.", body = types::Job),
        schemas::Denied<JobId>,
    ),
    security(("bearer" = ["create:users"]))
)]
async fn read(
    Extension(jobs): Extension<Jobs>,
    _: Caller,
    Path(JobId(id)): Path<JobId>,
) -> Result<Response, ApiError> {
    let job = jobs.find(&id)?;
    Ok(ok(types::Job::from(&job)))
}

#[utoipa::path(
    get,
    path = "/jobs/{id}/errors",
    operation_id = "get_job_errors",
    tag = "jobs",
    summary = "Get the users a job skipped or failed",
    description = "Auth0's shape: an array of `{user, errors: [{code, message, path}]}` (the user as submitted, \
        without its password hash), plus Writ's `index` (the user's position in the file, from 0) and \
        `outcome` (`skipped` or `failed`). Skip codes: `DUPLICATED_USER`, `UNCHANGED`, `DUPLICATED_IN_FILE`. \
        Without any, answers the job itself, as Auth0 does.",
    params(JobId),
    responses(
        (status = 200, description = "The users skipped or failed, or the job when there are none.", body = JobErrors),
        schemas::Denied<JobId>,
    ),
    security(("bearer" = ["create:users"]))
)]
async fn errors(
    Extension(jobs): Extension<Jobs>,
    _: Caller,
    Path(JobId(id)): Path<JobId>,
) -> Result<Response, ApiError> {
    let job = jobs.find(&id)?;
    let answer = if job.errors.is_empty() {
        JobErrors::Job((&job).into())
    } else {
        // The entries `writ_service::imports` made, in their documented shape.
        JobErrors::Errors(
            serde_json::from_value(Value::Array(job.errors)).map_err(ApiError::internal)?,
        )
    };
    Ok(ok(answer))
}

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
