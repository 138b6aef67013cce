//! Browser login, Auth0's way: `GET /authorize` (code flow with PKCE; response modes query,
//! fragment, form_post and web_message), the hosted login form (`POST /u/login`, CSRF-protected,
//! brute-force limited), SSO sessions in an HttpOnly cookie, and logout (`/v2/logout`,
//! `/oidc/logout`).
//!
//! Sign-up (`POST /u/signup`, when enabled) is limited per IP and always ends on the login form
//! with the same neutral notice, whether or not the email was already registered, after the
//! same work (the password is hashed in both cases): the page does not reveal who has an
//! account. The user then logs in as usual.
//!
//! Errors about the client or the redirect URI are shown on a page and never redirected;
//! every other error goes back to the (validated) redirect URI, per RFC 6749 §4.1.2.1.

use std::sync::Arc;

use axum::Form;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;
use writ_core::Client;
use writ_store::{AuthCode, Session};

use crate::client_addr::ClientAddr;
use crate::cookies::{self, LOGIN_CSRF, SSO_SESSION, SameSite};
use crate::pages::{self, Note};
use crate::state::AppState;
use writ_service::crypto::{random_token, sha256_hex};
use writ_service::logins::{self, Refused};

use writ_core::protocol::{CODE_LIFETIME, SESSION_ABSOLUTE, SESSION_IDLE};
/// What every sign-up ends with, registered before or not (see the module doc).
pub const SIGNUP_DONE: &str =
    "If this address was not registered yet, your account is ready: log in.";

/// `/authorize` parameters (unknown ones, like auth0-spa-js's `auth0Client`, are ignored).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub audience: Option<String>,
    pub resource: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub response_mode: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Query,
    Fragment,
    FormPost,
    WebMessage,
}

/// A request whose client and redirect URI are valid: errors can now go back to the client.
struct Validated {
    p: AuthorizeParams,
    client: Arc<Client>,
    redirect_uri: String,
    mode: Mode,
    /// This server's issuer, named in every response (RFC 9207).
    issuer: String,
}

impl Validated {
    /// The API asked for (`audience`, or RFC 8707 `resource`).
    fn audience(&self) -> Option<&str> {
        self.p.audience.as_deref().or(self.p.resource.as_deref())
    }

    /// The scopes asked for (`openid` when none).
    fn scope(&self) -> &str {
        self.p.scope.as_deref().unwrap_or("openid")
    }

    fn prompts(&self, value: &str) -> bool {
        self.p
            .prompt
            .as_deref()
            .unwrap_or("")
            .split(' ')
            .any(|p| p == value)
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// The page shown for a request that cannot be answered by redirect.
fn invalid_page(detail: &str) -> Response {
    pages::error(StatusCode::BAD_REQUEST, "Invalid request", detail)
}

/// Checks client and redirect URI; anything wrong here is shown (see [`invalid_page`]), never
/// redirected.
fn validate(state: &AppState, p: AuthorizeParams) -> Result<Validated, &'static str> {
    let bad = |d: &'static str| d;
    let client_id = p
        .client_id
        .clone()
        .ok_or_else(|| bad("The request has no client_id."))?;
    let client = state
        .catalog
        .load()
        .clients
        .get(&client_id)
        .cloned()
        .ok_or_else(|| bad("Unknown client."))?;
    let redirect_uri = p
        .redirect_uri
        .clone()
        .ok_or_else(|| bad("The request has no redirect_uri."))?;
    if !client.callbacks.contains(&redirect_uri) {
        return Err(bad(
            "The redirect_uri is not registered for this client (Allowed Callback URLs).",
        ));
    }
    let mode = match p.response_mode.as_deref() {
        None | Some("query") => Mode::Query,
        Some("fragment") => Mode::Fragment,
        Some("form_post") => Mode::FormPost,
        Some("web_message") => Mode::WebMessage,
        Some(_) => Mode::Query,
    };
    Ok(Validated {
        p,
        client,
        redirect_uri,
        mode,
        issuer: state.config.issuer.clone(),
    })
}

/// Sends `fields` back to the client by the request's response mode, with `state` and, as
/// RFC 9207 asks (success and error alike), `iss`.
fn respond(v: &Validated, mut fields: Vec<(&'static str, String)>) -> Response {
    if let Some(s) = &v.p.state {
        fields.push(("state", s.clone()));
    }
    fields.push(("iss", v.issuer.clone()));
    let origin = origin_of(&v.redirect_uri);
    match v.mode {
        Mode::Query | Mode::Fragment => {
            let enc = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(fields.iter().map(|(k, v)| (*k, v.as_str())))
                .finish();
            let sep = if v.mode == Mode::Fragment {
                '#'
            } else if v.redirect_uri.contains('?') {
                '&'
            } else {
                '?'
            };
            let mut r = StatusCode::FOUND.into_response();
            if let Ok(loc) = HeaderValue::from_str(&format!("{}{sep}{enc}", v.redirect_uri)) {
                r.headers_mut().insert(header::LOCATION, loc);
            }
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r.headers_mut().insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            r
        }
        Mode::FormPost => {
            let f: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
            pages::form_post(&v.redirect_uri, &f, &random_token(16), &origin)
        }
        Mode::WebMessage => {
            let resp: serde_json::Map<String, serde_json::Value> = fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), json!(v)))
                .collect();
            pages::web_message(&origin, &serde_json::Value::Object(resp), &random_token(16))
        }
    }
}

