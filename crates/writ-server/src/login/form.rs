//! The login form: shown by `/authorize` (and after sign-up), posted to `POST /u/login`. The
//! password is checked by [`writ_service::logins::check`], the same check as the password
//! grant's; success goes on to the second factor where one applies ([`super::mfa`]), then
//! opens an SSO session and answers the authorization request ([`start_session`]).

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use writ_service::logins::{self, Refused};

use super::consent::start_session;
use super::pages;
use super::{form_again, precheck};
use crate::http::client_addr::ClientAddr;
use crate::http::with_retry_after;
use crate::state::AppState;

/// The login and sign-up forms' fields.
#[derive(Deserialize)]
pub struct LoginForm {
    pub(crate) tx: String,
    pub(crate) csrf: String,
    pub(crate) username: String,
    pub(crate) password: String,
}

/// `POST /u/login`.
pub async fn login(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let v = match precheck(&state, &headers, &f.csrf, &f.tx) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let email = f.username.trim().to_lowercase();
    let page = form_again(&state, &addr, pages::Form::Login, &v, &f.tx);
    let peer = crate::audit::peer(addr.ip, &headers);
    let attempt = logins::Attempt {
        via: writ_service::audit::Via::LoginPage,
        peer: &peer,
        client_id: &v.client.client_id,
        username: &f.username,
        password: &f.password,
    };
    match logins::check(&state, attempt).await {
        Ok(user) => {
            // A second factor first, when the user has one or one is required (see `mfa`).
            match super::mfa::after_password(&state, &addr, &headers, &v, &f.tx, &user).await {
                Some(r) => r,
                None => {
                    // No second factor: maybe the offer to create a passkey (see `passkeys`).
                    if let Some(r) = super::passkeys::offer(&state, &addr, &v, &f.tx, &user).await {
                        return r;
                    }
                    let amr = writ_service::mfa::AMR_PWD;
                    start_session(&state, &addr, &v, &f.tx, &user.user_id, amr).await
                }
            }
        }
        Err(Refused::TooManyAttempts { retry_after }) => with_retry_after(
            page(
                &email,
                "Too many failed attempts: logins for this account from your network are blocked for 15 minutes.",
                Some(StatusCode::TOO_MANY_REQUESTS),
            ),
            retry_after,
        ),
        Err(Refused::WrongCredentials) => page(&email, "Wrong email or password.", None),
        Err(Refused::UserBlocked) => page(
            &email,
            "This account is blocked. Contact your administrator.",
            None,
        ),
        Err(Refused::Internal) => pages::internal(),
    }
}
