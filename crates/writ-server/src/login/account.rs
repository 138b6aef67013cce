//! The hosted pages of the email links, and Auth0's `POST /dbconnections/change_password`.
//!
//! - `GET /u/email-verification?ticket=…` shows a button; its `POST` (CSRF-protected) uses
//!   the link. The GET alone changes nothing, so mail scanners and link previews that fetch
//!   links do not use them up.
//! - `GET /u/reset-password?ticket=…` asks for the new password twice; its `POST` uses the
//!   link (the password follows the rules of every new password).
//! - `GET /u/forgot-password?tx=…` (the "Forgot password?" link of the login form) asks for
//!   an address; its `POST` answers the same whether or not the address has an account.
//! - `POST /dbconnections/change_password` (`{client_id, email, connection}`, JSON or form)
//!   answers Auth0's sentence whether or not the address has an account.
//!
//! After a link is used the user is sent to its `result_url` when it has one. The rules are
//! [`writ_service::account`]'s; without SMTP in `writ serve` the pages say so.

use axum::Form;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;
use writ_service::ServiceError;
use writ_service::account::{self, CHANGE_PASSWORD_SENT};
use writ_store::TicketKind;

use super::csrf_page;
use super::pages::{self, AccountForm, Note};
use crate::http::client_addr::ClientAddr;
use crate::http::cookies::{self, LOGIN_CSRF};
use crate::http::origin_of;
use crate::http::with_retry_after;
use crate::state::AppState;

const INVALID_LINK: &str = "This link is invalid, was already used or has expired.";
/// What the "Forgot password?" form answers, whatever the address.
pub const FORGOT_SENT: &str = "If an account uses this address, we've just sent it an email with a link to choose a new password.";
const NO_MAIL: &str = "Writ cannot send email here (no mail server is configured): ask your administrator to reset your password.";

#[derive(Deserialize, Default)]
struct TicketQuery {
    #[serde(default)]
    ticket: String,
}

#[derive(Deserialize, Default)]
struct TxQuery {
    #[serde(default)]
    tx: String,
}

/// The `ticket` parameter of a link's query string.
fn ticket_of(q: Option<String>) -> String {
    serde_urlencoded::from_str::<TicketQuery>(&q.unwrap_or_default())
        .unwrap_or_default()
        .ticket
}

/// Whether a posted form comes from our pages: its Origin (when sent) is ours and its CSRF
/// token matches the SameSite=Strict cookie the page set.
fn form_ok(state: &AppState, headers: &HeaderMap, csrf: &str) -> bool {
    let ours = origin_of(&state.config.issuer);
    let origin_ok = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_none_or(|o| o == ours);
    let cookie = cookies::get(state, headers, LOGIN_CSRF).unwrap_or_default();
    origin_ok && !cookie.is_empty() && bool::from(cookie.as_bytes().ct_eq(csrf.as_bytes()))
}

fn refused_form() -> Response {
    pages::error(
        StatusCode::FORBIDDEN,
        "Request refused",
        "This form expired or was not sent from this site. Open the link from your email again.",
    )
}

fn invalid_link() -> Response {
    pages::error(StatusCode::BAD_REQUEST, "Link not valid", INVALID_LINK)
}

/// A page without a form.
fn message(status: StatusCode, title: &str, detail: &str) -> Response {
    pages::account(
        status,
        title,
        detail,
        None,
        AccountForm::None,
        "",
        None,
        None,
    )
}

/// After a link was used: its `result_url`, or a page saying what happened.
fn done(result_url: Option<&str>, title: &str, detail: &str) -> Response {
    match result_url {
        Some(u) => Redirect::to(u).into_response(),
        None => message(StatusCode::OK, title, detail),
    }
}

/// `GET /u/email-verification?ticket=…`: the confirmation button.
pub async fn verify_page(
    State(state): State<AppState>,
    addr: ClientAddr,
    crate::audit::PeerOf(peer): crate::audit::PeerOf,
    RawQuery(q): RawQuery,
) -> Response {
    let token = ticket_of(q);
    let t = match account::usable_ticket(&state, &peer, TicketKind::Verify, &token).await {
        Ok(Some(t)) => t,
        Ok(None) => return invalid_link(),
        Err(e) => {
            tracing::error!(error = %e, "email verification page");
            return pages::internal();
        }
    };
    let form_origin = t.result_url.as_deref().map(origin_of);
    csrf_page(&state, &addr, |csrf| {
        pages::account(
            StatusCode::OK,
            "Verify your email",
            "Confirm that this email address is yours.",
            None,
            AccountForm::Confirm(&token),
            csrf,
            None,
            form_origin.as_deref(),
        )
    })
}

