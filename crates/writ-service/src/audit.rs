//! The audit log: who did what, from where, with what outcome — Auth0's tenant logs. This is
//! the one place entries are built and appended ([`record`]); the HTTP edge says from where
//! ([`Peer`]) and what happened, never how an entry is stored.
//!
//! Recorded: every Management API write, console forms refused by the CSRF check, every
//! password login and its failure, authorization-code exchanges, reuse of a code or of a
//! rotated refresh token, sign-ups and logouts. Entries use Auth0's event type codes
//! ([`types`]) and are served in Auth0's shape by `GET /api/v2/logs`.
//!
//! Every entry is appended before the response goes out, so a client that reads the log right
//! after a write finds it there. A Management API write's entry rides the write's own
//! transaction ([`api_change`]): the two commit together or not at all. Any other entry is a
//! transaction of its own ([`record`]), and recording it never fails the request: a failed
//! append is logged with `tracing` and otherwise ignored. Entries never carry secrets: no
//! passwords, client secrets, tokens, codes, cookies or request bodies — only ids, names, the
//! method and path, and the outcome.
//!
//! Each entry appended is also written to the audit stream when one is configured
//! (`WRIT_AUDIT_STREAM`, see [`crate::audit_stream`]).
//!
//! Retention: [`prune`] deletes entries older than `WRIT_AUDIT_RETENTION_DAYS` (default 30),
//! run at start and then hourly by [`crate::retention`].

use std::net::IpAddr;

use serde_json::{Value, json};
use writ_store::{LogEntry, LogFilter, NewLogEntry, Page, Paged, StoreError};

use crate::Writ;

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
    /// A warning during a login or token request (here: an access token over the size
    /// limit, refused).
    pub const WARNING: &str = "w";
    /// Successful email verification (a verification link used).
    pub const SUCCESS_VERIFICATION_EMAIL: &str = "sv";
    /// Failed email verification (a link unknown, used or expired).
    pub const FAILED_VERIFICATION_EMAIL: &str = "fv";
    /// Successful password change (here: with a reset link).
    pub const SUCCESS_CHANGE_PASSWORD: &str = "scp";
    /// Failed password change (a reset link unknown, used or expired).
    pub const FAILED_CHANGE_PASSWORD: &str = "fcp";
    /// Successful password-reset request (the email is queued).
    pub const SUCCESS_CHANGE_PASSWORD_REQUEST: &str = "scpr";
    /// Failed password-reset request (no such user, or the email could not be queued).
    pub const FAILED_CHANGE_PASSWORD_REQUEST: &str = "fcpr";
}

/// The connection every Writ user belongs to (Auth0's default database connection).
const CONNECTION: &str = writ_core::DEFAULT_CONNECTION;

/// Where a request came from: the client's address (behind a trusted proxy, the real client's),
/// its user agent, and the channel it used. The HTTP edge builds it from the request.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    pub ip: Option<IpAddr>,
    pub user_agent: Option<String>,
    /// `details.request.channel` of Management API entries when set; otherwise `console` for
    /// calls with the admin console's tokens, `api` for the rest.
    pub channel: Option<&'static str>,
}

impl Peer {
    /// A peer at `ip` with this `User-Agent` (bounded: it is free text from the client).
    pub fn new(ip: IpAddr, user_agent: Option<&str>) -> Self {
        Peer {
            ip: Some(ip),
            user_agent: user_agent
                .filter(|v| !v.is_empty())
                .map(|v| v.chars().take(512).collect()),
            channel: None,
        }
    }
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
pub async fn record(state: &Writ, entry: Entry) {
    let e = filled(state, entry).await;
    match state
        .metrics
        .db("append_log", state.store.append_log(&e))
        .await
    {
        Ok(stored) => streamed(state, &stored),
        Err(err) => {
            tracing::warn!(error = %err, log_type = %e.log_type, "could not append to the audit log");
        }
    }
}

/// The entry as stored: dated now, with the client's name from the in-memory catalog and a
/// missing user name read from the store.
async fn filled(state: &Writ, entry: Entry) -> NewLogEntry {
    let mut e = entry.0;
    e.date.get_or_insert_with(crate::time::now_rfc3339);
    if e.client_name.is_none()
        && let Some(id) = &e.client_id
    {
        e.client_name = state.catalog.load().clients.get(id).map(|c| c.name.clone());
    }
    if e.user_name.is_none()
        && let Some(id) = &e.user_id
        && let Ok(u) = state.store.get_user(id).await
    {
        e.user_name = Some(u.email);
    }
    e
}

/// An entry appended: copied to the audit stream, if there is one (never blocking, never
/// failing).
fn streamed(state: &Writ, stored: &LogEntry) {
    state.audit_stream.send(stored);
}

/// Records an entry of type `ty` about `user`, from `peer` (second factors, passkeys).
pub async fn record_user(
    w: &Writ,
    peer: &Peer,
    user: &writ_core::User,
    ty: &str,
    description: &str,
) {
    let e = Entry::new(ty, description)
        .peer(peer)
        .user(&user.user_id)
        .user_name(&user.email);
    record(w, e).await;
}

/// Where a password login came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The hosted login page (`POST /u/login`).
    LoginPage,
    /// The resource owner password grant at `POST /oauth/token`.
    PasswordGrant,
    /// A passkey on the hosted login page (passwordless, `POST /u/passkey/login`).
    Passkey,
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
    state: &Writ,
    via: Via,
    peer: &Peer,
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
        LoginOutcome::Failed(None) if via == Via::Passkey => {
            (types::FAILED_LOGIN_USERNAME, "Passkey not accepted.", None)
        }
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
        Via::Passkey => json!({ "prompt": "login", "strategy": "passkey" }),
    };
    let mut e = Entry::new(ty, desc)
        .peer(peer)
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
    state: &Writ,
    peer: &Peer,
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
        .peer(peer)
        .client(client_id)
        .user(user_id)
        .details(details);
    if let Some(name) = user_name {
        e = e.user_name(name);
    }
    record(state, e).await;
}

