//! The hosted pages of the login (Auth0's Universal Login, simply): the login form
//! (`POST /u/login`, CSRF-protected, brute-force limited), passkeys ([`passkeys`]: passwordless
//! and as a second factor), sign-up (`/u/signup`), the consent
//! of third-party clients (`POST /u/consent`), Auth0's `POST /dbconnections/signup` for SPAs
//! with their own form ([`dbconnections`]), logout (`/v2/logout`, `/oidc/logout`), and the
//! pages they show ([`pages`], askama templates under `templates/login/`). Authorization
//! requests themselves are [`crate::oauth::request`]'s; a form carries one (`tx`) and is
//! answered through it once the user is signed in.

pub mod account;
pub mod consent;
pub mod dbconnections;
pub mod form;
pub mod logout;
pub mod mfa;
pub mod pages;
pub mod passkeys;
pub mod signup;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use subtle::ConstantTimeEq;

use writ_service::crypto::random_token;

use crate::http::client_addr::ClientAddr;
use crate::http::cookies::{self, LOGIN_CSRF, SameSite};
use crate::http::origin_of;
use crate::oauth::request::{AuthorizeParams, Validated, check, redirect_error, validate};
use crate::state::AppState;
use pages::Note;

/// The routes of the hosted pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/u/login", post(form::login))
        .route("/u/consent", post(consent::consent))
        .route("/u/mfa", post(mfa::verify))
        .route("/u/mfa/continue", post(mfa::continue_login))
        .route("/u/passkey/options", post(passkeys::login_options))
        .route("/u/passkey/login", post(passkeys::login))
        .route("/u/mfa/passkey/options", post(passkeys::factor_options))
        .route("/u/mfa/passkey", post(passkeys::factor))
        .route("/u/signup", get(signup::signup_page).post(signup::signup))
        .route(
            "/u/email-verification",
            get(account::verify_page).post(account::verify),
        )
        .route(
            "/u/reset-password",
            get(account::reset_page).post(account::reset),
        )
        .route(
            "/u/forgot-password",
            get(account::forgot_page).post(account::forgot),
        )
        .route(
            "/dbconnections/change_password",
            post(account::change_password),
        )
        .route("/v2/logout", get(logout::logout_v2))
        .route("/oidc/logout", get(logout::logout_oidc))
}

/// The account endpoints SPAs call cross-origin (served under the CORS layer).
pub fn browser_routes() -> Router<AppState> {
    Router::new().route("/dbconnections/signup", post(dbconnections::signup))
}

/// Checks a posted form: the Origin (when the browser sends one) must be ours and the CSRF
/// token must match its SameSite=Strict cookie; then the carried authorization request must
/// still be valid.
pub(crate) fn precheck(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
    tx: &str,
) -> Result<Validated, Box<Response>> {
    let ours = origin_of(&state.config.issuer);
    let origin_ok = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_none_or(|o| o == ours);
    let cookie_csrf = cookies::get(state, headers, LOGIN_CSRF).unwrap_or_default();
    let csrf_ok =
        !cookie_csrf.is_empty() && bool::from(cookie_csrf.as_bytes().ct_eq(csrf.as_bytes()));
    if !origin_ok || !csrf_ok {
        return Err(Box::new(pages::error(
            StatusCode::FORBIDDEN,
            "Request refused",
            "This form expired or was not sent from this site. Go back to the application and try again.",
        )));
    }
    let p: AuthorizeParams = serde_urlencoded::from_str(tx).unwrap_or_default();
    let v = validate(state, p)?;
    if let Err((e, d)) = check(state, &v) {
        return Err(Box::new(redirect_error(&v, e, &d)));
    }
    Ok(v)
}

/// A page of the login flow with a fresh CSRF token: in the page `render` makes with it, and in
/// the form's SameSite=Strict cookie.
pub(crate) fn csrf_page(
    state: &AppState,
    addr: &ClientAddr,
    render: impl FnOnce(&str) -> Response,
) -> Response {
    let csrf = random_token(24);
    let mut r = render(&csrf);
    cookies::set(
        &mut r,
        state,
        addr,
        LOGIN_CSRF,
        &csrf,
        SameSite::Strict,
        None,
    );
    r
}

#[allow(clippy::too_many_arguments)]
/// The login (or sign-up) form for the authorization request `tx`, with a fresh CSRF token in
/// its cookie.
pub(crate) fn login_page(
    state: &AppState,
    addr: &ClientAddr,
    form: pages::Form,
    v: &Validated,
    tx: &str,
    email: &str,
    note: Option<Note<'_>>,
    status_override: Option<StatusCode>,
) -> Response {
    csrf_page(state, addr, |csrf| {
        let mut r = pages::login(
            form,
            tx,
            csrf,
            email,
            note,
            &v.client.name,
            &origin_of(&v.redirect_uri),
            state.config.signup_enabled,
            writ_service::passkeys::available(state),
        );
        if let Some(s) = status_override {
            *r.status_mut() = s;
        }
        r
    })
}

/// The form `form` of the authorization request `tx` again, with an error: a closure taking
/// the email to fill in, the error, and the status when not the page's own (400).
pub(crate) fn form_again<'a>(
    state: &'a AppState,
    addr: &'a ClientAddr,
    form: pages::Form,
    v: &'a Validated,
    tx: &'a str,
) -> impl Fn(&str, &str, Option<StatusCode>) -> Response + 'a {
    move |email: &str, error: &str, status: Option<StatusCode>| {
        login_page(
            state,
            addr,
            form,
            v,
            tx,
            email,
            Some(Note::Error(error)),
            status,
        )
    }
}
