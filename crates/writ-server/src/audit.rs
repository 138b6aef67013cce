//! The audit log: who did what, from where, with what outcome — Auth0's tenant logs.
//!
//! Recorded here: every Management API write (by a middleware on the `/api/v2` router, so the
//! admin console's changes, which run the same handlers in process, are recorded too), console
//! forms refused by the CSRF check, every password login and its failure, authorization-code
//! exchanges, reuse of a code or of a rotated refresh token, sign-ups and logouts. Entries use
//! Auth0's event type codes ([`types`]) and are served in Auth0's shape by `GET /api/v2/logs`
//! (see `mgmt::logs`).
//!
//! Recording never fails the request: [`record`] fills in display names and appends the entry
//! before the response goes out, so a client that reads the log right after a write finds it
//! there; a failed append is logged with `tracing` and otherwise ignored. The entry is its own
//! transaction, after the write's: a crash between the two loses the entry of a write whose
//! response was never sent. Entries never carry secrets: no passwords, client secrets, tokens,
//! codes, cookies or request bodies — only ids, names, the method and path, and the outcome.
//!
//! Retention: [`prune`] deletes entries older than `WRIT_AUDIT_RETENTION_DAYS` (default 30),
//! run at start and then hourly by [`crate::retention`].

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};
use writ_guard::AccessClaims;
use writ_store::{NewLogEntry, StoreError};

use crate::client_addr::ClientAddr;
use crate::state::AppState;

/// Auth0's log event type codes used by Writ.
pub mod types {
    /// Successful login.
    pub const SUCCESS_LOGIN: &str = "s";
    /// Failed login (for a reason other than the credentials, e.g. a blocked user).
    pub const FAILED_LOGIN: &str = "f";
    /// Failed login: wrong password.
    pub const FAILED_LOGIN_PASSWORD: &str = "fp";
    /// Failed login: unknown email or username.
    pub const FAILED_LOGIN_USERNAME: &str = "fu";
    /// Blocked account: too many failed logins for one user from one IP.
    pub const BLOCKED_ACCOUNT: &str = "limit_wc";
    /// Successful sign-up.
    pub const SUCCESS_SIGNUP: &str = "ss";
    /// Successful logout.
    pub const SUCCESS_LOGOUT: &str = "slo";
    /// Successful exchange of an authorization code for tokens.
    pub const SUCCESS_CODE_EXCHANGE: &str = "seacft";
    /// Failed exchange of an authorization code (here: a reused code).
    pub const FAILED_CODE_EXCHANGE: &str = "feacft";
    /// Failed exchange of a rotating refresh token (here: reuse detected).
    pub const FAILED_ROTATING_REFRESH: &str = "ferrt";
    /// Successful Management API operation.
    pub const SUCCESS_API_OPERATION: &str = "sapi";
    /// Failed Management API operation.
    pub const FAILED_API_OPERATION: &str = "fapi";
}

/// The connection every Writ user belongs to (Auth0's default database connection).
const CONNECTION: &str = writ_core::DEFAULT_CONNECTION;

/// Where a request came from: the peer address, its user agent, and the channel it used.
///
/// As an extractor it reads the client's address ([`ClientAddr`]: the real client behind a
/// trusted proxy) and the `User-Agent` header, unless an in-process caller (the admin console)
/// attached a `Peer` extension describing the browser request it acts for.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// `details.request.channel` of Management API entries when set; otherwise `console` for
    /// calls with the admin console's tokens, `api` for the rest.
    pub channel: Option<&'static str>,
}

impl Peer {
    /// The peer of a request with this address and these headers.
    pub fn new(ip: IpAddr, headers: &HeaderMap) -> Self {
        Peer {
            ip: Some(ip),
            user_agent: user_agent(headers),
            channel: None,
        }
    }

    /// The admin console acting for the browser request with `parts`: attach the result as an
    /// extension of the in-process Management API request.
    pub fn console(parts: &Parts) -> Self {
        Peer {
            channel: Some("console"),
            ..Self::of_parts(parts)
        }
    }

    fn of_parts(parts: &Parts) -> Self {
        if let Some(p) = parts.extensions.get::<Peer>() {
            return p.clone();
        }
        Peer {
            ip: ClientAddr::of_parts(parts).map(|a| a.ip),
            user_agent: user_agent(&parts.headers),
            channel: None,
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Peer::of_parts(parts))
    }
}

