//! The hosted pages' second factor: after a correct password ([`after_password`], called by
//! the login form), a user with a TOTP factor gets the challenge page (a 6-digit code, or the
//! recovery code), and one who must use a factor but has none the enrollment page (the QR code
//! drawn locally as SVG, the key in text, confirmed with a first code, then the recovery code
//! shown once). Either page may offer a passkey instead ([`super::passkeys`]): the user's own on
//! the challenge page, a new one on the enrollment page. Only then is the SSO session opened
//! and the authorization request answered.
//!
//! The half-done login is a stored record ([`writ_service::mfa`]: hashed, 10 minutes, bound to
//! the user, the client and the authorization request) named by a `SameSite=Strict` cookie of
//! this browser; every form carries the CSRF token of its cookie, and the authorization
//! request is checked again (from the record, not the form) before it is answered.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use writ_core::User;
use writ_service::mfa::{self, Checked, LoginKind, Pending, Requirement};
use writ_service::passkeys;
use writ_store::MfaLogin;

use super::consent::start_session;
use super::{csrf_page, pages, precheck};
use crate::http::client_addr::ClientAddr;
use crate::http::cookies::{self, SameSite};
use crate::http::origin_of;
use crate::http::with_retry_after;
use crate::oauth::request::Validated;
use crate::state::AppState;

/// The cookie naming this browser's half-done login.
pub const MFA_COOKIE: &str = "writ_mfa";
/// The cookie of a browser remembered after a second factor (`mfa_remember_browser_days`).
pub const REMEMBER_COOKIE: &str = "writ_mfa_remember";

#[derive(Template)]
#[template(escape = "entities", path = "login/mfa.html")]
struct MfaPage<'a> {
    css: &'static str,
    title: &'a str,
    client: &'a str,
    error: Option<&'a str>,
    csrf: &'a str,
    qr_svg: Option<&'a str>,
    secret: &'a str,
    recovery_code: Option<&'a str>,
    /// The passkey button's label, when the page offers one.
    passkey: Option<&'a str>,
    /// The offer to create a passkey after a password login (skippable).
    offer: bool,
    nonce: &'a str,
    passkey_js: &'static str,
}

/// What the page shows.
pub(super) enum Shown<'a> {
    Challenge,
    Enroll(&'a mfa::Enrollment),
    Recovery(&'a str),
    /// The offer to create a passkey (`passkey_enrollment_offer`).
    Offer,
}

/// What the page offers besides a code: a passkey (to sign in with, or, while enrolling, to
/// register instead of an authenticator app), as the button's label.
pub(super) async fn passkey_offer(
    state: &AppState,
    user_id: &str,
    enrolling: bool,
) -> Option<&'static str> {
    if !passkeys::available(state) {
        return None;
    }
    if enrolling {
        return Some("Use a passkey instead");
    }
    match passkeys::has_passkey(state, user_id).await {
        Ok(true) => Some("Use your passkey"),
        Ok(false) => None,
        Err(e) => {
            tracing::error!(error = %e, "second factor: reading the user's passkeys");
            None
        }
    }
}

pub(super) fn page(
    state: &AppState,
    addr: &ClientAddr,
    v: &Validated,
    shown: Shown<'_>,
    passkey: Option<&str>,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let nonce = writ_service::crypto::random_token(16);
    let passkey = if matches!(shown, Shown::Recovery(_)) {
        None
    } else {
        passkey
    };
    csrf_page(state, addr, |csrf| {
        let (title, qr, secret, recovery) = match &shown {
            Shown::Challenge => ("Verify it's you", None, "", None),
            Shown::Enroll(e) => (
                "Secure your account",
                Some(e.qr_svg.as_str()),
                e.secret.as_str(),
                None,
            ),
            Shown::Recovery(c) => ("Your recovery code", None, "", Some(*c)),
            Shown::Offer => ("Sign in faster next time", None, "", None),
        };
        let p = MfaPage {
            css: pages::CSS,
            title,
            client: &v.client.name,
            error,
            csrf,
            qr_svg: qr,
            secret,
            recovery_code: recovery,
            passkey,
            offer: matches!(shown, Shown::Offer),
            nonce: &nonce,
            passkey_js: pages::PASSKEY_JS,
        };
        let r = match p.render() {
            Ok(body) => (status, Html(body)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "rendering the second-factor page");
                return pages::internal();
            }
        };
        let script = passkey.map(|_| nonce.as_str());
        pages::secure(r, script, Some(&origin_of(&v.redirect_uri)), "'none'")
    })
}

pub(super) fn set_cookie(r: &mut Response, state: &AppState, addr: &ClientAddr, token: &str) {
    cookies::set(
        r,
        state,
        addr,
        MFA_COOKIE,
        token,
        SameSite::Strict,
        Some(mfa::MFA_LOGIN_LIFETIME),
    );
}