#[derive(Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /u/email-verification`: uses the link.
pub async fn verify(
    State(state): State<AppState>,
    crate::audit::PeerOf(peer): crate::audit::PeerOf,
    headers: HeaderMap,
    Form(f): Form<VerifyForm>,
) -> Response {
    if !form_ok(&state, &headers, &f.csrf) {
        return refused_form();
    }
    match account::confirm_email(&state, &peer, &f.ticket).await {
        Ok(Some(t)) => done(
            t.result_url.as_deref(),
            "Email verified",
            "Your email address is verified. You can close this page.",
        ),
        Ok(None) => invalid_link(),
        Err(e) => {
            tracing::error!(error = %e, "email verification");
            pages::internal()
        }
    }
}

/// The reset form for `token`, with a note.
fn reset_form(
    state: &AppState,
    addr: &ClientAddr,
    token: &str,
    result_url: Option<&str>,
    note: Option<Note<'_>>,
) -> Response {
    let status = if matches!(note, Some(Note::Error(_))) {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let form_origin = result_url.map(origin_of);
    csrf_page(state, addr, |csrf| {
        pages::account(
            status,
            "Choose a new password",
            "Setting a new password signs you out everywhere.",
            note,
            AccountForm::Reset(token),
            csrf,
            None,
            form_origin.as_deref(),
        )
    })
}

/// `GET /u/reset-password?ticket=…`: the new password, twice.
pub async fn reset_page(
    State(state): State<AppState>,
    addr: ClientAddr,
    crate::audit::PeerOf(peer): crate::audit::PeerOf,
    RawQuery(q): RawQuery,
) -> Response {
    let token = ticket_of(q);
    match account::usable_ticket(&state, &peer, TicketKind::Reset, &token).await {
        Ok(Some(t)) => reset_form(&state, &addr, &token, t.result_url.as_deref(), None),
        Ok(None) => invalid_link(),
        Err(e) => {
            tracing::error!(error = %e, "password reset page");
            pages::internal()
        }
    }
}

#[derive(Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    ticket: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

/// `POST /u/reset-password`: sets the password and uses the link.
pub async fn reset(
    State(state): State<AppState>,
    addr: ClientAddr,
    crate::audit::PeerOf(peer): crate::audit::PeerOf,
    headers: HeaderMap,
    Form(f): Form<ResetForm>,
) -> Response {
    if !form_ok(&state, &headers, &f.csrf) {
        return refused_form();
    }
    let ticket = match account::usable_ticket(&state, &peer, TicketKind::Reset, &f.ticket).await {
        Ok(Some(t)) => t,
        Ok(None) => return invalid_link(),
        Err(e) => {
            tracing::error!(error = %e, "password reset");
            return pages::internal();
        }
    };
    let result_url = ticket.result_url.clone();
    let again = |note: &str| {
        reset_form(
            &state,
            &addr,
            &f.ticket,
            result_url.as_deref(),
            Some(Note::Error(note)),
        )
    };
    if f.password != f.password_confirm {
        return again("The two passwords differ.");
    }
    match account::password_allowed(&state, &ticket, &f.password).await {
        Ok(Ok(())) => {}
        Ok(Err(weak)) => return again(&weak.advice()),
        Err(e) => {
            tracing::error!(error = %e, "password reset");
            return pages::internal();
        }
    }
    match account::reset_password(&state, &peer, &f.ticket, &f.password).await {
        Ok(Some(t)) => done(
            t.result_url.as_deref(),
            "Password changed",
            "Your password is changed and you are signed out everywhere: log in with the new password.",
        ),
        Ok(None) => invalid_link(),
        // The policy checked above; refused only if the settings changed in between.
        Err(ServiceError::Invalid { .. }) => again("Choose another password."),
        Err(e) => {
            tracing::error!(error = %e, "password reset");
            pages::internal()
        }
    }
}

/// The login link of an authorization request (`tx`), if it carries one.
fn back_to_login(tx: &str) -> Option<String> {
    (!tx.is_empty()).then(|| format!("/authorize?{tx}"))
}

/// `GET /u/forgot-password?tx=…`: the address to send a reset link to.
pub async fn forgot_page(
    State(state): State<AppState>,
    addr: ClientAddr,
    RawQuery(q): RawQuery,
) -> Response {
    let tx = serde_urlencoded::from_str::<TxQuery>(&q.unwrap_or_default())
        .unwrap_or_default()
        .tx;
    let back = back_to_login(&tx);
    if account::require_mail(&state).is_err() {
        return pages::account(
            StatusCode::OK,
            "Reset your password",
            NO_MAIL,
            None,
            AccountForm::None,
            "",
            back.as_deref(),
            None,
        );
    }
    csrf_page(&state, &addr, |csrf| {
        pages::account(
            StatusCode::OK,
            "Reset your password",
            "Enter your email address: we'll send you a link to choose a new password.",
            None,
            AccountForm::Forgot(&tx),
            csrf,
            back.as_deref(),
            None,
        )
    })
}

#[derive(Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

#[derive(Deserialize, Default)]
struct TxClient {
    client_id: Option<String>,
}

/// `POST /u/forgot-password`: the same answer whether or not the address has an account.
pub async fn forgot(
    State(state): State<AppState>,
    crate::audit::PeerOf(peer): crate::audit::PeerOf,
    headers: HeaderMap,
    Form(f): Form<ForgotForm>,
) -> Response {
    if !form_ok(&state, &headers, &f.csrf) {
        return refused_form();
    }
    let back = back_to_login(&f.tx);
    let client_id = serde_urlencoded::from_str::<TxClient>(&f.tx)
        .unwrap_or_default()
        .client_id
        .filter(|c| state.catalog.load().clients.contains_key(c));
    let page = |status, note| {
        pages::account(
            status,
            "Reset your password",
            "",
            Some(note),
            AccountForm::None,
            "",
            back.as_deref(),
            None,
        )
    };
    match account::request_password_reset(&state, &peer, client_id.as_deref(), &f.email) {
        Ok(Ok(())) => page(StatusCode::OK, Note::Info(FORGOT_SENT)),
        Ok(Err(account::TooMany(wait))) => with_retry_after(
            page(
                StatusCode::TOO_MANY_REQUESTS,
                Note::Error("Too many requests. Wait a few minutes and try again."),
            ),
            wait,
        ),
        Err(_) => page(StatusCode::OK, Note::Error(NO_MAIL)),
    }
}

/// `POST /dbconnections/change_password`'s body.
#[derive(Deserialize, Default)]
struct ChangePassword {
    client_id: Option<String>,
    email: Option<String>,
    connection: Option<String>,
}

/// An error of the `/dbconnections` endpoints, in Auth0's shape for them.
fn db_error(status: StatusCode, code: &str, description: &str) -> Response {
    let name = if status == StatusCode::TOO_MANY_REQUESTS {
        "TooManyRequestsError"
    } else {
        "BadRequestError"
    };
    (
        status,
        axum::Json(serde_json::json!({
            "name": name,
            "code": code,
            "description": description,
            "statusCode": status.as_u16(),
        })),
    )
        .into_response()
}

/// `POST /dbconnections/change_password`: Auth0's sentence, whether or not the address has
/// an account (see the module doc).
pub async fn change_password(
    State(state): State<AppState>,
    crate::audit::PeerOf(peer): crate::audit::PeerOf,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let parsed: Option<ChangePassword> = if is_json {
        serde_json::from_slice(&body).ok()
    } else {
        serde_urlencoded::from_bytes(&body).ok()
    };
    let Some(b) = parsed else {
        return db_error(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "The body must be a JSON object (or a form) with client_id, email and connection.",
        );
    };
    let Some(client_id) = b
        .client_id
        .filter(|c| state.catalog.load().clients.contains_key(c))
    else {
        return db_error(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "client_id is missing or names no application.",
        );
    };
    if b.connection
        .as_deref()
        .is_some_and(|c| c != writ_core::DEFAULT_CONNECTION)
    {
        return db_error(
            StatusCode::BAD_REQUEST,
            "bad.connection",
            &format!(
                "The connection does not exist (the built-in connection is '{}').",
                writ_core::DEFAULT_CONNECTION
            ),
        );
    }
    let Some(email) = b.email.filter(|e| !e.trim().is_empty()) else {
        return db_error(
            StatusCode::BAD_REQUEST,
            "invalid_parameter",
            "email is required.",
        );
    };
    match account::request_password_reset(&state, &peer, Some(&client_id), &email) {
        Ok(Ok(())) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            CHANGE_PASSWORD_SENT,
        )
            .into_response(),
        Ok(Err(account::TooMany(wait))) => with_retry_after(
            db_error(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                "Too many password reset requests. Wait a few minutes and try again.",
            ),
            wait,
        ),
        Err(e) => db_error(StatusCode::BAD_REQUEST, e.code(), &e.to_string()),
    }
}