/// The `User-Agent` header, bounded (it is free text from the client).
fn user_agent(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(|v| v.chars().take(512).collect())
}

/// An audit log entry being built; hand it to [`record`].
///
/// ```ignore
/// audit::record(&state, audit::Entry::new(audit::types::SUCCESS_API_OPERATION, "Create a role")
///     .peer(&peer).client("ops").details(json!({ "request": { "method": "POST", "path": "/api/v2/roles" } })))
///     .await;
/// ```
#[derive(Debug, Clone)]
pub struct Entry(NewLogEntry);

impl Entry {
    /// An entry of an Auth0 event type ([`types`]) with a human description.
    pub fn new(log_type: &str, description: impl Into<String>) -> Self {
        Entry(NewLogEntry {
            log_type: log_type.to_owned(),
            description: description.into(),
            details: json!({}),
            ..Default::default()
        })
    }

    /// From where: address and user agent.
    pub fn peer(mut self, p: &Peer) -> Self {
        self.0.ip = p.ip.map(|ip| ip.to_string());
        self.0.user_agent = p.user_agent.clone();
        self
    }

    /// The client (application) involved; its name is filled in from the catalog.
    pub fn client(mut self, client_id: &str) -> Self {
        self.0.client_id = Some(client_id.to_owned());
        self
    }

    /// The user involved; the name (their email) is looked up when not given.
    pub fn user(mut self, user_id: &str) -> Self {
        self.0.user_id = Some(user_id.to_owned());
        self
    }

    /// The user name as typed or known (an email), e.g. for a login with an unknown user.
    pub fn user_name(mut self, name: &str) -> Self {
        self.0.user_name = Some(name.to_owned());
        self
    }

    /// The connection (Writ has one: `Username-Password-Authentication`).
    pub fn connection(mut self, c: &str) -> Self {
        self.0.connection = Some(c.to_owned());
        self
    }

    /// Event-specific data (a JSON object). Never put secrets here.
    pub fn details(mut self, d: Value) -> Self {
        self.0.details = d;
        self
    }

    /// The entry as the store takes it.
    pub fn into_inner(self) -> NewLogEntry {
        self.0
    }
}

/// Records an entry: appended before this returns, so once a request has been answered its
/// entry is in the log. Never fails: an append that fails is logged with `tracing` and the
/// request goes on. The entry is dated now; the client name comes from the in-memory catalog;
/// a missing user name is read from the store.
pub async fn record(state: &AppState, entry: Entry) {
    let mut e = entry.0;
    // Dated now, as it is recorded.
    e.date.get_or_insert_with(|| {
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    });
    if e.client_name.is_none()
        && let Some(id) = &e.client_id
    {
        e.client_name = state.catalog.load().clients.get(id).map(|c| c.name.clone());
    }
    let store = &state.store;
    if e.user_name.is_none()
        && let Some(id) = &e.user_id
        && let Ok(u) = store.get_user(id).await
    {
        e.user_name = Some(u.email);
    }
    if let Err(err) = store.append_log(&e).await {
        tracing::warn!(error = %err, log_type = %e.log_type, "could not append to the audit log");
    }
}

/// Where a password login came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The hosted login page (`POST /u/login`).
    LoginPage,
    /// The resource owner password grant at `POST /oauth/token`.
    PasswordGrant,
}

