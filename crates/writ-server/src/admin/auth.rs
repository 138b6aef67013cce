//! Signing in to the console through Writ itself, and the checks every request passes.
//!
//! `GET` of any console page without a valid session starts an authorization-code + PKCE flow
//! for the `writ-admin-console` client and audience `{issuer}api/v2/` (the state, verifier and
//! page asked for wait in a short-lived cookie named after the state); `/admin/callback`
//! exchanges the code in process and opens a server-side console session: the cookie holds a
//! random id, the store holds its SHA-256 with the access token sealed under the key-encryption
//! key. Logout deletes the session, and so do the user's block, deletion or password change
//! (in the same transaction): a copied cookie then opens nothing. The token's `permissions`
//! (the admin's roles on the Management API) decide what each page allows.
//!
//! Posted forms pass [`Post`]: the session, then the Origin (or Referer) of this server, then
//! the CSRF token of the session; anything else is refused with 403.

use axum::extract::{FromRequest, FromRequestParts, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use writ_guard::AccessClaims;

use super::call::{self, Failure, Mgmt};
use super::form::FormData;
use super::view::{self, Layout};
use crate::http::client_addr::ClientAddr;
use crate::http::cookies::{self, SameSite};
use crate::state::AppState;
use writ_service::crypto::{random_token, sha256_hex};

pub use writ_core::CONSOLE_CLIENT_ID;
/// The session: an opaque id of a server-side console session (named and shaped by
/// [`crate::http::cookies`], like every cookie of Writ).
pub const SESSION_COOKIE: &str = cookies::CONSOLE_SESSION;
/// A sign-in in progress: `writ_admin_tx_<state>` = `<verifier>.<return path, base64url>`.
const TX_PREFIX: &str = cookies::CONSOLE_SIGN_IN_PREFIX;
const TX_LIFETIME: i64 = 600;

/// Where the console may send the admin back to: its own pages only.
fn safe_return(to: &str) -> String {
    let ok = (to == "/admin" || to.starts_with("/admin/") || to.starts_with("/admin?"))
        && !to.contains('\\')
        && !to.starts_with("/admin//")
        && !to.starts_with("/admin/callback")
        && !to.starts_with("/admin/login");
    if ok { to.to_owned() } else { "/admin".into() }
}

/// The CSRF token of a session: derived from the (secret, HttpOnly) session cookie, so a page
/// of another site can neither read nor compute it.
fn csrf_for(token: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"writ-admin-csrf\0");
    h.update(token.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&h.finalize()[..24])
}

/// The signed-in admin of a request.
pub struct Admin {
    pub claims: AccessClaims,
    pub email: String,
    pub csrf: String,
    token: String,
    mgmt: Mgmt,
    from: call::Origin,
}

impl Admin {
    pub fn can(&self, perm: &str) -> bool {
        self.claims.has_permission(perm)
    }

    /// `Err(403 page)` unless the token holds every one of `perms`.
    // The error is the page to answer with, returned at once: no need to box it.
    #[allow(clippy::result_large_err)]
    pub fn need(&self, perms: &[&str]) -> Result<(), Response> {
        let missing: Vec<&str> = perms.iter().copied().filter(|p| !self.can(p)).collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(view::forbidden(self, &missing))
        }
    }

    pub fn layout(&self, title: &str, section: &'static str) -> Layout {
        Layout {
            title: title.to_owned(),
            section,
            email: self.email.clone(),
            csrf: self.csrf.clone(),
            flash: None,
        }
    }

    /// A Management API call as this admin (see [`call::call`]).
    pub async fn api(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, Failure> {
        call::call(
            &self.mgmt,
            &self.token,
            &self.from,
            method,
            path,
            body.as_ref(),
        )
        .await
    }
}

