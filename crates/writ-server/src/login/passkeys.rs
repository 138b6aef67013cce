//! Passkeys on the hosted pages ([`writ_service::passkeys`] holds the rules): the login page's
//! "Sign in with a passkey" and autofill (passwordless), and the second-factor page's passkey
//! (to sign in with after the password, or to register instead of an authenticator app).
//!
//! The page's script asks for a ceremony's options with a small form post (`…/options`,
//! answered in JSON), runs `navigator.credentials`, and posts the browser's answer as an
//! ordinary form, answered with a page or the redirect to the application, as the password
//! form is. Every post carries the CSRF token of its cookie; a ceremony is bound to this
//! browser's login state (the login form's CSRF cookie, or the half-login's cookie), so a
//! challenge handed to one browser cannot be finished by another, and each is used once.
//! Options and answers are rate-limited per IP; second-factor answers also take from the
//! user's attempt bucket.
//!
//! With `passkey_enrollment_offer`, a password login that needed no second factor offers a
//! user without a passkey to create one ([`offer`]): the same page and endpoints, on a
//! half-login whose factor question is settled (`verified`, `amr` `pwd`), "Not now" included.

use std::net::IpAddr;

use axum::Form;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use writ_core::User;
use writ_service::crypto::sha256_hex;
use writ_service::mfa::{self, Checked, LoginKind, Pending};
use writ_service::passkeys::{self, Ceremony, Registered, SignedIn};
use writ_store::MfaLogin;

use super::consent::start_session;
use super::mfa::{
    Shown, again_page, expired, open_session, page as mfa_page, resume, set_cookie, show_recovery,
};
use super::pages;
use super::pages::internal;
use super::{form_again, precheck};
use crate::http::client_addr::ClientAddr;
use crate::http::with_retry_after;
use crate::oauth::request::Validated;
use crate::state::AppState;

/// The options request of the login page (its authorization request and CSRF token).
#[derive(Deserialize)]
pub struct LoginOptionsForm {
    tx: String,
    csrf: String,
}

/// The login page's passkey answer.
#[derive(Deserialize)]
pub struct LoginForm {
    tx: String,
    csrf: String,
    #[serde(default)]
    credential: String,
}

/// The second-factor page's options request.
#[derive(Deserialize)]
pub struct FactorOptionsForm {
    csrf: String,
}

/// The second-factor page's passkey answer: `mode` `create` (a registration) or `get`.
#[derive(Deserialize)]
pub struct FactorForm {
    csrf: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    mode: String,
}

/// The binding of a login-page ceremony: this browser's login form (its CSRF cookie, which
/// the form's token matched).
fn login_binding(csrf: &str) -> String {
    sha256_hex(&format!("passkey-login:{csrf}"))
}

fn json_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// A failure of the server while starting a ceremony: logged (with what it was doing), and a
/// bare `server_error` to the browser.
fn internal_json(e: &dyn std::fmt::Display, doing: &str) -> Response {
    tracing::error!(error = %e, "passkey: {doing}");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "server_error",
        "Internal error",
    )
}

fn too_many(retry_after: u64) -> Response {
    with_retry_after(
        json_error(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "Too many passkey attempts. Wait a minute and try again.",
        ),
        retry_after.max(1),
    )
}

/// Why a ceremony may not start for `ip`, if it may not: passkeys unavailable, or the IP
/// over its limit (the JSON refusal).
fn ceremony_refused(state: &AppState, ip: IpAddr) -> Option<Response> {
    if !passkeys::available(state) {
        return Some(json_error(
            StatusCode::NOT_FOUND,
            "passkeys_unavailable",
            "Passkeys are not available here.",
        ));
    }
    state.limiter.passkey_attempt(ip).err().map(too_many)
}

