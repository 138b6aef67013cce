//! Auth0's email links: `POST /api/v2/jobs/verification-email` (emails a verification link),
//! `POST /api/v2/tickets/email-verification` and `POST /api/v2/tickets/password-change`
//! (return a one-time link, `{ticket}`, for the caller to deliver). The rules (lifetimes, single
//! use, what using a link does) are [`writ_service::account`]'s; the links open the hosted
//! pages of [`crate::login::account`].
//!
//! Scopes as Auth0's: `update:users` for the job, `create:user_tickets` for tickets.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use writ_service::account::{self, TicketInput, TicketUser};

use super::prelude::*;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::default()
        .routes(routes!(verification_email))
        .routes(routes!(email_verification_ticket))
        .routes(routes!(password_change_ticket))
}

/// `POST /jobs/verification-email`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerificationEmailRequest {
    /// The user to email.
    pub user_id: String,
    /// The application the link is for (recorded with the verification).
    pub client_id: Option<String>,
    /// Accepted for Auth0 compatibility; only the built-in connection exists.
    pub identity: Option<serde_json::Value>,
    /// Accepted for Auth0 compatibility.
    pub organization_id: Option<String>,
}

/// Auth0's job object of a verification email: the email is queued when this is answered.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VerificationJob {
    /// Always `verification_email`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `completed`: the email is in the outbox, sent in the background.
    pub status: String,
    /// RFC 3339 timestamp.
    pub created_at: String,
    /// `job_` and 16 letters or digits.
    pub id: String,
}

/// `POST /tickets/email-verification`'s body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailVerificationTicketRequest {
    pub user_id: String,
    /// Where the page sends the user once the email is verified.
    pub result_url: Option<String>,
    /// The link's lifetime in seconds (default 432000: 5 days; at most 30 days).
    pub ttl_sec: Option<i64>,
    /// Accepted for Auth0 compatibility (the user's email is included).
    #[serde(rename = "includeEmailInRedirect")]
    pub include_email_in_redirect: Option<bool>,
    /// Accepted for Auth0 compatibility.
    pub identity: Option<serde_json::Value>,
}

/// `POST /tickets/password-change`'s body: `user_id`, or `email` (with the connection).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeTicketRequest {
    pub user_id: Option<String>,
    /// With `connection_id`, instead of `user_id`.
    pub email: Option<String>,
    /// Accepted with `email`: only the built-in connection exists.
    pub connection_id: Option<String>,
    /// The application the reset is for.
    pub client_id: Option<String>,
    /// Where the page sends the user once the password is changed.
    pub result_url: Option<String>,
    /// The link's lifetime in seconds (default 3600; at most 30 days).
    pub ttl_sec: Option<i64>,
    /// Whether using the link also marks the email verified (default false).
    pub mark_email_as_verified: Option<bool>,
    /// Accepted for Auth0 compatibility.
    #[serde(rename = "includeEmailInRedirect")]
    pub include_email_in_redirect: Option<bool>,
    /// Accepted for Auth0 compatibility.
    pub new_password: Option<String>,
}

/// A one-time link.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TicketResponse {
    /// The link to send to the user: `{issuer}u/email-verification?ticket=…#` or
    /// `{issuer}u/reset-password?ticket=…#`. It works once.
    pub ticket: String,
}

#[utoipa::path(
    post,
    path = "/jobs/verification-email",
    operation_id = "post_verification_email",
    tag = "tickets",
    summary = "Send a verification email",
    description = "Emails the user a link that verifies their address (5 days, one use). The email is queued \
        in the outbox and sent in the background; the job is answered `completed` at once. Refused with \
        400 `email_not_configured` when no SMTP server is configured.",
    request_body(content = VerificationEmailRequest),
    responses(
        (status = 201, description = "The job; the email is queued.", body = VerificationJob),
        schemas::BodyDenied<UserId>,
    ),
    security(("bearer" = ["update:users"]))
)]
async fn verification_email(c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    let b: VerificationEmailRequest = c.body(&bytes).await?;
    let job = account::verification_email_job(&c, &c.actor(), &b.user_id, b.client_id).await?;
    Ok(created(VerificationJob {
        kind: "verification_email".into(),
        status: "completed".into(),
        created_at: job.created_at,
        id: job.id,
    }))
}

#[utoipa::path(
    post,
    path = "/tickets/email-verification",
    operation_id = "post_email_verification",
    tag = "tickets",
    summary = "Create an email verification ticket",
    description = "Returns a one-time link that verifies the user's email address (default lifetime 5 days). \
        Nothing is emailed: deliver the link yourself. Opening it shows a confirmation button (so mail scanners \
        that prefetch links do not use it); confirming sets `email_verified` and sends the user to `result_url`.",
    request_body(content = EmailVerificationTicketRequest),
    responses(
        (status = 201, description = "The link.", body = TicketResponse),
        schemas::BodyDenied<UserId>,
    ),
    security(("bearer" = ["create:user_tickets"]))
)]
async fn email_verification_ticket(c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    let b: EmailVerificationTicketRequest = c.body(&bytes).await?;
    let input = TicketInput {
        result_url: b.result_url,
        ttl_sec: b.ttl_sec,
        ..Default::default()
    };
    let ticket = account::email_verification_ticket(&c, &c.actor(), &b.user_id, input).await?;
    Ok(created(TicketResponse { ticket }))
}

#[utoipa::path(
    post,
    path = "/tickets/password-change",
    operation_id = "post_password_change",
    tag = "tickets",
    summary = "Create a password change ticket",
    description = "Returns a one-time link to a page where the user chooses a new password (default lifetime \
        1 hour). Nothing is emailed. Setting the password ends every session and refresh token of the user.",
    request_body(content = PasswordChangeTicketRequest),
    responses(
        (status = 201, description = "The link.", body = TicketResponse),
        schemas::BodyDenied<UserId>,
    ),
    security(("bearer" = ["create:user_tickets"]))
)]
async fn password_change_ticket(c: Caller, bytes: Bytes) -> Result<Response, ApiError> {
    let b: PasswordChangeTicketRequest = c.body(&bytes).await?;
    let who = match (b.user_id, b.email) {
        (Some(id), None) => TicketUser::Id(id),
        (None, Some(email)) => TicketUser::Email(email),
        _ => {
            return Err(c
                .check::<()>(Err(ApiError::bad_request(
                    "Payload validation error: 'Exactly one of user_id or email is required'.",
                )))
                .await
                .unwrap_err());
        }
    };
    if b.new_password.is_some() {
        return Err(c
            .check::<()>(Err(ApiError::bad_request(
                "Payload validation error: 'new_password is not supported: the user chooses it on the page' on property new_password.",
            )))
            .await
            .unwrap_err());
    }
    let input = TicketInput {
        client_id: b.client_id,
        result_url: b.result_url,
        ttl_sec: b.ttl_sec,
        mark_email_verified: b.mark_email_as_verified.unwrap_or(false),
    };
    let ticket = account::password_change_ticket(&c, &c.actor(), who, input).await?;
    Ok(created(TicketResponse { ticket }))
}