/// Verifies the session cookie: an opaque id naming a live console session on the server,
/// whose sealed token is a valid Management API token from the console's client, for the
/// session's user, who still exists, is not blocked and whose permissions did not change since.
/// Logout, and the user's block, deletion or password change, delete the session: a copied
/// cookie then opens nothing.
async fn session(state: &AppState, parts: &Parts) -> Option<Admin> {
    let cookie = cookies::get(state, &parts.headers, SESSION_COOKIE)?;
    let id = sha256_hex(&cookie);
    let rec = state.store.get_console_session(&id).await.ok()??;
    if rec.expires_at <= chrono::Utc::now().timestamp() {
        let _ = state.store.delete_console_session(&id).await;
        return None;
    }
    let token = String::from_utf8(state.cipher.open(&id, &rec.token)?).ok()?;
    let claims = state.mgmt_verifier.verify(&token).ok()?;
    if claims.is_machine() || claims.client_id != CONSOLE_CLIENT_ID || claims.sub != rec.user_id {
        return None;
    }
    // Changed permissions: a fresh token (silently, through the SSO session) says what now.
    let user = crate::mgmt::current_user(state, &claims).await?;
    Some(Admin {
        csrf: csrf_for(&cookie),
        email: user.email,
        claims,
        token,
        mgmt: mgmt_of(parts),
        from: call::Origin {
            peer: ClientAddr::of_parts(parts),
            user_agent: parts.headers.get(header::USER_AGENT).cloned(),
        },
    })
}

/// Starts a sign-in that comes back to `return_to`.
fn start_sign_in(
    state: &AppState,
    addr: &ClientAddr,
    return_to: &str,
    force_login: bool,
    status: StatusCode,
) -> Response {
    let st = random_token(16);
    let verifier = random_token(48);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    let issuer = &state.config.issuer;
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.extend_pairs([
        ("response_type", "code"),
        ("client_id", CONSOLE_CLIENT_ID),
        ("redirect_uri", &format!("{issuer}admin/callback")),
        ("scope", "openid"),
        ("audience", &state.config.management_audience()),
        ("state", &st),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    if force_login {
        q.append_pair("prompt", "login");
    }
    let mut r = status.into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{issuer}authorize?{}", q.finish())) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    let ret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(safe_return(return_to));
    // Lax, not Strict: the callback arrives by a redirect that may have started on another site.
    cookies::set(
        &mut r,
        state,
        addr,
        &format!("{TX_PREFIX}{st}"),
        &format!("{verifier}.{ret}"),
        SameSite::Lax,
        Some(TX_LIFETIME),
    );
    r
}

/// Where a request without a session goes: the sign-in, then back to the page (for a form
/// post, to the page the form was on).
fn sign_in_for(state: &AppState, parts: &Parts) -> Response {
    let addr = ClientAddr::of_parts(parts).unwrap_or(ClientAddr {
        ip: std::net::Ipv4Addr::UNSPECIFIED.into(),
        https: false,
    });
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/admin".into());
    if parts.method == Method::GET || parts.method == Method::HEAD {
        return start_sign_in(state, &addr, &path, false, StatusCode::FOUND);
    }
    let ours = crate::http::origin_of(&state.config.issuer);
    let from = parts
        .headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .filter(|u| u.origin().ascii_serialization() == ours)
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        })
        .unwrap_or_else(|| "/admin".into());
    start_sign_in(state, &addr, &from, false, StatusCode::SEE_OTHER)
}

fn mgmt_of(parts: &Parts) -> Mgmt {
    parts
        .extensions
        .get::<Mgmt>()
        .cloned()
        .expect("the admin router adds the Mgmt extension")
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match session(state, parts).await {
            Some(a) => Ok(a),
            None => Err(sign_in_for(state, parts)),
        }
    }
}

/// A posted console form from a signed-in admin, with its origin and CSRF token checked.
pub struct Post {
    pub admin: Admin,
    pub form: FormData,
}

fn refused() -> Response {
    view::plain(
        StatusCode::FORBIDDEN,
        "Request refused",
        "This form was not sent from this console, or it expired. Go back, reload the page and try again.",
        Some(("/admin", "Back to the console")),
        None,
    )
}