fn options_json(options: serde_json::Value, mode: &str) -> Response {
    let mut r = Json(json!({ "mode": mode, "publicKey": options })).into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `POST /u/passkey/options`: a passwordless ceremony for this browser's login form.
pub async fn login_options(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    Form(f): Form<LoginOptionsForm>,
) -> Response {
    if let Err(r) = precheck(&state, &headers, &f.csrf, &f.tx) {
        return *r;
    }
    if let Some(r) = ceremony_refused(&state, addr.ip) {
        return r;
    }
    match passkeys::start_sign_in(&state, Ceremony::Login, &login_binding(&f.csrf), None).await {
        Ok(o) => options_json(o, "get"),
        Err(e) => internal_json(&e, "starting a sign-in"),
    }
}

/// `POST /u/passkey/login`: the browser's assertion; on success the session is opened as after
/// a password (and a second factor: the passkey verified its user), and the authorization
/// request answered.
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
    let page = form_again(&state, &addr, pages::Form::Login, &v, &f.tx);
    if let Err(wait) = state.limiter.passkey_attempt(addr.ip) {
        return with_retry_after(
            page(
                "",
                "Too many passkey attempts. Wait a minute and try again.",
                Some(StatusCode::TOO_MANY_REQUESTS),
            ),
            wait.max(1),
        );
    }
    let peer = crate::audit::peer(addr.ip, &headers);
    let binding = login_binding(&f.csrf);
    match passkeys::finish_login(&state, &peer, &v.client.client_id, &binding, &f.credential).await
    {
        Ok(SignedIn::User(user)) => {
            start_session(
                &state,
                &addr,
                &v,
                &f.tx,
                &user.user_id,
                passkeys::AMR_PASSKEY,
            )
            .await
        }
        Ok(SignedIn::Refused) => page(
            "",
            "That passkey was not accepted. Try again, or log in with your password.",
            None,
        ),
        Ok(SignedIn::Blocked) => page(
            "",
            "This account is blocked. Contact your administrator.",
            None,
        ),
        Err(e) => {
            tracing::error!(error = %e, "passkey: finishing a sign-in");
            pages::internal()
        }
    }
}

/// After a password login that needed no second factor: the offer to create a passkey, when
/// `passkey_enrollment_offer` is on, passkeys are available and the user has none; `None`
/// (the caller opens the session) otherwise.
pub(crate) async fn offer(
    state: &AppState,
    addr: &ClientAddr,
    v: &Validated,
    tx: &str,
    user: &User,
) -> Option<Response> {
    if !state.config.passkey_enrollment_offer || !passkeys::available(state) {
        return None;
    }
    match passkeys::has_passkey(state, &user.user_id).await {
        Ok(false) => {}
        Ok(true) => return None,
        Err(e) => {
            tracing::error!(error = %e, "passkey: reading the user's passkeys");
            return None;
        }
    }
    let pending = Pending {
        kind: LoginKind::Verified,
        user_id: &user.user_id,
        client_id: &v.client.client_id,
        audience: None,
        scope: Some(mfa::AMR_PWD),
        tx: Some(tx),
    };
    let token = match mfa::start_login(state, pending).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "passkey: storing the login");
            return Some(internal());
        }
    };
    let mut r = offer_page(state, addr, v, None, StatusCode::OK);
    set_cookie(&mut r, state, addr, &token);
    Some(r)
}

fn offer_page(
    state: &AppState,
    addr: &ClientAddr,
    v: &Validated,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    mfa_page(
        state,
        addr,
        v,
        Shown::Offer,
        Some("Create a passkey"),
        error,
        status,
    )
}

