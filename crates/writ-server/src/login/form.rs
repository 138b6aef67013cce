//! The login form: shown by `/authorize` (and after sign-up), posted to `POST /u/login`. The
//! password is checked by [`writ_service::logins::check`], the same check as the password
//! grant's; success opens an SSO session and answers the authorization request.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::Deserialize;
use writ_service::crypto::{random_token, sha256_hex};
use writ_service::logins::{self, Refused};
use writ_service::time::now;
use writ_store::Session;

use super::consent::{Answered, answer};
use super::pages::{self, Note};
use super::{login_page, precheck};
use crate::http::client_addr::ClientAddr;
use crate::http::cookies::{self, LOGIN_CSRF, SSO_SESSION, SameSite};
use crate::oauth::request::Validated;
use crate::state::AppState;

use writ_core::protocol::SESSION_ABSOLUTE;

/// The login and sign-up forms' fields.
#[derive(Deserialize)]
pub struct LoginForm {
    pub(crate) tx: String,
    pub(crate) csrf: String,
    pub(crate) username: String,
    pub(crate) password: String,
}

/// Opens an SSO session for the user, who authenticated as `amr` says, sets its cookie and
/// answers the authorization request (`tx`) through [`answer`].
pub(crate) async fn start_session(
    state: &AppState,
    addr: &ClientAddr,
    v: &Validated,
    tx: &str,
    user_id: &str,
    amr: &str,
) -> Response {
    let token = random_token(32);
    let t = now();
    let session = Session {
        id: sha256_hex(&token),
        sid: random_token(16),
        user_id: user_id.to_owned(),
        auth_time: t,
        last_seen: t,
        expires_at: t + SESSION_ABSOLUTE,
        amr: Some(amr.to_owned()),
    };
    if let Err(e) = state.store.create_session(&session).await {
        tracing::error!(error = %e, "creating a session");
        return pages::internal();
    }
    let (mut r, answered) = answer(state, addr, v, tx, &session).await;
    cookies::set(
        &mut r,
        state,
        addr,
        SSO_SESSION,
        &token,
        SameSite::Lax,
        Some(SESSION_ABSOLUTE),
    );
    if answered == Answered::Client {
        cookies::clear(&mut r, state, addr, LOGIN_CSRF, SameSite::Strict);
    }
    r
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
    let page = |error: &str, status: Option<StatusCode>| {
        login_page(
            &state,
            &addr,
            pages::Form::Login,
            &v,
            &f.tx,
            &email,
            Some(Note::Error(error)),
            status,
        )
    };
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
                    let amr = writ_service::mfa::AMR_PWD;
                    start_session(&state, &addr, &v, &f.tx, &user.user_id, amr).await
                }
            }
        }
        Err(Refused::TooManyAttempts { retry_after }) => {
            let mut r = page(
                "Too many failed attempts: logins for this account from your network are blocked for 15 minutes.",
                Some(StatusCode::TOO_MANY_REQUESTS),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            r
        }
        Err(Refused::WrongCredentials) => page("Wrong email or password.", None),
        Err(Refused::UserBlocked) => {
            page("This account is blocked. Contact your administrator.", None)
        }
        Err(Refused::Internal) => pages::internal(),
    }
}