/// The form came from a page of this server: `Origin` when sent, else `Referer`.
fn same_origin(state: &AppState, headers: &HeaderMap) -> bool {
    let ours = crate::http::origin_of(&state.config.issuer);
    match headers
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or(""))
    {
        Some(o) => o == ours,
        None => headers
            .get(header::REFERER)
            .and_then(|r| r.to_str().ok())
            .is_some_and(|r| crate::http::origin_of(r) == ours),
    }
}

impl FromRequest<AppState> for Post {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let admin = Admin::from_request_parts(&mut parts, state).await?;
        // Another origin's form is refused unread; a form without the session's token too.
        let form = if same_origin(state, &parts.headers) {
            match axum::body::to_bytes(body, 256 * 1024).await {
                Ok(bytes) => Some(FormData::parse(&bytes)),
                Err(_) => return Err(refused()),
            }
        } else {
            None
        };
        let token_ok = |f: &FormData| {
            let sent = f.get("csrf");
            !sent.is_empty() && bool::from(sent.as_bytes().ct_eq(admin.csrf.as_bytes()))
        };
        match form {
            Some(form) if token_ok(&form) => Ok(Post { admin, form }),
            _ => {
                crate::audit::console_refused(state, &parts, &admin.claims.sub).await;
                Err(refused())
            }
        }
    }
}

#[derive(Deserialize, Default)]
pub struct LoginQuery {
    #[serde(rename = "return")]
    return_to: Option<String>,
    prompt: Option<String>,
}

/// `GET /admin/login?return=/admin/users[&prompt=login]`: starts a sign-in explicitly (the
/// signed-out page, or "sign in as someone else" from a 403 page).
pub async fn login(
    State(state): State<AppState>,
    addr: ClientAddr,
    RawQuery(q): RawQuery,
) -> Response {
    let q: LoginQuery = serde_urlencoded::from_str(&q.unwrap_or_default()).unwrap_or_default();
    start_sign_in(
        &state,
        &addr,
        q.return_to.as_deref().unwrap_or("/admin"),
        q.prompt.as_deref() == Some("login"),
        StatusCode::FOUND,
    )
}

#[derive(Deserialize, Default)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

fn sign_in_failed(detail: &str) -> Response {
    view::plain(
        StatusCode::BAD_REQUEST,
        "Sign-in failed",
        detail,
        Some(("/admin/login", "Sign in again")),
        None,
    )
}

/// `GET /admin/callback`: exchanges the code (in process, as the console's public client with
/// its PKCE verifier) and keeps the access token as the session.
pub async fn callback(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let q: CallbackQuery = serde_urlencoded::from_str(&q.unwrap_or_default()).unwrap_or_default();
    let Some(st) = q.state.filter(|s| {
        !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }) else {
        return sign_in_failed("The sign-in response is missing its state.");
    };
    let tx_name = format!("{TX_PREFIX}{st}");
    let Some((verifier, ret)) = cookies::get(&state, &headers, &tx_name).and_then(|v| {
        let (v, r) = v.split_once('.')?;
        let r = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(r)
            .ok()?;
        Some((v.to_owned(), String::from_utf8(r).ok()?))
    }) else {
        return sign_in_failed(
            "This sign-in expired or was started in another browser. Start again.",
        );
    };
    let mut r = if let Some(e) = q.error {
        sign_in_failed(&format!(
            "Writ answered {e}: {}",
            q.error_description.unwrap_or_default()
        ))
    } else if let Some(code) = q.code {
        match exchange(&state, addr, &code, &verifier).await {
            Ok((session, expires_in)) => {
                let ret = safe_return(&ret);
                // A page that moves on by itself rather than a redirect: the Strict session
                // cookie is then sent even when the sign-in began with a link from elsewhere.
                let mut r = view::plain(
                    StatusCode::OK,
                    "Signed in",
                    "Opening the console…",
                    Some((&ret, "Continue")),
                    Some(&ret),
                );
                cookies::set(
                    &mut r,
                    &state,
                    &addr,
                    SESSION_COOKIE,
                    &session,
                    SameSite::Strict,
                    Some(expires_in),
                );
                r
            }
            Err(detail) => sign_in_failed(&detail),
        }
    } else {
        sign_in_failed("The sign-in response has no code.")
    };
    cookies::clear(&mut r, &state, &addr, &tx_name, SameSite::Lax);
    r
}