fn redirect_error(v: &Validated, error: &str, desc: &str) -> Response {
    respond(
        v,
        vec![
            ("error", error.to_owned()),
            ("error_description", desc.to_owned()),
        ],
    )
}

/// Protocol checks that are reported to the client.
fn check(state: &AppState, v: &Validated) -> Result<(), (&'static str, String)> {
    if v.p.response_type.as_deref() != Some("code") {
        return Err((
            "unsupported_response_type",
            "Only response_type=code is supported.".into(),
        ));
    }
    if !v.client.allows_grant("authorization_code") {
        return Err((
            "unauthorized_client",
            "The client may not use the authorization code flow.".into(),
        ));
    }
    match (&v.p.code_challenge, v.p.code_challenge_method.as_deref()) {
        (Some(c), Some("S256")) => {
            if !(43..=128).contains(&c.len())
                || !c
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err((
                    "invalid_request",
                    "code_challenge must be a base64url SHA-256 (43 characters).".into(),
                ));
            }
        }
        (Some(_), _) => {
            return Err((
                "invalid_request",
                "code_challenge_method must be S256 (plain is not accepted).".into(),
            ));
        }
        (None, _) if v.client.secret_hash.is_none() => {
            return Err((
                "invalid_request",
                "Public clients must use PKCE (code_challenge with S256).".into(),
            ));
        }
        (None, _) => {}
    }
    let aud = v.p.audience.as_ref().or(v.p.resource.as_ref());
    if let Some(a) = aud
        && !state.catalog.load().apis.contains_key(a)
    {
        return Err(("access_denied", format!("Service not found: {a}")));
    }
    if let Err(e) =
        writ_service::access::user_audience_allowed(state, &v.client, aud.map(String::as_str))
    {
        return Err(("access_denied", e.0.to_owned()));
    }
    if let Some(m) = &v.p.max_age
        && m.parse::<u64>().is_err()
    {
        return Err((
            "invalid_request",
            "max_age must be a number of seconds.".into(),
        ));
    }
    Ok(())
}

/// The live session of this browser, if any (idle and absolute lifetimes enforced).
async fn live_session(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    let token = cookies::get(state, headers, SSO_SESSION)?;
    let s = state.store.get_session(&sha256_hex(&token)).await.ok()??;
    let t = now();
    if t >= s.expires_at || t - s.last_seen >= SESSION_IDLE {
        let _ = state.store.delete_session(&s.id).await;
        return None;
    }
    let _ = state.store.touch_session(&s.id, t).await;
    Some(s)
}