/// How a password login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome<'a> {
    /// `s`: the user (this id) is signed in.
    Success(&'a str),
    /// `fp` when the email belongs to a user (this id), `fu` when it belongs to nobody.
    Failed(Option<&'a str>),
    /// `f`: right password, but the user (this id) is blocked.
    Blocked(&'a str),
    /// `limit_wc`: refused without checking, after too many failures for this user from this IP.
    TooManyAttempts,
}

/// Records a password login's outcome. `username` is what was typed (an email); the password
/// is never passed here.
pub async fn login(
    state: &AppState,
    via: Via,
    ip: IpAddr,
    headers: &HeaderMap,
    client_id: &str,
    username: &str,
    outcome: LoginOutcome<'_>,
) {
    let (ty, desc, user) = match outcome {
        LoginOutcome::Success(u) => (types::SUCCESS_LOGIN, "Successful login", Some(u)),
        LoginOutcome::Failed(Some(u)) => (
            types::FAILED_LOGIN_PASSWORD,
            "Wrong email or password.",
            Some(u),
        ),
        LoginOutcome::Failed(None) => (
            types::FAILED_LOGIN_USERNAME,
            "Wrong email or password.",
            None,
        ),
        LoginOutcome::Blocked(u) => (types::FAILED_LOGIN, "user is blocked", Some(u)),
        LoginOutcome::TooManyAttempts => (
            types::BLOCKED_ACCOUNT,
            "Too many failed login attempts for this user from this IP: logins are blocked for 15 minutes.",
            None,
        ),
    };
    let flow = match via {
        Via::LoginPage => json!({ "prompt": "login" }),
        Via::PasswordGrant => json!({ "grant_type": "password" }),
    };
    let mut e = Entry::new(ty, desc)
        .peer(&Peer::new(ip, headers))
        .client(client_id)
        .user_name(username)
        .connection(CONNECTION)
        .details(flow);
    if let Some(u) = user {
        e = e.user(u);
    }
    record(state, e).await;
}

/// A token-endpoint event worth recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exchange {
    /// `seacft`: an authorization code was exchanged for tokens.
    CodeExchanged,
    /// `feacft`: an already used code was presented again; the tokens it issued are revoked.
    CodeReused,
    /// `ferrt`: a rotated refresh token was reused; its whole family is revoked.
    RefreshReused,
}

/// Records a token exchange for `user_id` (whose email the caller may already have) by
/// `client_id`.
pub async fn exchange(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    client_id: &str,
    user_id: &str,
    user_name: Option<&str>,
    what: Exchange,
) {
    let (ty, desc, details) = match what {
        Exchange::CodeExchanged => (
            types::SUCCESS_CODE_EXCHANGE,
            "Authorization Code for Access Token",
            json!({ "grant_type": "authorization_code" }),
        ),
        Exchange::CodeReused => (
            types::FAILED_CODE_EXCHANGE,
            "Invalid authorization code",
            json!({ "grant_type": "authorization_code", "reason": "reused authorization code; the refresh tokens it issued were revoked" }),
        ),
        Exchange::RefreshReused => (
            types::FAILED_ROTATING_REFRESH,
            "Unknown or invalid refresh token.",
            json!({ "grant_type": "refresh_token", "reason": "reused rotating refresh token" }),
        ),
    };
    let mut e = Entry::new(ty, desc)
        .peer(&Peer::new(ip, headers))
        .client(client_id)
        .user(user_id)
        .details(details);
    if let Some(name) = user_name {
        e = e.user_name(name);
    }
    record(state, e).await;
}

/// Records a sign-up on the hosted login page.
pub async fn signup(state: &AppState, peer: &Peer, client_id: &str, user: &writ_core::User) {
    record(
        state,
        Entry::new(types::SUCCESS_SIGNUP, "Successful signup")
            .peer(peer)
            .client(client_id)
            .user(&user.user_id)
            .user_name(&user.email)
            .connection(CONNECTION),
    )
    .await;
}

/// Records a console form refused before it reached the Management API (`fapi`): posted from
/// another origin, or without the session's CSRF token. The signed-in admin is the user.
pub async fn console_refused(state: &AppState, parts: &Parts, user_id: &str) {
    let details = json!({
        "request": {
            "method": parts.method.as_str(),
            "path": parts.uri.path(),
            "channel": "console",
        },
        "response": { "statusCode": 403, "errorCode": "csrf_check_failed" },
    });
    record(
        state,
        Entry::new(
            types::FAILED_API_OPERATION,
            "Console form refused: not sent from the console, or without its CSRF token",
        )
        .peer(&Peer::console(parts))
        .client(writ_core::CONSOLE_CLIENT_ID)
        .user(user_id)
        .details(details),
    )
    .await;
}

/// Records a logout (`slo`) for the browser session in `headers`, if it has one; call it before
/// the session is deleted (it reads whose session it is).
pub async fn logout(state: &AppState, peer: &Peer, headers: &HeaderMap, client_id: Option<&str>) {
    let Some(cookie) = crate::cookies::get(state, headers, crate::cookies::SSO_SESSION) else {
        return;
    };
    let id = crate::crypto::sha256_hex(&cookie);
    let Ok(Some(s)) = state.store.get_session(&id).await else {
        return;
    };
    let mut e = Entry::new(types::SUCCESS_LOGOUT, "Successful logout")
        .peer(peer)
        .user(&s.user_id);
    if let Some(c) = client_id.filter(|c| state.catalog.load().clients.contains_key(*c)) {
        e = e.client(c);
    }
    record(state, e).await;
}

// ---------------------------------------------------------------------------------------------
// Management API writes

/// Hands the caller verified by the Management API's `Caller` extractor (and the state) to
/// [`mgmt_writes`], which records once the response is known. Present on write requests only.
#[derive(Clone, Default)]
pub struct CallerSlot(Arc<Mutex<Option<Called>>>);

/// What [`CallerSlot`] carries: the state, and the claims of a verified token.
type Called = (AppState, Option<AccessClaims>);

impl CallerSlot {
    /// Called by the extractor: the state, and the caller's claims when the token verified.
    pub fn fill(&self, state: &AppState, claims: Option<&AccessClaims>) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some((state.clone(), claims.cloned()));
        }
    }

    fn take(&self) -> Option<Called> {
        self.0.lock().ok()?.take()
    }
}