/// Exchanges the code and opens a console session for the admin: returns the session's cookie
/// value (random; the store keeps its SHA-256 and the access token sealed under the
/// key-encryption key, bound to that id) and its lifetime.
async fn exchange(
    state: &AppState,
    addr: ClientAddr,
    code: &str,
    verifier: &str,
) -> Result<(String, i64), String> {
    let req = crate::oauth::token::TokenRequest {
        grant_type: Some("authorization_code".into()),
        client_id: Some(CONSOLE_CLIENT_ID.into()),
        code: Some(code.to_owned()),
        redirect_uri: Some(format!("{}admin/callback", state.config.issuer)),
        code_verifier: Some(verifier.to_owned()),
        ..Default::default()
    };
    let resp =
        crate::oauth::token::authorization_code::grant(state, addr.ip, &HeaderMap::new(), &req)
            .await
            .map_err(|e| format!("The code exchange failed: {}", e.description))?;
    let bytes = axum::body::to_bytes(resp.into_body(), 1024 * 1024)
        .await
        .map_err(|_| "The token response could not be read.".to_string())?;
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let token = v["access_token"]
        .as_str()
        .ok_or("The token response has no access token.")?;
    let claims = state
        .mgmt_verifier
        .verify(token)
        .map_err(|e| format!("The console's access token does not verify: {e}"))?;
    let expires_in = v["expires_in"].as_i64().unwrap_or(3600).max(1);
    let cookie = random_token(32);
    let id = sha256_hex(&cookie);
    let now = chrono::Utc::now().timestamp();
    state
        .store
        .create_console_session(&writ_store::ConsoleSession {
            token: state.cipher.seal(&id, token.as_bytes()),
            id,
            user_id: claims.sub,
            created_at: now,
            expires_at: now + expires_in,
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "storing a console session");
            "The console session could not be stored.".to_string()
        })?;
    Ok((cookie, expires_in))
}

/// `POST /admin/logout`: ends the console session and Writ's SSO session.
pub async fn logout(
    State(state): State<AppState>,
    addr: ClientAddr,
    headers: HeaderMap,
    post: Post,
) -> Response {
    let _ = post.form;
    // The session ends on the server: a copy of the cookie opens nothing from now on.
    if let Some(cookie) = cookies::get(&state, &headers, SESSION_COOKIE)
        && let Err(e) = state
            .store
            .delete_console_session(&sha256_hex(&cookie))
            .await
    {
        tracing::error!(error = %e, "ending a console session");
    }
    let issuer = &state.config.issuer;
    let to = format!(
        "/v2/logout?client_id={}&returnTo={}",
        view::enc(CONSOLE_CLIENT_ID),
        view::enc(&format!("{issuer}admin/signed-out"))
    );
    let mut r = view::see_other(&to);
    cookies::clear(&mut r, &state, &addr, SESSION_COOKIE, SameSite::Strict);
    r
}

/// `GET /admin/signed-out`.
pub async fn signed_out() -> Response {
    view::plain(
        StatusCode::OK,
        "You are signed out",
        "Your console session and your Writ session have ended.",
        Some(("/admin/login", "Sign in again")),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_pages_are_return_targets() {
        assert_eq!(safe_return("/admin/users?q=a"), "/admin/users?q=a");
        assert_eq!(safe_return("/admin"), "/admin");
        for bad in [
            "https://evil.example/",
            "//evil.example",
            "/admin//evil.example",
            "/administrator",
            "/admin/callback?code=x",
            "/admin\\x",
        ] {
            assert_eq!(safe_return(bad), "/admin", "{bad}");
        }
    }

    #[test]
    fn csrf_is_bound_to_the_session() {
        assert_eq!(csrf_for("a"), csrf_for("a"));
        assert_ne!(csrf_for("a"), csrf_for("b"));
    }
}