pub(super) fn expired() -> Response {
    pages::error(
        StatusCode::BAD_REQUEST,
        "Login expired",
        "This login took too long or was already finished. Go back to the application and log in again.",
    )
}

/// After a correct password: `None` when no second factor is needed (the caller opens the
/// session), else the challenge or enrollment page with this browser's half-login cookie.
pub(crate) async fn after_password(
    state: &AppState,
    addr: &ClientAddr,
    headers: &HeaderMap,
    v: &Validated,
    tx: &str,
    user: &User,
) -> Option<Response> {
    let need = match mfa::requirement(state, &v.client, user, true).await {
        Ok(Requirement::None) => return None,
        Ok(Requirement::Challenge) if state.config.mfa_remember_browser_days > 0 => {
            let token = cookies::get(state, headers, REMEMBER_COOKIE).unwrap_or_default();
            match mfa::remembered(state, &token, &user.user_id).await {
                Ok(true) => return None,
                Ok(false) => Requirement::Challenge,
                Err(e) => {
                    tracing::error!(error = %e, "second factor: reading a remembered browser");
                    return Some(pages::internal());
                }
            }
        }
        Ok(n) => n,
        Err(e) => {
            tracing::error!(error = %e, "second factor: reading the policy");
            return Some(pages::internal());
        }
    };
    let pending = Pending {
        kind: LoginKind::Page,
        user_id: &user.user_id,
        client_id: &v.client.client_id,
        audience: None,
        scope: None,
        tx: Some(tx),
    };
    let token = match mfa::start_login(state, pending).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "second factor: storing the login");
            return Some(pages::internal());
        }
    };
    let enrolling = need == Requirement::Enroll;
    let offer = passkey_offer(state, &user.user_id, enrolling).await;
    let mut r = match need {
        Requirement::Enroll => match mfa::start_enrollment(state, user, false).await {
            Ok(e) => page(
                state,
                addr,
                v,
                Shown::Enroll(&e),
                offer,
                None,
                StatusCode::OK,
            ),
            Err(e) => {
                tracing::error!(error = %e, "second factor: starting an enrollment");
                pages::internal()
            }
        },
        _ => page(
            state,
            addr,
            v,
            Shown::Challenge,
            offer,
            None,
            StatusCode::OK,
        ),
    };
    set_cookie(&mut r, state, addr, &token);
    Some(r)
}

/// The challenge form's fields.
#[derive(Deserialize)]
pub struct CodeForm {
    csrf: String,
    #[serde(default)]
    code: String,
}

/// The recovery-code page's form.
#[derive(Deserialize)]
pub struct ContinueForm {
    csrf: String,
}

/// This browser's half-login of `kind`, its checked authorization request and its user.
pub(super) async fn resume(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
    kind: LoginKind,
) -> Result<(String, MfaLogin, Validated, User), Box<Response>> {
    let token = cookies::get(state, headers, MFA_COOKIE).unwrap_or_default();
    let login = match mfa::pending(state, kind, &token, None).await {
        Ok(Some(l)) if !token.is_empty() => l,
        Ok(_) => return Err(Box::new(expired())),
        Err(e) => {
            tracing::error!(error = %e, "second factor: reading the login");
            return Err(Box::new(pages::internal()));
        }
    };
    let tx = login.tx.clone().unwrap_or_default();
    let v = precheck(state, headers, csrf, &tx)?;
    if v.client.client_id != login.client_id {
        return Err(Box::new(expired()));
    }
    let user = match writ_service::tokens::live_user(state, &login.user_id).await {
        Ok(u) => u,
        Err(_) => {
            return Err(Box::new(pages::error(
                StatusCode::FORBIDDEN,
                "Access denied",
                "This account cannot log in. Contact your administrator.",
            )));
        }
    };
    Ok((token, login, v, user))
}

/// Ends the half-login (once); the page to answer instead when it had already ended or expired
/// (a second tab, a replay), or on a failure.
async fn finish(state: &AppState, token: &str) -> Result<(), Response> {
    match mfa::finish_login(state, token).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(expired()),
        Err(e) => {
            tracing::error!(error = %e, "second factor: finishing the login");
            Err(pages::internal())
        }
    }
}