/// This browser's half-login for the second-factor page: waiting for its factor (`page`), or
/// settled and offered a passkey (`verified`, see [`offer`]; `true`).
async fn resume_either(
    state: &AppState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(String, MfaLogin, Validated, User, bool), Box<Response>> {
    match resume(state, headers, csrf, LoginKind::Page).await {
        Ok((t, l, v, u)) => Ok((t, l, v, u, false)),
        Err(first) => match resume(state, headers, csrf, LoginKind::Verified).await {
            // Only the offer's half-login (its `amr` a password's) takes a passkey.
            Ok((t, l, v, u)) if l.scope.as_deref() == Some(mfa::AMR_PWD) => Ok((t, l, v, u, true)),
            _ => Err(first),
        },
    }
}

/// `POST /u/mfa/passkey/options`: for this browser's half-login, a sign-in with the user's
/// passkey (`get`) when they have one, else (while enrolling) a registration (`create`).
pub async fn factor_options(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    Form(f): Form<FactorOptionsForm>,
) -> Response {
    let (_, login, _, user, offered) = match resume_either(&state, &headers, &f.csrf).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if let Some(r) = ceremony_refused(&state, addr.ip) {
        return r;
    }
    let result = async {
        if offered {
            if passkeys::has_passkey(&state, &user.user_id).await? {
                return Err(writ_service::ServiceError::Conflict(
                    "Already has a passkey".into(),
                ));
            }
            let o = passkeys::start_registration(&state, &user, &login.id).await?;
            return Ok((o, "create"));
        }
        if passkeys::has_passkey(&state, &user.user_id).await? {
            let o =
                passkeys::start_sign_in(&state, Ceremony::Factor, &login.id, Some(&user.user_id))
                    .await?;
            return Ok((o, "get"));
        }
        if mfa::enrolled(&state, &user.user_id).await? {
            // A TOTP user without a passkey signs in with their code; registering one is for
            // enrollment only (a new factor after a password alone would weaken the account).
            return Err(writ_service::ServiceError::Conflict(
                "No passkey to use".into(),
            ));
        }
        let o = passkeys::start_registration(&state, &user, &login.id).await?;
        Ok((o, "create"))
    }
    .await;
    match result {
        Ok((o, mode)) => options_json(o, mode),
        Err(writ_service::ServiceError::Conflict(m)) => {
            json_error(StatusCode::CONFLICT, "no_passkey", &m)
        }
        Err(e) => internal_json(&e, "starting a second-factor ceremony"),
    }
}

/// `POST /u/mfa/passkey`: the browser's answer on the second-factor page. A registration
/// (while enrolling) ends like a first TOTP code: the recovery code is shown once, then the
/// session opens; an assertion of one of the user's passkeys opens it at once.
pub async fn factor(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    Form(f): Form<FactorForm>,
) -> Response {
    let (token, login, v, user, offered) = match resume_either(&state, &headers, &f.csrf).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let peer = crate::audit::peer(addr.ip, &headers);
    if let Err(wait) = state.limiter.passkey_attempt(addr.ip) {
        let busy = "Too many attempts. Wait a few minutes and try again.";
        let r = if offered {
            offer_page(&state, &addr, &v, Some(busy), StatusCode::TOO_MANY_REQUESTS)
        } else {
            again_page(
                &state,
                &addr,
                &v,
                &user,
                busy,
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await
        };
        return with_retry_after(r, wait.max(1));
    }
    if offered {
        if f.mode != "create" {
            return expired();
        }
        return match passkeys::finish_registration(&state, &peer, &user, &login.id, &f.credential)
            .await
        {
            // Registering is not signing in with it: the login stays a password login.
            Ok(Registered::Added(_)) => {
                open_session(&state, &addr, &token, &v, &login, mfa::AMR_PWD).await
            }
            Ok(Registered::Refused) => offer_page(
                &state,
                &addr,
                &v,
                Some("The passkey could not be created. Try again, or choose Not now."),
                StatusCode::BAD_REQUEST,
            ),
            Err(e) => {
                tracing::error!(error = %e, "passkey: finishing a registration");
                pages::internal()
            }
        };
    }
    if f.mode == "create" {
        if let Ok(true) = mfa::enrolled(&state, &user.user_id).await {
            return expired();
        }
        return match passkeys::finish_registration(&state, &peer, &user, &login.id, &f.credential)
            .await
        {
            Ok(Registered::Added(_)) => match mfa::new_recovery_code(&state, &user.user_id).await {
                Ok(rc) => {
                    show_recovery(
                        &state,
                        &addr,
                        &token,
                        &v,
                        &login,
                        &rc,
                        passkeys::AMR_PWD_PASSKEY,
                    )
                    .await
                }
                Err(e) => {
                    tracing::error!(error = %e, "passkey: making the recovery code");
                    pages::internal()
                }
            },
            Ok(Registered::Refused) => {
                again_page(
                    &state,
                    &addr,
                    &v,
                    &user,
                    "The passkey could not be registered. Try again.",
                    StatusCode::BAD_REQUEST,
                )
                .await
            }
            Err(e) => {
                tracing::error!(error = %e, "passkey: finishing a registration");
                pages::internal()
            }
        };
    }
    match passkeys::check_factor(&state, &peer, &user, &login.id, &f.credential).await {
        Ok(Checked::Accepted { .. }) => {
            open_session(&state, &addr, &token, &v, &login, passkeys::AMR_PWD_PASSKEY).await
        }
        Ok(Checked::Wrong) => {
            again_page(
                &state,
                &addr,
                &v,
                &user,
                "That passkey was not accepted. Try again.",
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Ok(Checked::TooManyAttempts { retry_after }) => with_retry_after(
            again_page(
                &state,
                &addr,
                &v,
                &user,
                "Too many attempts. Wait a few minutes and try again.",
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await,
            retry_after.max(1),
        ),
        Err(e) => {
            tracing::error!(error = %e, "passkey: checking a second factor");
            pages::internal()
        }
    }
}
