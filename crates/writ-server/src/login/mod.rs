//! The hosted pages of the login (Auth0's Universal Login, simply): the login form
//! (`POST /u/login`, CSRF-protected, brute-force limited), sign-up (`/u/signup`), the consent
//! of third-party clients (`POST /u/consent`), logout (`/v2/logout`, `/oidc/logout`), and the
//! pages they show ([`pages`], askama templates under `templates/login/`). Authorization
//! requests themselves are [`crate::oauth::authorize`]'s; a form carries one (`tx`) and is
//! answered through it once the user is signed in.

pub mod consent;
pub mod form;
pub mod logout;
pub mod pages;
pub mod signup;

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use subtle::ConstantTimeEq;

use crate::http::cookies::{self, LOGIN_CSRF};
use crate::http::origin_of;
use crate::oauth::authorize::{
    AuthorizeParams, Validated, check, invalid_page, redirect_error, validate,
};
use crate::state::AppState;

/// The routes of the hosted pages.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/u/login", post(form::login))
        .route("/u/consent", post(consent::consent))
        .route("/u/signup", get(signup::signup_page).post(signup::signup))
        .route("/v2/logout", get(logout::logout_v2))
        .route("/oidc/logout", get(logout::logout_oidc))
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
    let v = validate(state, p).map_err(|d| Box::new(invalid_page(d)))?;
    if let Err((e, d)) = check(state, &v) {
        return Err(Box::new(redirect_error(&v, e, &d)));
    }
    Ok(v)
}
