//! Auth0's Authentication API for the database connection, as SPAs with their own forms call it
//! cross-origin: `POST /dbconnections/signup`. The checks are the hosted sign-up's
//! ([`writ_service::signups`]); errors have Auth0's shape for this API,
//! `{name, code, description, statusCode}` (with `message` for password refusals).
//!
//! One deliberate difference: Auth0 answers a taken email with `invalid_signup`, which tells
//! anyone who has an account. Writ answers `200 {email, email_verified: false}` whether or not
//! the email was registered (after the same work), as its hosted page does, so `_id` is never
//! returned; the new user learns their id at login.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use writ_core::DEFAULT_CONNECTION;
use writ_core::password_policy::Weakness;
use writ_service::signups::{self, Refused, SignUp};

use crate::audit::PeerOf;
use crate::http::with_retry_after;
use crate::state::AppState;

/// The body of `POST /dbconnections/signup` (Auth0's fields; others are ignored).
#[derive(Deserialize)]
pub struct SignupBody {
    client_id: Option<String>,
    email: Option<String>,
    password: Option<String>,
    connection: Option<String>,
    name: Option<String>,
}

/// An error of Auth0's Authentication API: `{name, code, description, statusCode}`.
fn error(status: StatusCode, name: &str, code: &str, description: &str) -> Response {
    let body = json!({
        "name": name,
        "code": code,
        "description": description,
        "statusCode": status.as_u16(),
    });
    (status, Json(body)).into_response()
}

fn bad(code: &str, description: &str) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        "BadRequestError",
        code,
        description,
    )
}

/// A password the policy refused, as Auth0 reports it (`PasswordStrengthError`, …, with
/// `message` and the advice in `description`).
fn weak_password(weak: Weakness) -> Response {
    let (name, message) = match weak {
        Weakness::TooShort(_) | Weakness::TooLong => {
            ("PasswordStrengthError", "Password is too weak")
        }
        Weakness::Common => ("PasswordDictionaryError", "Password is too common"),
        Weakness::PersonalInfo => (
            "PasswordNoUserInfoError",
            "Password contains user information",
        ),
    };
    let body = json!({
        "name": name,
        "message": message,
        "code": "invalid_password",
        "description": weak.advice(),
        "statusCode": 400,
    });
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// `POST /dbconnections/signup`: `{client_id, email, password, connection, name?}` →
/// `200 {email, email_verified}` (see the module doc).
pub async fn signup(
    State(state): State<AppState>,
    PeerOf(peer): PeerOf,
    body: Result<Json<SignupBody>, JsonRejection>,
) -> Response {
    let Ok(Json(b)) = body else {
        return bad(
            "invalid_body",
            "The body must be a JSON object with client_id, email, password and connection.",
        );
    };
    let (Some(client_id), Some(email), Some(password)) = (&b.client_id, &b.email, &b.password)
    else {
        return bad("invalid_signup", "Missing client_id, email or password.");
    };
    if !state.catalog.load().clients.contains_key(client_id) {
        return bad("invalid_client", "Unknown client.");
    }
    if b.connection.as_deref() != Some(DEFAULT_CONNECTION) {
        return bad(
            "invalid_connection",
            &format!("The connection must be '{DEFAULT_CONNECTION}'."),
        );
    }
    let attempt = SignUp {
        peer: &peer,
        client_id,
        email,
        password,
        name: b.name.as_deref(),
    };
    match signups::sign_up(&state, attempt).await {
        Ok(_) => {
            let email = email.trim().to_lowercase();
            Json(json!({ "email": email, "email_verified": false })).into_response()
        }
        Err(Refused::Disabled) => bad("operation_not_allowed", "Sign-up is disabled."),
        Err(Refused::TooMany { retry_after }) => with_retry_after(
            error(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequestsError",
                "too_many_requests",
                "Too many sign-ups from your network. Wait a minute and try again.",
            ),
            retry_after,
        ),
        Err(Refused::InvalidEmail) => bad("invalid_signup", "Enter a valid email address."),
        Err(Refused::InvalidName) => bad("invalid_signup", "The name must be 1 to 300 characters."),
        Err(Refused::WeakPassword(weak)) => weak_password(weak),
        Err(Refused::Internal) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "internal_error",
            "Something went wrong; try again.",
        ),
    }
}
