//! Writ's cookies — the SSO session, the login form's CSRF token, the admin console's session
//! and its sign-ins in progress — named and shaped in one place, so the pages that set them and
//! the code that reads them cannot drift apart.
//!
//! Every cookie is `HttpOnly` with `Path=/` and no `Domain`. It is `Secure` when the issuer is
//! https, or when the request reached Writ over https through a trusted proxy
//! ([`ClientAddr::https`]). On an https issuer its name carries the `__Host-` prefix, which
//! makes the browser refuse it unless it is Secure, host-only and for `/`: a sibling subdomain
//! or a plain-http page cannot plant or shadow it. The prefix depends on the issuer only, so a
//! cookie is read under the name it was set with.
//!
//! Cookies are read with axum-extra's [`CookieJar`]; they are written by [`set`] and [`clear`],
//! which spell out every attribute above.

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::Response;
use axum_extra::extract::CookieJar;

use crate::http::client_addr::ClientAddr;
use crate::state::AppState;

pub use writ_core::protocol::cookie::{
    CONSOLE_SESSION, CONSOLE_SIGN_IN_PREFIX, LOGIN_CSRF, SSO_SESSION,
};

/// `SameSite`: `Strict` for what only Writ's own pages post, `Lax` for what must survive a
/// top-level navigation from another site (the SSO session, the console's sign-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
}

fn https_issuer(state: &AppState) -> bool {
    state.config.issuer.starts_with("https://")
}

/// The name a cookie has on this server: `__Host-<base>` on https issuers, else `<base>`.
pub fn name(state: &AppState, base: &str) -> String {
    if https_issuer(state) {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// The value of the cookie `base` sent with a request, if any.
pub fn get(state: &AppState, headers: &HeaderMap, base: &str) -> Option<String> {
    from_jar(state, &CookieJar::from_headers(headers), base)
}

/// The value of the cookie `base` in a request's cookie jar, if any.
pub fn from_jar(state: &AppState, jar: &CookieJar, base: &str) -> Option<String> {
    jar.get(&name(state, base)).map(|c| c.value().to_owned())
}

/// Adds `Set-Cookie: base=value` to a response, expiring after `max_age` seconds when given (a
/// session cookie otherwise).
pub fn set(
    r: &mut Response,
    state: &AppState,
    addr: &ClientAddr,
    base: &str,
    value: &str,
    same_site: SameSite,
    max_age: Option<i64>,
) {
    let mut c = format!(
        "{}={value}; Path=/; HttpOnly; SameSite={}",
        name(state, base),
        match same_site {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
        }
    );
    if let Some(s) = max_age {
        c.push_str(&format!("; Max-Age={s}"));
    }
    if https_issuer(state) || addr.https {
        c.push_str("; Secure");
    }
    if let Ok(v) = HeaderValue::from_str(&c) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// Adds a `Set-Cookie` that deletes the cookie `base`.
pub fn clear(
    r: &mut Response,
    state: &AppState,
    addr: &ClientAddr,
    base: &str,
    same_site: SameSite,
) {
    set(r, state, addr, base, "", same_site, Some(0));
}