/// Records a sign-up on the hosted login page.
pub async fn signup(state: &Writ, peer: &Peer, client_id: &str, user: &writ_core::User) {
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
pub async fn console_refused(state: &Writ, peer: &Peer, method: &str, path: &str, user_id: &str) {
    let details = json!({
        "request": { "method": method, "path": path, "channel": "console" },
        "response": { "statusCode": 403, "errorCode": "csrf_check_failed" },
    });
    record(
        state,
        Entry::new(
            types::FAILED_API_OPERATION,
            "Console form refused: not sent from the console, or without its CSRF token",
        )
        .peer(peer)
        .client(writ_core::CONSOLE_CLIENT_ID)
        .user(user_id)
        .details(details),
    )
    .await;
}

/// Records the logout (`slo`) of `user_id` from `client_id` (named only when it exists).
pub async fn logout(state: &Writ, peer: &Peer, user_id: &str, client_id: Option<&str>) {
    let mut e = Entry::new(types::SUCCESS_LOGOUT, "Successful logout")
        .peer(peer)
        .user(user_id);
    if let Some(c) = client_id.filter(|c| state.catalog.load().clients.contains_key(*c)) {
        e = e.client(c);
    }
    record(state, e).await;
}

// ---------------------------------------------------------------------------------------------
// Management API writes

/// A Management API write, as its audit entry names it: the method and the route template of
/// the equivalent `/api/v2` call (the console's changes are recorded under them too), the path
/// with its ids, and the status a success answers.
#[derive(Debug, Clone)]
pub struct Operation {
    pub method: String,
    /// The route template under `/api/v2`, e.g. `/roles/{id}`.
    pub route: String,
    /// The path under `/api/v2` with its ids, e.g. `/roles/rol_1`.
    pub path: String,
    /// 200, 201 or 204.
    pub success: u16,
}

impl Operation {
    /// An operation on `route` at `path` (both under `/api/v2`).
    pub fn new(method: &str, route: &str, path: String, success: u16) -> Self {
        Operation {
            method: method.to_owned(),
            route: route.to_owned(),
            path,
            success,
        }
    }

    /// An operation on `route` whose path is the route with `{id}` standing for `id`.
    pub fn at(method: &str, route: &str, id: &str, success: u16) -> Self {
        Operation::new(method, route, route.replace("{id}", id), success)
    }
}

/// A description of a Management API write, from its method and route.
pub fn describe(method: &str, route: &str) -> String {
    let r = route.strip_prefix("/api/v2").unwrap_or(route);
    let d = match (method, r) {
        ("POST", "/resource-servers") => "Create a resource server",
        ("PATCH", "/resource-servers/{id}") => "Update a resource server",
        ("DELETE", "/resource-servers/{id}") => "Delete a resource server",
        ("POST", "/roles") => "Create a role",
        ("PATCH", "/roles/{id}") => "Update a role",
        ("DELETE", "/roles/{id}") => "Delete a role",
        ("POST", "/roles/{id}/permissions") => "Add permissions to a role",
        ("DELETE", "/roles/{id}/permissions") => "Remove permissions from a role",
        ("POST", "/roles/{id}/users") => "Assign users to a role",
        ("POST", "/groups") => "Create a group",
        ("PATCH", "/groups/{id}") => "Update a group",
        ("DELETE", "/groups/{id}") => "Delete a group",
        ("POST", "/groups/{id}/members") => "Add members to a group",
        ("DELETE", "/groups/{id}/members") => "Remove members from a group",
        ("POST", "/groups/{id}/roles") => "Assign roles to a group",
        ("DELETE", "/groups/{id}/roles") => "Remove roles from a group",
        ("POST", "/users") => "Create a user",
        ("PATCH", "/users/{id}") => "Update a user",
        ("DELETE", "/users/{id}") => "Delete a user",
        ("POST", "/users/{id}/roles") => "Assign roles to a user",
        ("DELETE", "/users/{id}/roles") => "Remove roles from a user",
        ("POST", "/users/{id}/permissions") => "Assign permissions to a user",
        ("DELETE", "/users/{id}/permissions") => "Remove permissions from a user",
        ("DELETE", "/users/{id}/authentication-methods") => {
            "Delete a user's authentication methods"
        }
        ("DELETE", "/users/{id}/authentication-methods/{authentication_method_id}") => {
            "Delete a user's authentication method"
        }
        ("POST", "/jobs/users-imports") => "Import users",
        ("POST", "/jobs/verification-email") => "Send a verification email",
        ("POST", "/tickets/email-verification") => "Create an email verification ticket",
        ("POST", "/tickets/password-change") => "Create a password change ticket",
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
        ("POST", "/actions/actions") => "Create an action",
        ("PATCH", "/actions/actions/{id}") => "Update an action",
        ("DELETE", "/actions/actions/{id}") => "Delete an action",
        ("POST", "/actions/actions/{id}/deploy") => "Deploy an action",
        ("PATCH", "/actions/triggers/{triggerId}/bindings") => "Update a trigger's bindings",
        ("PUT", "/keys/signing/{kid}/revoke") => "Revoke a signing key",
        _ => return format!("{method} /api/v2{r}"),
    };
    d.to_owned()
}

/// Records a Management API write's outcome (`sapi`, or `fapi` with the error's code), by
/// `actor`; a refusal before the write is recorded the same way by whoever refused it.
pub async fn api_write(
    state: &Writ,
    actor: Option<&crate::Actor>,
    op: &Operation,
    outcome: Result<(), (u16, &str)>,
) {
    record(state, api_entry(actor, op, outcome)).await;
}

/// Runs `change`, a Management API write by `actor`, and records it as `op`: the `sapi` entry
/// rides the change's own write transaction (`writ_store::riding`), so the change and its
/// entry commit together, and a crash cannot keep one without the other. A change that fails
/// is recorded `fapi` on its own; a change no transaction carried (made of lone statements) is
/// recorded after it. A change that failed after a transaction of it committed keeps that
/// transaction's `sapi` entry and gets the `fapi` one too: both happened.
pub(crate) async fn api_change<T>(
    state: &Writ,
    actor: &crate::Actor,
    op: &Operation,
    change: impl Future<Output = crate::Result<T>>,
) -> crate::Result<T> {
    let entry = filled(state, api_entry(Some(actor), op, Ok(()))).await;
    let (result, landed) = writ_store::riding::with_entry(&entry, change).await;
    if let Some(stored) = &landed {
        streamed(state, stored);
    }
    match &result {
        Ok(_) if landed.is_some() => {}
        Ok(_) => record(state, Entry(entry)).await,
        Err(e) => {
            // The names already read for the success entry serve the failure's too.
            let mut failed = api_entry(Some(actor), op, Err((e.status(), e.code())));
            failed.0.user_name = entry.user_name;
            record(state, failed).await;
        }
    }
    result
}

/// The entry of a Management API write's outcome.
fn api_entry(
    actor: Option<&crate::Actor>,
    op: &Operation,
    outcome: Result<(), (u16, &str)>,
) -> Entry {
    let (ty, status, code) = match outcome {
        Ok(()) => (types::SUCCESS_API_OPERATION, op.success, None),
        Err((status, code)) => (types::FAILED_API_OPERATION, status, Some(code)),
    };
    let mut response = json!({ "statusCode": status });
    if let Some(code) = code {
        response["errorCode"] = json!(code);
    }
    let channel = actor.map_or("api", crate::Actor::channel);
    let details = json!({
        "request": {
            "method": &op.method,
            "path": format!("/api/v2{}", op.path),
            "channel": channel,
        },
        "response": response,
    });
    let mut e = Entry::new(ty, describe(&op.method, &op.route)).details(details);
    if let Some(a) = actor {
        e = e.peer(&a.peer);
        if let Some(c) = &a.client_id {
            e = e.client(c);
        }
        if let Some(u) = &a.user_id {
            e = e.user(u);
        }
    }
    e
}

// ---------------------------------------------------------------------------------------------
// Reading

/// A page of entries matching `filter`, newest first.
pub async fn list(state: &Writ, filter: &LogFilter, page: Page) -> crate::Result<Paged<LogEntry>> {
    Ok(state.store.list_logs(filter, page).await?)
}

/// One entry.
pub async fn get(state: &Writ, id: &str) -> crate::Result<LogEntry> {
    Ok(state.store.get_log(id).await?)
}

// ---------------------------------------------------------------------------------------------
// Retention

/// Deletes entries older than the retention period (`WRIT_AUDIT_RETENTION_DAYS`); returns how
/// many. Does nothing when the retention is 0 (keep everything).
pub async fn prune(state: &Writ) -> Result<u64, StoreError> {
    match state.config.audit_retention_days {
        0 => Ok(0),
        days => prune_older_than(state, days).await,
    }
}

/// Deletes entries older than `days` days; returns how many.
pub async fn prune_older_than(state: &Writ, days: u32) -> Result<u64, StoreError> {
    let cutoff = crate::time::now_utc() - chrono::Duration::days(i64::from(days));
    state.store.prune_logs(&crate::time::rfc3339(cutoff)).await
}
