//! Signing in to the console through Writ itself, and the checks every request passes.
//!
//! `GET` of any console page without a valid session starts an authorization-code + PKCE flow
//! for the `writ-admin-console` client and audience `{issuer}api/v2/` (the state, verifier and
//! page asked for wait in a short-lived cookie named after the state); `/admin/callback`
//! redeems the code under the token endpoint's rules ([`writ_service::console::redeem`], as the
//! console's public client) and opens a server-side console session
//! ([`writ_service::console`]): the cookie holds a random id, the store holds its SHA-256 with
//! the access token sealed under the key-encryption key. Logout deletes the session, and so do
//! the user's block, deletion or password change (in the same transaction): a copied cookie then
//! opens nothing. The token's `permissions` (the admin's roles on the Management API) decide
//! what each page allows, by the rule of [`writ_service::access`].
//!
//! Posted forms pass [`Post`]: the session, then the Origin (or Referer) of this server, then
//! the CSRF token of the session; anything else is refused with 403.

use axum::extract::{FromRequest, FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use writ_service::console::CodeRedemption;
use writ_service::crypto::random_token;
use writ_service::proxies::ClientAddr;
use writ_service::{Actor, Writ};

use super::form::FormData;
use super::http::{self, Client, SameSite};
use super::view::{self, Admin};

pub use writ_core::CONSOLE_CLIENT_ID;
use writ_core::protocol::cookie;
/// The session: an opaque id of a server-side console session.
pub const SESSION_COOKIE: &str = cookie::CONSOLE_SESSION;
/// A sign-in in progress: `writ_admin_tx_<state>` = `<verifier>.<return path, base64url>`.
const TX_PREFIX: &str = cookie::CONSOLE_SIGN_IN_PREFIX;

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

/// The admin of a request, from the session cookie (see [`writ_service::console::open`]).
async fn session(w: &Writ, parts: &Parts) -> Option<Admin> {
    let cookie = http::get_cookie(w, &parts.headers, SESSION_COOKIE)?;
    let s = writ_service::console::open(w, &cookie).await?;
    Some(Admin {
        csrf: csrf_for(&cookie),
        email: s.user.email,
        actor: Actor {
            client_id: Some(CONSOLE_CLIENT_ID.to_owned()),
            user_id: Some(s.claims.sub.clone()),
            peer: http::peer(parts),
        },
        claims: s.claims,
    })
}

/// Starts a sign-in that comes back to `return_to`.
fn start_sign_in(
    state: &Writ,
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
    http::set_cookie(
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
fn sign_in_for(state: &Writ, parts: &Parts) -> Response {
    let addr = Client::of_parts(parts);
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/admin".into());
    if parts.method == Method::GET || parts.method == Method::HEAD {
        return start_sign_in(state, &addr, &path, false, StatusCode::FOUND);
    }
    let ours = http::origin_of(&state.config.issuer);
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

impl FromRequestParts<Writ> for Admin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Writ) -> Result<Self, Response> {
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
fn same_origin(state: &Writ, headers: &HeaderMap) -> bool {
    let ours = http::origin_of(&state.config.issuer);
    match headers
        .get(header::ORIGIN)
        .map(|o| o.to_str().unwrap_or(""))
    {
        Some(o) => o == ours,
        None => headers
            .get(header::REFERER)
            .and_then(|r| r.to_str().ok())
            .is_some_and(|r| http::origin_of(r) == ours),
    }
}

impl FromRequest<Writ> for Post {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Writ) -> Result<Self, Response> {
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
                writ_service::audit::console_refused(
                    state,
                    &http::peer(&parts),
                    parts.method.as_str(),
                    parts.uri.path(),
                    &admin.claims.sub,
                )
                .await;
                Err(refused())
            }
        }
    }
}

/// The one thing a console URL names (`/admin/roles/{id}`), loaded for the signed-in admin:
/// with the read permission its page needs, else the page of the refusal or of its absence.
pub trait Load: Sized {
    fn load(
        s: &Writ,
        admin: &Admin,
        id: &str,
    ) -> impl Future<Output = Result<Self, Response>> + Send;
}

/// A posted form about the thing the URL's `{id}` names: the admin (as [`Post`] checks them),
/// the form, and the thing.
pub struct On<T>(pub Admin, pub FormData, pub T);

impl<T: Load> FromRequest<Writ> for On<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &Writ) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let Path(id) = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let Post { admin, form } =
            Post::from_request(Request::from_parts(parts, body), state).await?;
        let it = T::load(state, &admin, &id).await?;
        Ok(On(admin, form, it))
    }
}

/// A page of the thing the URL's `{id}` names, for the signed-in admin: the admin, the thing,
/// and the URL's query.
pub struct Seen<T>(pub Admin, pub T, pub Option<String>);

impl<T: Load> FromRequestParts<Writ> for Seen<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &Writ) -> Result<Self, Response> {
        let admin = Admin::from_request_parts(parts, state).await?;
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let it = T::load(state, &admin, &id).await?;
        Ok(Seen(admin, it, parts.uri.query().map(str::to_owned)))
    }
}

/// Implements [`Load`] for `$t`: `$get` reads it by id, under the read permission `$perm`, and
/// the not-found page calls it `$what`.
macro_rules! loads {
    ($t:ty, $perm:literal, $what:literal, $get:path) => {
        impl $crate::auth::Load for $t {
            async fn load(
                s: &writ_service::Writ,
                admin: &$crate::view::Admin,
                id: &str,
            ) -> Result<Self, axum::response::Response> {
                admin.need(&[$perm])?;
                admin.found($what, $get(s, id).await)
            }
        }
    };
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
    State(state): State<Writ>,
    Client(addr): Client,
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
    State(state): State<Writ>,
    Client(addr): Client,
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
    let Some((verifier, ret)) = http::get_cookie(&state, &headers, &tx_name).and_then(|v| {
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
        match open_session(&state, addr, code, verifier).await {
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
                http::set_cookie(
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
    http::clear_cookie(&mut r, &state, &addr, &tx_name, SameSite::Lax);
    r
}

/// Redeems the code and opens a console session for the admin: returns the session's cookie
/// value and its lifetime (see [`writ_service::console::start`]).
async fn open_session(
    state: &Writ,
    addr: ClientAddr,
    code: String,
    verifier: String,
) -> Result<(String, i64), String> {
    let issued = writ_service::console::redeem(
        state,
        CodeRedemption {
            ip: addr.ip,
            code,
            redirect_uri: format!("{}admin/callback", state.config.issuer),
            code_verifier: verifier,
        },
    )
    .await?;
    writ_service::console::start(state, &issued).await
}

/// `POST /admin/logout`: ends the console session and Writ's SSO session.
pub async fn logout(
    State(state): State<Writ>,
    Client(addr): Client,
    headers: HeaderMap,
    post: Post,
) -> Response {
    let _ = post.form;
    // The session ends on the server: a copy of the cookie opens nothing from now on.
    if let Some(cookie) = http::get_cookie(&state, &headers, SESSION_COOKIE) {
        writ_service::console::end(&state, &cookie).await;
    }
    let issuer = &state.config.issuer;
    let to = format!(
        "/v2/logout?client_id={}&returnTo={}",
        view::enc(CONSOLE_CLIENT_ID),
        view::enc(&format!("{issuer}admin/signed-out"))
    );
    let mut r = view::see_other(&to);
    http::clear_cookie(&mut r, &state, &addr, SESSION_COOKIE, SameSite::Strict);
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
