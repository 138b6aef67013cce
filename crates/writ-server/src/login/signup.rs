//! Sign-up (`GET|POST /u/signup`, when `WRIT_SIGNUP_ENABLED` is on): limited per IP, and it
//! always ends on the login form with the same neutral notice, whether or not the email was
//! already registered, after the same work (the password is hashed in both cases): the page
//! does not reveal who has an account. The user then logs in as usual.

use axum::Form;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::form::LoginForm;
use super::pages::{self, Note};
use super::{form_again, login_page, precheck};
use crate::http::client_addr::ClientAddr;
use crate::http::with_retry_after;
use crate::oauth::request::{AuthorizeParams, validate};
use crate::state::AppState;
use writ_service::signups::{self, Refused, SignUp};

/// What every sign-up ends with, registered before or not (see the module doc).
pub const SIGNUP_DONE: &str =
    "If this address was not registered yet, your account is ready: log in.";

#[derive(Deserialize, Default)]
pub struct SignupQuery {
    tx: Option<String>,
}

/// The page answering either sign-up route when `WRIT_SIGNUP_ENABLED` is off.
fn disabled(state: &AppState) -> Option<Response> {
    (!state.config.signup_enabled).then(|| {
        pages::error(
            StatusCode::NOT_FOUND,
            "Sign-up is disabled",
            "Ask your administrator for an account.",
        )
    })
}

/// `GET /u/signup?tx=…`: the sign-up form, when `WRIT_SIGNUP_ENABLED` is on.
pub async fn signup_page(
    State(state): State<AppState>,
    addr: ClientAddr,
    RawQuery(q): RawQuery,
) -> Response {
    if let Some(r) = disabled(&state) {
        return r;
    }
    let tx = serde_urlencoded::from_str::<SignupQuery>(&q.unwrap_or_default())
        .unwrap_or_default()
        .tx
        .unwrap_or_default();
    let p: AuthorizeParams = serde_urlencoded::from_str(&tx).unwrap_or_default();
    match validate(&state, p) {
        Ok(v) => login_page(&state, &addr, pages::Form::Signup, &v, &tx, "", None, None),
        Err(refused) => *refused,
    }
}

/// `POST /u/signup`: creates the user in the built-in connection (no role: they get
/// permissions when an admin grants them), then shows the login form with [`SIGNUP_DONE`] —
/// the same page, status and work whether or not the email was already registered.
pub async fn signup(
    State(state): State<AppState>,
    addr: ClientAddr,
    crate::audit::PeerOf(peer): crate::audit::PeerOf,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    if let Some(r) = disabled(&state) {
        return r;
    }
    let v = match precheck(&state, &headers, &f.csrf, &f.tx) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let page = form_again(&state, &addr, pages::Form::Signup, &v, &f.tx);
    let attempt = SignUp {
        peer: &peer,
        client_id: &v.client.client_id,
        email: &f.username,
        password: &f.password,
        name: None,
    };
    match signups::sign_up(&state, attempt).await {
        Ok(_) => {}
        Err(Refused::Disabled) => return disabled(&state).unwrap_or_else(pages::internal),
        Err(Refused::TooMany { retry_after }) => {
            return with_retry_after(
                page(
                    "",
                    "Too many sign-ups from your network. Wait a minute and try again.",
                    Some(StatusCode::TOO_MANY_REQUESTS),
                ),
                retry_after,
            );
        }
        Err(Refused::InvalidEmail | Refused::InvalidName) => {
            return page(&f.username, "Enter a valid email address.", None);
        }
        Err(Refused::WeakPassword(weak)) => {
            return page(f.username.trim(), &weak.advice(), None);
        }
        Err(Refused::Internal) => return pages::internal(),
    }
    login_page(
        &state,
        &addr,
        pages::Form::Login,
        &v,
        &f.tx,
        "",
        Some(Note::Info(SIGNUP_DONE)),
        None,
    )
}
