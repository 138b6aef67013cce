//! Protocol constants several crates share: the names of Writ's cookies, its built-in console
//! client, and the lifetimes of what the login and token endpoints issue. Kept here, below every
//! crate that uses them, so no crate reaches into another's modules for a name or a number.

/// The built-in first-party client the admin console signs in with (provisioned at start):
/// the only client that may obtain user tokens for the Management API.
pub const CONSOLE_CLIENT_ID: &str = "writ-admin-console";

/// Cookie names (their base: `__Host-` is prefixed on https issuers).
pub mod cookie {
    /// The SSO session of the hosted login (its value is the session token; the store keeps its
    /// hash).
    pub const SSO_SESSION: &str = "writ_session";
    /// The login, sign-up and consent forms' CSRF token (double-submitted with the form).
    pub const LOGIN_CSRF: &str = "writ_csrf";
    /// The admin console's session (an opaque id; the store keeps its hash).
    pub const CONSOLE_SESSION: &str = "writ_admin";
    /// A console sign-in in progress: this prefix followed by the sign-in's `state`.
    pub const CONSOLE_SIGN_IN_PREFIX: &str = "writ_admin_tx_";

    /// The name the cookie `base` has on a server with this issuer: `__Host-<base>` on https
    /// issuers (the browser then refuses it unless it is Secure, host-only and for `/`), else
    /// `<base>`. It depends on the issuer only, so a cookie is read under the name it was set
    /// with.
    pub fn name(issuer: &str, base: &str) -> String {
        if issuer.starts_with("https://") {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }

    /// Whether a cookie is `Secure`: on an https issuer, or when the client reached Writ over
    /// https through a trusted proxy.
    pub fn secure(issuer: &str, client_https: bool) -> bool {
        issuer.starts_with("https://") || client_https
    }
}

/// ID tokens live 10 hours, as Auth0's default.
pub const ID_TOKEN_LIFETIME: i64 = 36_000;
/// SSO sessions end after 3 days without use (Auth0's default).
pub const SESSION_IDLE: i64 = 3 * 24 * 3600;
/// SSO sessions end 7 days after the login, used or not (Auth0's default).
pub const SESSION_ABSOLUTE: i64 = 7 * 24 * 3600;
/// Authorization codes live 60 seconds.
pub const CODE_LIFETIME: i64 = 60;