/// Issues a code for the session's user and sends it back.
async fn issue_code(
    state: &AppState,
    v: &Validated,
    user_id: &str,
    sid: &str,
    auth_time: i64,
) -> Response {
    let code = random_token(32);
    let rec = AuthCode {
        id: sha256_hex(&code),
        client_id: v.client.client_id.clone(),
        user_id: user_id.to_owned(),
        redirect_uri: v.redirect_uri.clone(),
        scope: v.scope().to_owned(),
        audience: v.audience().map(str::to_owned),
        nonce: v.p.nonce.clone(),
        code_challenge: v.p.code_challenge.clone(),
        sid: Some(sid.to_owned()),
        auth_time,
        expires_at: now() + CODE_LIFETIME,
        used_at: None,
        family_id: None,
    };
    match state.store.create_code(&rec).await {
        Ok(()) => respond(v, vec![("code", code)]),
        Err(e) => {
            tracing::error!(error = %e, "storing an authorization code");
            redirect_error(v, "server_error", "Internal error")
        }
    }
}

/// How [`answer`] answered.
#[derive(PartialEq, Eq)]
enum Answered {
    /// With a code or an error, sent back to the client.
    Client,
    /// With the consent page (which keeps the form's CSRF cookie).
    ConsentPage,
}

/// Answers an authorization request for the signed-in user of `session`: a code, unless a
/// third-party client lacks the user's consent for what it asks (or `prompt=consent` asks
/// again), in which case the consent page comes first (or `consent_required` with
/// `prompt=none`). See [`crate::access`].
async fn answer(
    state: &AppState,
    addr: &ClientAddr,
    v: &Validated,
    tx: &str,
    session: &Session,
) -> (Response, Answered) {
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
                        return (internal_page(), Answered::Client);
                    }
                };
                return (
                    consent_page(state, addr, v, tx, &email, api.as_deref(), &scopes),
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
        issue_code(state, v, &session.user_id, &session.sid, session.auth_time).await,
        Answered::Client,
    )
}

/// The consent page, with a fresh CSRF token in the form's cookie.
fn consent_page(
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
    let csrf = random_token(24);
    let mut r = pages::consent(
        tx,
        &csrf,
        &v.client.name,
        email,
        &asked,
        &origin_of(&v.redirect_uri),
    );
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

#[allow(clippy::too_many_arguments)]
fn login_page(
    state: &AppState,
    addr: &ClientAddr,
    form: pages::Form,
    v: &Validated,
    tx: &str,
    email: &str,
    note: Option<Note<'_>>,
    status_override: Option<StatusCode>,
) -> Response {
    let csrf = random_token(24);
    let mut r = pages::login(
        form,
        tx,
        &csrf,
        email,
        note,
        &v.client.name,
        &origin_of(&v.redirect_uri),
        state.config.signup_enabled,
    );
    if let Some(s) = status_override {
        *r.status_mut() = s;
    }
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

pub async fn authorize(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let raw = q.unwrap_or_default();
    let p: AuthorizeParams = match serde_urlencoded::from_str(&raw) {
        Ok(p) => p,
        Err(_) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The authorization request is malformed.",
            );
        }
    };
    let v = match validate(&state, p) {
        Ok(v) => v,
        Err(detail) => return invalid_page(detail),
    };
    if let Err((e, d)) = check(&state, &v) {
        return redirect_error(&v, e, &d);
    }
    let force_login = v.prompts("login");
    if let Some(s) = live_session(&state, &headers).await {
        let too_old =
            v.p.max_age
                .as_deref()
                .and_then(|m| m.parse::<i64>().ok())
                .is_some_and(|m| now() - s.auth_time > m);
        let user_ok = state
            .store
            .get_user(&s.user_id)
            .await
            .map(|u| !u.blocked)
            .unwrap_or(false);
        if user_ok && !force_login && !too_old {
            return answer(&state, &addr, &v, &raw, &s).await.0;
        }
    }
    if v.prompts("none") {
        return redirect_error(&v, "login_required", "Login required");
    }
    login_page(&state, &addr, pages::Form::Login, &v, &raw, "", None, None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    tx: String,
    csrf: String,
    username: String,
    password: String,
}

/// Checks a posted form: the Origin (when the browser sends one) must be ours and the CSRF
/// token must match its SameSite=Strict cookie; then the carried authorization request must
/// still be valid.
fn precheck(
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

fn internal_page() -> Response {
    pages::error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Please try again.",
    )
}

/// Opens an SSO session for the user, sets its cookie and answers the authorization request
/// (`tx`) through [`answer`].
async fn start_session(
    state: &AppState,
    addr: &ClientAddr,
    v: &Validated,
    tx: &str,
    user_id: &str,
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
    };
    if let Err(e) = state.store.create_session(&session).await {
        tracing::error!(error = %e, "creating a session");
        return internal_page();
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
        Ok(user) => start_session(&state, &addr, &v, &f.tx, &user.user_id).await,
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
        Err(Refused::Internal) => internal_page(),
    }
}

