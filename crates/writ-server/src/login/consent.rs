//! Consent: a third-party client acts for a user only once the user allowed what it asks for
//! (see [`writ_service::access`]). The page lists the scopes; `POST /u/consent` records the
//! decision and answers the authorization request. A login that passed every step opens its
//! SSO session here too ([`start_session`]), then answers the request the same way.

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use writ_core::protocol::SESSION_ABSOLUTE;
use writ_service::crypto::{random_token, sha256_hex};
use writ_service::time::now;
use writ_store::Session;

use super::pages;
use super::{csrf_page, login_page, precheck};
use crate::http::client_addr::ClientAddr;
use crate::http::cookies::{self, LOGIN_CSRF, SSO_SESSION, SameSite};
use crate::http::origin_of;
use crate::oauth::request::{Validated, issue_code, live_session, redirect_error};
use crate::state::AppState;

/// The consent page, with a fresh CSRF token in the form's cookie.
pub(crate) fn page(
    state: &AppState,
    addr: &ClientAddr,
    v: &Validated,
    tx: &str,
    email: &str,
    api: Option<&writ_core::ResourceServer>,
    scopes: &[String],
) -> Response {
    let described = |s: &str| -> String {
        match s {
            "openid" => "know who you are".into(),
            "profile" => "read your name".into(),
            "email" => "read your email address".into(),
            "offline_access" => "keep access while you are away (refresh tokens)".into(),
            _ => api
                .and_then(|a| a.scopes.iter().find(|x| x.value == s))
                .map(|x| x.description.clone())
                .unwrap_or_default(),
        }
    };
    let asked = pages::Asked {
        api_name: api.map(|a| a.name.as_str()),
        scopes: scopes.iter().map(|s| (s.clone(), described(s))).collect(),
    };
    csrf_page(state, addr, |csrf| {
        pages::consent(
            tx,
            csrf,
            &v.client.name,
            email,
            &asked,
            &origin_of(&v.redirect_uri),
        )
    })
}

/// How [`answer`] answered.
#[derive(PartialEq, Eq)]
pub(crate) enum Answered {
    /// With a code or an error, sent back to the client.
    Client,
    /// With the consent page (which keeps the form's CSRF cookie).
    ConsentPage,
}

/// Answers an authorization request for the signed-in user of `session`: a code, unless a
/// third-party client lacks the user's consent for what it asks (or `prompt=consent` asks
/// again), in which case the consent page comes first (or `consent_required` with
/// `prompt=none`). See [`writ_service::access`].
pub(crate) async fn answer(
    state: &AppState,
    addr: &ClientAddr,
    v: &Validated,
    tx: &str,
    session: &Session,
) -> (Response, Answered) {
    // A client may require a verified email (WRIT_REQUIRE_VERIFIED_EMAIL): the application
    // gets `access_denied`, as from Auth0.
    if writ_service::account::requires_verified_email(state, &v.client.client_id) {
        match state.store.get_user(&session.user_id).await {
            Ok(u) if !u.email_verified => {
                return (
                    redirect_error(v, "access_denied", writ_service::account::VERIFY_FIRST),
                    Answered::Client,
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "reading the user of a session");
                return (pages::internal(), Answered::Client);
            }
        }
    }
    if !v.client.is_first_party {
        let api = v
            .audience()
            .and_then(|a| state.catalog.load().apis.get(a).cloned());
        let scopes = writ_service::access::consent_scopes(api.as_deref(), v.scope());
        let audience = writ_service::access::consent_audience(state, v.audience());
        let needed = if v.prompts("consent") {
            Ok(true)
        } else {
            writ_service::access::needs_consent(
                state,
                &v.client,
                &session.user_id,
                audience,
                &scopes,
            )
            .await
        };
        match needed {
            Ok(false) => {}
            Ok(true) if v.prompts("none") => {
                return (
                    redirect_error(
                        v,
                        "consent_required",
                        "The user has not consented to this application.",
                    ),
                    Answered::Client,
                );
            }
            Ok(true) => {
                let email = match state.store.get_user(&session.user_id).await {
                    Ok(u) => u.email,
                    Err(e) => {
                        tracing::error!(error = %e, "reading the user for the consent page");
                        return (pages::internal(), Answered::Client);
                    }
                };
                return (
                    page(state, addr, v, tx, &email, api.as_deref(), &scopes),
                    Answered::ConsentPage,
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "reading a consent");
                return (
                    redirect_error(v, "server_error", "Internal error"),
                    Answered::Client,
                );
            }
        }
    }
    (
        issue_code(
            state,
            v,
            &session.user_id,
            &session.sid,
            session.auth_time,
            session.amr.as_deref(),
        )
        .await,
        Answered::Client,
    )
}

#[derive(Deserialize)]
pub struct ConsentForm {
    tx: String,
    csrf: String,
    decision: String,
}

/// `POST /u/consent`: the signed-in user allows (the consent is recorded, a code issued) or
/// denies (`access_denied` goes back to the client) what a third-party client asked for.
pub async fn consent(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    Form(f): Form<ConsentForm>,
) -> Response {
    let v = match precheck(&state, &headers, &f.csrf, &f.tx) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let Some(session) = live_session(&state, &headers).await else {
        // The session ended meanwhile: sign in again (and be asked again).
        return login_page(&state, &addr, pages::Form::Login, &v, &f.tx, "", None, None);
    };
    let mut r = match f.decision.as_str() {
        "allow" => {
            let api = v
                .audience()
                .and_then(|a| state.catalog.load().apis.get(a).cloned());
            let scopes = writ_service::access::consent_scopes(api.as_deref(), v.scope());
            let audience = writ_service::access::consent_audience(&state, v.audience());
            match state
                .store
                .record_consent(&session.user_id, &v.client.client_id, audience, &scopes)
                .await
            {
                Ok(_) => {
                    issue_code(
                        &state,
                        &v,
                        &session.user_id,
                        &session.sid,
                        session.auth_time,
                        session.amr.as_deref(),
                    )
                    .await
                }
                Err(e) => {
                    tracing::error!(error = %e, "recording a consent");
                    redirect_error(&v, "server_error", "Internal error")
                }
            }
        }
        _ => redirect_error(
            &v,
            "access_denied",
            "The user did not authorize the application.",
        ),
    };
    cookies::clear(&mut r, &state, &addr, LOGIN_CSRF, SameSite::Strict);
    r
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