/// Middleware on the Management API router: records every request that is not a read (`sapi`
/// on success, `fapi` otherwise) after its response, with the caller, peer, method, path (never
/// the query or body) and status. Requests that reach no handler (unknown paths) are not
/// recorded.
pub async fn mgmt_writes(mut req: Request, next: Next) -> Response {
    let method = req.method().clone();
    if matches!(method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(req).await;
    }
    let slot = CallerSlot::default();
    req.extensions_mut().insert(slot.clone());
    let (parts, body) = req.into_parts();
    let peer = Peer::of_parts(&parts);
    let path = format!("/api/v2{}", parts.uri.path());
    let template = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned());
    let resp = next.run(Request::from_parts(parts, body)).await;
    let Some((state, claims)) = slot.take() else {
        return resp;
    };
    let status = resp.status();
    let (resp, error_code) = if status.is_success() {
        (resp, None)
    } else {
        error_code_of(resp).await
    };
    let description = describe(&method, template.as_deref().unwrap_or(&path));
    // The admin console calls these handlers in process with its signed-in admin's token.
    let channel = peer.channel.unwrap_or(match &claims {
        Some(c) if c.client_id == writ_core::CONSOLE_CLIENT_ID => "console",
        _ => "api",
    });
    let mut response = json!({ "statusCode": status.as_u16() });
    if let Some(code) = error_code {
        response["errorCode"] = json!(code);
    }
    let details = json!({
        "request": {
            "method": method.as_str(),
            "path": path,
            "channel": channel,
        },
        "response": response,
    });
    let ty = if status.is_success() {
        types::SUCCESS_API_OPERATION
    } else {
        types::FAILED_API_OPERATION
    };
    let mut e = Entry::new(ty, description).peer(&peer).details(details);
    if let Some(c) = &claims {
        e = e.client(&c.client_id);
        if !c.is_machine() {
            e = e.user(&c.sub);
        }
    }
    record(&state, e).await;
    resp
}

/// Reads Auth0's `errorCode` from an error response (a small JSON body), giving the response
/// back intact. Only the code is kept: messages may quote the request. Bodies of unknown or
/// large size are left alone.
async fn error_code_of(resp: Response) -> (Response, Option<String>) {
    use axum::body::HttpBody;
    const MAX: u64 = 64 * 1024;
    let small = resp.body().size_hint().upper().is_some_and(|n| n <= MAX);
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !small || !json {
        return (resp, None);
    }
    let (parts, body) = resp.into_parts();
    match axum::body::to_bytes(body, MAX as usize).await {
        Ok(bytes) => {
            let code = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v["errorCode"].as_str().map(str::to_owned));
            (Response::from_parts(parts, bytes.into()), code)
        }
        // Cannot happen within the size hint; keep the status and headers if it does.
        Err(_) => (Response::from_parts(parts, axum::body::Body::empty()), None),
    }
}