#[derive(Deserialize, Default)]
pub struct SignupQuery {
    tx: Option<String>,
}

/// `GET /u/signup?tx=…`: the sign-up form, when `WRIT_SIGNUP_ENABLED` is on.
pub async fn signup_page(
    State(state): State<AppState>,
    addr: ClientAddr,
    RawQuery(q): RawQuery,
) -> Response {
    if !state.config.signup_enabled {
        return pages::error(
            StatusCode::NOT_FOUND,
            "Sign-up is disabled",
            "Ask your administrator for an account.",
        );
    }
    let tx = serde_urlencoded::from_str::<SignupQuery>(&q.unwrap_or_default())
        .unwrap_or_default()
        .tx
        .unwrap_or_default();
    let p: AuthorizeParams = serde_urlencoded::from_str(&tx).unwrap_or_default();
    match validate(&state, p) {
        Ok(v) => login_page(&state, &addr, pages::Form::Signup, &v, &tx, "", None, None),
        Err(detail) => invalid_page(detail),
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
    if !state.config.signup_enabled {
        return pages::error(
            StatusCode::NOT_FOUND,
            "Sign-up is disabled",
            "Ask your administrator for an account.",
        );
    }
    let v = match precheck(&state, &headers, &f.csrf, &f.tx) {
        Ok(v) => v,
        Err(r) => return *r,
    };
    let page = |email: &str, error: &str| {
        login_page(
            &state,
            &addr,
            pages::Form::Signup,
            &v,
            &f.tx,
            email,
            Some(Note::Error(error)),
            None,
        )
    };
    if let Err(wait) = state.limiter.signup_attempt(addr.ip) {
        let mut r = login_page(
            &state,
            &addr,
            pages::Form::Signup,
            &v,
            &f.tx,
            "",
            Some(Note::Error(
                "Too many sign-ups from your network. Wait a minute and try again.",
            )),
            Some(StatusCode::TOO_MANY_REQUESTS),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait));
        return r;
    }
    let email = match writ_core::validate::email("email", &f.username) {
        Ok(e) => e,
        Err(_) => return page(&f.username, "Enter a valid email address."),
    };
    if writ_core::validate::password("password", &f.password).is_err() {
        return page(&email, "Choose a password of at least 8 characters.");
    }
    // Hashed before knowing whether the email is taken: both answers cost the same.
    let hash = match state.hasher.hash(&f.password).await {
        Ok(h) => h,
        Err(_) => return internal_page(),
    };
    let new = writ_store::NewUser {
        email: email.clone(),
        password_hash: Some(hash),
        ..Default::default()
    };
    match state.store.create_user(new).await {
        Ok(user) => writ_service::audit::signup(&state, &peer, &v.client.client_id, &user).await,
        // Already registered: nothing changes, and the answer is the same.
        Err(writ_store::StoreError::Conflict(_)) => {}
        Err(e) => {
            tracing::error!(error = %e, "sign-up");
            return internal_page();
        }
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

/// Ends this browser's session and clears the cookie.
async fn end_session(
    state: &AppState,
    addr: &ClientAddr,
    headers: &HeaderMap,
    mut r: Response,
) -> Response {
    if let Some(token) = cookies::get(state, headers, SSO_SESSION) {
        let _ = state.store.delete_session(&sha256_hex(&token)).await;
    }
    cookies::clear(&mut r, state, addr, SSO_SESSION, SameSite::Lax);
    r
}

fn redirect(to: &str) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(l) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, l);
    }
    r
}