/// Ends the half-login (once) and opens the session; the user authenticated as `amr` says.
pub(super) async fn open_session(
    state: &AppState,
    addr: &ClientAddr,
    token: &str,
    v: &Validated,
    login: &MfaLogin,
    amr: &str,
) -> Response {
    if let Err(r) = finish(state, token).await {
        return r;
    }
    let tx = login.tx.as_deref().unwrap_or_default();
    let mut r = start_session(state, addr, v, tx, &login.user_id, amr).await;
    cookies::clear(&mut r, state, addr, MFA_COOKIE, SameSite::Strict);
    // Only a login that used a second factor remembers the browser.
    let days = state.config.mfa_remember_browser_days;
    if days > 0 && amr.split(' ').any(|a| a == "mfa") {
        match mfa::remember_browser(state, &login.user_id, &login.client_id, days).await {
            Ok(token) => cookies::set(
                &mut r,
                state,
                addr,
                REMEMBER_COOKIE,
                &token,
                SameSite::Strict,
                Some(i64::from(days) * 86_400),
            ),
            Err(e) => tracing::error!(error = %e, "second factor: remembering the browser"),
        }
    }
    r
}

/// `POST /u/mfa`: a code (or the recovery code) for this browser's half-login.
pub async fn verify(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let (token, login, v, user) = match resume(&state, &headers, &f.csrf, LoginKind::Page).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let peer = crate::audit::peer(addr.ip, &headers);
    let code = f.code.trim();
    let is_otp = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let checked = if is_otp {
        mfa::check_otp(&state, &peer, &user, code, true).await
    } else {
        mfa::check_recovery(&state, &peer, &user, code).await
    };
    let again = async |error: &str, status: StatusCode| {
        again_page(&state, &addr, &v, &user, error, status).await
    };
    match checked {
        Ok(Checked::Accepted {
            recovery_code: None,
        }) => open_session(&state, &addr, &token, &v, &login, mfa::AMR_PWD_OTP).await,
        Ok(Checked::Accepted {
            recovery_code: Some(rc),
        }) => show_recovery(&state, &addr, &token, &v, &login, &rc, mfa::AMR_PWD_OTP).await,
        Ok(Checked::Wrong) => {
            let msg = if is_otp {
                "That code is not valid. Wait for a new code and try again."
            } else {
                "That recovery code is not valid."
            };
            again(msg, StatusCode::BAD_REQUEST).await
        }
        Ok(Checked::TooManyAttempts { retry_after }) => with_retry_after(
            again(
                "Too many attempts. Wait a few minutes and try again.",
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await,
            retry_after.max(1),
        ),
        Err(e) => {
            tracing::error!(error = %e, "second factor: checking a code");
            pages::internal()
        }
    }
}

/// The challenge or enrollment page again, with `error`.
pub(super) async fn again_page(
    state: &AppState,
    addr: &ClientAddr,
    v: &Validated,
    user: &User,
    error: &str,
    status: StatusCode,
) -> Response {
    match mfa::current_enrollment(state, user).await {
        Ok(Some(e)) => {
            let offer = passkey_offer(state, &user.user_id, true).await;
            page(
                state,
                addr,
                v,
                Shown::Enroll(&e),
                offer,
                Some(error),
                status,
            )
        }
        Ok(None) => {
            let offer = passkey_offer(state, &user.user_id, false).await;
            page(state, addr, v, Shown::Challenge, offer, Some(error), status)
        }
        Err(e) => {
            tracing::error!(error = %e, "second factor: reading the enrollment");
            pages::internal()
        }
    }
}

/// After a factor was accepted with a new recovery code (`rc`, shown once): the login goes on
/// from a new half-login whose factor is already verified, which remembers the `amr` to open
/// the session with (in its `scope`, unused by page logins otherwise).
pub(super) async fn show_recovery(
    state: &AppState,
    addr: &ClientAddr,
    token: &str,
    v: &Validated,
    login: &MfaLogin,
    rc: &str,
    amr: &str,
) -> Response {
    if let Err(r) = finish(state, token).await {
        return r;
    }
    let pending = Pending {
        kind: LoginKind::Verified,
        user_id: &login.user_id,
        client_id: &login.client_id,
        audience: None,
        scope: Some(amr),
        tx: login.tx.as_deref(),
    };
    let next = match mfa::start_login(state, pending).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "second factor: storing the login");
            return pages::internal();
        }
    };
    let mut r = page(
        state,
        addr,
        v,
        Shown::Recovery(rc),
        None,
        None,
        StatusCode::OK,
    );
    set_cookie(&mut r, state, addr, &next);
    r
}

/// `POST /u/mfa/continue`: after the recovery code was shown, the session.
pub async fn continue_login(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    Form(f): Form<ContinueForm>,
) -> Response {
    match resume(&state, &headers, &f.csrf, LoginKind::Verified).await {
        Ok((token, login, v, _)) => {
            let amr = match login.scope.as_deref() {
                Some(passkeys::AMR_PWD_PASSKEY) => passkeys::AMR_PWD_PASSKEY,
                // The passkey offer, declined: a password login.
                Some(mfa::AMR_PWD) => mfa::AMR_PWD,
                _ => mfa::AMR_PWD_OTP,
            };
            open_session(&state, &addr, &token, &v, &login, amr).await
        }
        Err(r) => *r,
    }
}