/// A description of a Management API write, from its method and route.
pub fn describe(method: &Method, route: &str) -> String {
    let r = route.strip_prefix("/api/v2").unwrap_or(route);
    let d = match (method.as_str(), r) {
        ("POST", "/resource-servers") => "Create a resource server",
        ("PATCH", "/resource-servers/{id}") => "Update a resource server",
        ("DELETE", "/resource-servers/{id}") => "Delete a resource server",
        ("POST", "/roles") => "Create a role",
        ("PATCH", "/roles/{id}") => "Update a role",
        ("DELETE", "/roles/{id}") => "Delete a role",
        ("POST", "/roles/{id}/permissions") => "Add permissions to a role",
        ("DELETE", "/roles/{id}/permissions") => "Remove permissions from a role",
        ("POST", "/roles/{id}/users") => "Assign users to a role",
        ("POST", "/users") => "Create a user",
        ("PATCH", "/users/{id}") => "Update a user",
        ("DELETE", "/users/{id}") => "Delete a user",
        ("POST", "/users/{id}/roles") => "Assign roles to a user",
        ("DELETE", "/users/{id}/roles") => "Remove roles from a user",
        ("POST", "/users/{id}/permissions") => "Assign permissions to a user",
        ("DELETE", "/users/{id}/permissions") => "Remove permissions from a user",
        ("POST", "/jobs/users-imports") => "Import users",
        ("POST", "/clients") => "Create a client",
        ("PATCH", "/clients/{id}") => "Update a client",
        ("DELETE", "/clients/{id}") => "Delete a client",
        ("POST", "/clients/{id}/rotate-secret") => "Rotate a client secret",
        ("POST", "/client-grants") => "Create a client grant",
        ("PATCH", "/client-grants/{id}") => "Update a client grant",
        ("DELETE", "/client-grants/{id}") => "Delete a client grant",
        ("DELETE", "/grants/{id}") => "Revoke a user's consent",
        ("DELETE", "/grants") => "Revoke a user's consents",
        ("POST", "/keys/signing/rotate") => "Rotate signing keys",
        ("PUT", "/keys/signing/{kid}/revoke") => "Revoke a signing key",
        _ => return format!("{method} /api/v2{r}"),
    };
    d.to_owned()
}

// ---------------------------------------------------------------------------------------------
// Retention

/// Deletes entries older than the retention period (`WRIT_AUDIT_RETENTION_DAYS`); returns how
/// many. Does nothing when the retention is 0 (keep everything).
pub async fn prune(state: &AppState) -> Result<u64, StoreError> {
    match state.config.audit_retention_days {
        0 => Ok(0),
        days => prune_older_than(state, days).await,
    }
}

/// Deletes entries older than `days` days; returns how many.
pub async fn prune_older_than(state: &AppState, days: u32) -> Result<u64, StoreError> {
    let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
    state
        .store
        .prune_logs(&cutoff.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_writes_by_route() {
        assert_eq!(
            describe(&Method::POST, "/api/v2/keys/signing/rotate"),
            "Rotate signing keys"
        );
        assert_eq!(describe(&Method::PATCH, "/roles/{id}"), "Update a role");
        assert_eq!(
            describe(&Method::POST, "/api/v2/somewhere"),
            "POST /api/v2/somewhere"
        );
    }

    #[test]
    fn peers_come_from_the_connection_or_an_extension() {
        let mut req = axum::http::Request::builder()
            .header(header::USER_AGENT, "curl/8")
            .body(())
            .unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [203, 0, 113, 9],
                4000,
            ))));
        let (parts, _) = req.into_parts();
        let p = Peer::of_parts(&parts);
        assert_eq!(p.ip, Some(IpAddr::from([203, 0, 113, 9])));
        assert_eq!(p.user_agent.as_deref(), Some("curl/8"));
        assert_eq!(p.channel, None);
        let console = Peer::console(&parts);
        assert_eq!(console.channel, Some("console"));
        let mut inner = axum::http::Request::builder().body(()).unwrap();
        inner.extensions_mut().insert(console);
        let (inner, _) = inner.into_parts();
        let p = Peer::of_parts(&inner);
        assert_eq!(p.ip, Some(IpAddr::from([203, 0, 113, 9])));
        assert_eq!(p.channel, Some("console"));
        // The client's address worked out by `client_addr` wins over the TCP peer.
        let mut req = axum::http::Request::builder().body(()).unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
                [127, 0, 0, 1],
                4000,
            ))));
        req.extensions_mut().insert(ClientAddr {
            ip: IpAddr::from([198, 51, 100, 7]),
            https: true,
        });
        let (parts, _) = req.into_parts();
        assert_eq!(
            Peer::of_parts(&parts).ip,
            Some(IpAddr::from([198, 51, 100, 7]))
        );
    }
}