#[derive(Deserialize, Default)]
pub struct LogoutParams {
    client_id: Option<String>,
    #[serde(rename = "returnTo")]
    return_to: Option<String>,
    id_token_hint: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// The client's allow list must contain the URL exactly.
fn allowed_logout(state: &AppState, client_id: Option<&str>, url: &str) -> bool {
    client_id
        .and_then(|id| state.catalog.load().clients.get(id).cloned())
        .is_some_and(|c| c.allowed_logout_urls.iter().any(|u| u == url))
}

/// Auth0's `GET /v2/logout?client_id=…&returnTo=…`.
pub async fn logout_v2(
    State(state): State<AppState>,
    addr: ClientAddr,
    crate::audit::PeerOf(peer): crate::audit::PeerOf,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let p: LogoutParams = serde_urlencoded::from_str(&q.unwrap_or_default()).unwrap_or_default();
    let r = match &p.return_to {
        None => pages::logged_out(),
        Some(to) if allowed_logout(&state, p.client_id.as_deref(), to) => redirect(to),
        Some(_) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "Invalid logout URL",
                "The returnTo URL is not in the client's Allowed Logout URLs (and client_id must be given).",
            );
        }
    };
    crate::audit::logout(&state, &peer, &headers, p.client_id.as_deref()).await;
    end_session(&state, &addr, &headers, r).await
}

/// OIDC RP-initiated logout: `GET /oidc/logout`.
pub async fn logout_oidc(
    State(state): State<AppState>,
    addr: ClientAddr,
    crate::audit::PeerOf(peer): crate::audit::PeerOf,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let p: LogoutParams = serde_urlencoded::from_str(&q.unwrap_or_default()).unwrap_or_default();
    // The client comes from client_id or from the ID token hint's audience (signature checked,
    // expiry not: a logout with an old ID token is normal); when both are given they must name
    // the same client.
    let hinted = p
        .id_token_hint
        .as_deref()
        .and_then(|t| crate::token::id_token_client(&state, t));
    if p.id_token_hint.is_some() && hinted.is_none() {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "Invalid logout request",
            "The id_token_hint is not a valid ID token from this server.",
        );
    }
    if let (Some(given), Some(hinted)) = (&p.client_id, &hinted)
        && given != hinted
    {
        return pages::error(
            StatusCode::BAD_REQUEST,
            "Invalid logout request",
            "The id_token_hint was not issued to this client_id.",
        );
    }
    let client_id = p.client_id.clone().or(hinted);
    let r = match &p.post_logout_redirect_uri {
        None => pages::logged_out(),
        Some(to) if allowed_logout(&state, client_id.as_deref(), to) => {
            let to = match &p.state {
                Some(s) => {
                    let sep = if to.contains('?') { '&' } else { '?' };
                    format!(
                        "{to}{sep}{}",
                        url::form_urlencoded::Serializer::new(String::new())
                            .append_pair("state", s)
                            .finish()
                    )
                }
                None => to.clone(),
            };
            redirect(&to)
        }
        Some(_) => {
            return pages::error(
                StatusCode::BAD_REQUEST,
                "Invalid logout URL",
                "The post_logout_redirect_uri is not in the client's Allowed Logout URLs.",
            );
        }
    };
    crate::audit::logout(&state, &peer, &headers, client_id.as_deref()).await;
    end_session(&state, &addr, &headers, r).await
}
