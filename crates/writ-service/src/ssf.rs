//! OpenID Shared Signals Framework (SSF 1.0) transmitter with CAEP events: systems other than
//! Writ's own guard and gate (a SIEM, another identity system, a SaaS) receive Writ's changes
//! as standard Security Event Tokens (RFC 8417).
//!
//! - Receivers are OAuth clients of Writ holding the [`SCOPE`] scope on the Management API's
//!   audience; each stream belongs to the client that created it and is invisible to others.
//! - Events: `token-claims-change` when a user's or a machine client's effective permissions
//!   change, `session-revoked` on logout, block, delete and password change or reset,
//!   `credential-change` on password and MFA changes, and the SSF `verification` and
//!   `stream-updated` events. Subjects are RFC 9493 identifiers in the top-level `sub_id`
//!   claim (`iss_sub`, or `email` where the stream asks for it), as the CAEP Interoperability
//!   Profile does; each event carries `event_timestamp` and `initiating_entity`.
//! - Durability: permission changes are derived from the authz event log (already written in
//!   the transaction of the change) by [`spawn`]'s deriver, which advances its cursor in the
//!   transaction that queues the SETs; logouts and MFA changes are signals (`ssf_signals`)
//!   written in the transaction of their change, which the deriver deletes in the transaction
//!   that queues their SETs. No event is lost to a crash between a change and its SETs, and
//!   signing or fanning out never blocks or fails the write. Queued SETs
//!   live in the per-stream outbox (`ssf_outbox`) until delivered: pushed (RFC 8935) by one
//!   node under a lease, with exponential backoff, or polled (RFC 8936) and acknowledged.
//!   Paused streams keep their events; disabled streams drop them.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use writ_core::SigningAlg;
use writ_store::{Page, SsfNewSet, SsfQueued, SsfStream, StoreError};

use crate::Writ;

/// The scope a receiver's access token (Management API audience) must carry.
pub const SCOPE: &str = "manage:ssf_streams";
/// The JOSE `typ` of every SET.
pub const SET_TYP: &str = "secevent+jwt";
/// Push delivery (RFC 8935).
pub const PUSH: &str = "urn:ietf:rfc:8935";
/// Poll delivery (RFC 8936).
pub const POLL: &str = "urn:ietf:rfc:8936";

/// CAEP: a subject's claims (permissions, roles, groups) changed.
pub const TOKEN_CLAIMS_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/token-claims-change";
/// CAEP: the subject's sessions were ended.
pub const SESSION_REVOKED: &str =
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked";
/// CAEP: a credential was created, changed or removed.
pub const CREDENTIAL_CHANGE: &str =
    "https://schemas.openid.net/secevent/caep/event-type/credential-change";
/// SSF: the answer to a verification request.
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
/// SSF: the stream's status changed.
pub const STREAM_UPDATED: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";

/// The event types a stream may request.
pub const EVENTS_SUPPORTED: [&str; 3] = [TOKEN_CLAIMS_CHANGE, SESSION_REVOKED, CREDENTIAL_CHANGE];

/// Streams one receiver may hold.
pub const MAX_STREAMS_PER_CLIENT: i64 = 20;
/// How long a node holds a claimed SET before another may push it (longer than one push may
/// take, [`PUSH_TIMEOUT`]).
const LEASE_MS: i64 = 15_000;
/// SETs claimed at once.
const BATCH: i64 = 20;
/// The first retry's delay; each next one doubles, up to [`MAX_BACKOFF_MS`].
pub const FIRST_BACKOFF_MS: i64 = 1_000;
pub const MAX_BACKOFF_MS: i64 = 300_000;
/// The longest a pusher or deriver waits before looking again (events of other nodes).
const SAFETY_POLL: Duration = Duration::from_secs(1);
/// One push's time limit.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// Poll delivery: the most SETs one answer carries, and the longest a long poll waits.
pub const MAX_EVENTS: i64 = 100;
pub const LONG_POLL: Duration = Duration::from_secs(15);
/// The least time between two verification requests of a stream (its configuration's
/// `min_verification_interval`); a sooner one is refused (429), so a receiver cannot make
/// Writ sign and send SETs as fast as it can ask.
pub const MIN_VERIFICATION_INTERVAL: Duration = Duration::from_secs(10);
/// Authz events read at once by the deriver.
const DERIVE_PAGE: i64 = 200;

/// Wakes pushers and long polls of this process when SETs were queued.
static QUEUED: LazyLock<tokio::sync::Notify> = LazyLock::new(tokio::sync::Notify::new);
/// Wakes the deriver of this process when a write stored signals.
static SIGNALLED: LazyLock<tokio::sync::Notify> = LazyLock::new(tokio::sync::Notify::new);

/// What a receiver did wrong, or what went wrong here.
#[derive(Debug, thiserror::Error)]
pub enum SsfError {
    #[error("{0}")]
    Invalid(String),
    #[error("stream not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    /// A verification request sooner than [`MIN_VERIFICATION_INTERVAL`] after the last one.
    #[error("verification requested too often: wait {} seconds", MIN_VERIFICATION_INTERVAL.as_secs())]
    TooSoon,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for SsfError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => SsfError::Conflict(m),
            StoreError::NotFound(_) => SsfError::NotFound,
            other => SsfError::Internal(other.to_string()),
        }
    }
}

type Result<T> = std::result::Result<T, SsfError>;

fn invalid(m: impl Into<String>) -> SsfError {
    SsfError::Invalid(m.into())
}

fn url(w: &Writ, path: &str) -> String {
    format!("{}{path}", w.config.issuer)
}

/// The transmitter configuration metadata (`/.well-known/ssf-configuration`).
pub fn metadata(w: &Writ) -> Value {
    json!({
        "spec_version": "1_0",
        "issuer": w.config.issuer.trim_end_matches('/'),
        "jwks_uri": url(w, ".well-known/jwks.json"),
        "delivery_methods_supported": [PUSH, POLL],
        "configuration_endpoint": url(w, "ssf/streams"),
        "status_endpoint": url(w, "ssf/status"),
        "add_subject_endpoint": url(w, "ssf/subjects/add"),
        "remove_subject_endpoint": url(w, "ssf/subjects/remove"),
        "verification_endpoint": url(w, "ssf/verify"),
        "critical_subject_members": [],
        "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
        "default_subjects": "ALL",
    })
}

/// The `iss` of every SET and of the metadata (the issuer without its trailing slash, as the
/// SSF examples write it; `iss_sub` subjects use the same value).
fn iss(w: &Writ) -> String {
    w.config.issuer.trim_end_matches('/').to_owned()
}

// ---------------------------------------------------------------------------------------------
// Stream configuration

/// The receiver-supplied part of a stream configuration, as a create, update or replace
/// request carries it.
#[derive(Debug, Default, Deserialize)]
pub struct StreamRequest {
    pub stream_id: Option<String>,
    pub delivery: Option<DeliveryRequest>,
    pub events_requested: Option<Vec<String>>,
    pub description: Option<String>,
    /// Writ's extension: the subject format of the stream's events, `iss_sub` (default) or
    /// `email`.
    pub format: Option<String>,
    /// Transmitter-supplied properties a receiver may echo back; ignored.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

#[derive(Debug, Deserialize)]
pub struct DeliveryRequest {
    pub method: String,
    pub endpoint_url: Option<String>,
    pub authorization_header: Option<String>,
}

/// The longest `description` and `authorization_header` accepted, in characters.
const MAX_TEXT: usize = 1000;

/// Validates `req` into (method, stored config, sealed auth header) for the stream `id`.
fn settle(w: &Writ, id: &str, req: &StreamRequest) -> Result<(String, Value, Option<Vec<u8>>)> {
    let delivery = req.delivery.as_ref();
    let method = delivery.map_or(POLL, |d| d.method.as_str());
    let mut config = Map::new();
    let mut sealed = None;
    match method {
        PUSH => {
            let d = delivery.ok_or_else(|| invalid("delivery is required"))?;
            let endpoint = d
                .endpoint_url
                .as_deref()
                .ok_or_else(|| invalid("delivery.endpoint_url is required for push delivery"))?;
            crate::webhooks::check_url(w, endpoint).map_err(|_| {
                invalid(
                    "delivery.endpoint_url must be an https URL (http only to 127.0.0.1, ::1 or \
                     localhost, unless WRIT_HOOK_ALLOW_HTTP=true)",
                )
            })?;
            config.insert("endpoint_url".into(), endpoint.into());
            if let Some(h) = &d.authorization_header {
                if h.len() > MAX_TEXT || h.chars().any(char::is_control) {
                    return Err(invalid(
                        "delivery.authorization_header is not a header value",
                    ));
                }
                sealed = Some(w.cipher.seal(id, h.as_bytes()));
            }
        }
        POLL => {
            if delivery.is_some_and(|d| d.endpoint_url.is_some()) {
                return Err(invalid(
                    "delivery.endpoint_url is supplied by the transmitter for poll delivery",
                ));
            }
        }
        other => {
            return Err(invalid(format!(
                "delivery.method {other} is not supported (use {PUSH} or {POLL})"
            )));
        }
    }
    let requested = req.events_requested.clone().unwrap_or_default();
    if requested.len() > 50 || requested.iter().any(|e| e.len() > 200) {
        return Err(invalid("events_requested is too long"));
    }
    config.insert("events_requested".into(), json!(requested));
    if let Some(d) = &req.description {
        if d.chars().count() > MAX_TEXT {
            return Err(invalid("description is too long"));
        }
        config.insert("description".into(), d.as_str().into());
    }
    match req.format.as_deref() {
        None | Some("iss_sub") => {}
        Some("email") => {
            config.insert("format".into(), "email".into());
        }
        Some(other) => {
            return Err(invalid(format!(
                "format {other} is not supported (iss_sub or email)"
            )));
        }
    }
    let method = if method == PUSH { "push" } else { "poll" };
    Ok((method.to_owned(), Value::Object(config), sealed))
}

/// The event types a stream delivers: those it requested that Writ supports.
fn delivered(s: &SsfStream) -> Vec<&'static str> {
    let requested = s.config["events_requested"].as_array();
    EVENTS_SUPPORTED
        .into_iter()
        .filter(|e| requested.is_some_and(|r| r.iter().any(|x| x == e)))
        .collect()
}

/// The stream configuration as SSF answers it (the authorization header is never shown).
pub fn view(w: &Writ, s: &SsfStream) -> Value {
    let endpoint = if s.method == "push" {
        s.config["endpoint_url"].clone()
    } else {
        url(w, &format!("ssf/poll/{}", s.id)).into()
    };
    let mut v = json!({
        "stream_id": s.id,
        "iss": iss(w),
        "aud": s.client_id,
        "events_supported": EVENTS_SUPPORTED,
        "events_requested": s.config["events_requested"],
        "events_delivered": delivered(s),
        "delivery": {
            "method": if s.method == "push" { PUSH } else { POLL },
            "endpoint_url": endpoint,
        },
        "min_verification_interval": MIN_VERIFICATION_INTERVAL.as_secs(),
    });
    for k in ["description", "format"] {
        if let Some(x) = s.config.get(k) {
            v[k] = x.clone();
        }
    }
    v
}

/// The stream `id` if it belongs to `owner` (another receiver's stream is not found).
pub async fn owned(w: &Writ, owner: &str, id: &str) -> Result<SsfStream> {
    match w.store.ssf_stream(id).await? {
        Some(s) if s.client_id == owner => Ok(s),
        _ => Err(SsfError::NotFound),
    }
}

/// Creates a stream for `owner` (the receiver's client id); enabled at once.
pub async fn create(w: &Writ, owner: &str, req: &StreamRequest) -> Result<Value> {
    let id = format!("ssf_{}", crate::crypto::random_alnum(20));
    let (method, config, auth_header) = settle(w, &id, req)?;
    let now = crate::time::now();
    let s = SsfStream {
        id,
        client_id: owner.to_owned(),
        method,
        config,
        auth_header,
        status: "enabled".into(),
        reason: None,
        created_at: now,
        updated_at: now,
    };
    w.store
        .create_ssf_stream(&s, MAX_STREAMS_PER_CLIENT)
        .await?;
    tracing::info!(stream = %s.id, client = %owner, method = %s.method, "SSF stream created");
    Ok(view(w, &s))
}

/// The streams of `owner`.
pub async fn list(w: &Writ, owner: &str) -> Result<Vec<Value>> {
    let all = w.store.ssf_streams(Some(owner)).await?;
    Ok(all.iter().map(|s| view(w, s)).collect())
}

/// Updates (`replace == false`: only the properties present) or replaces a stream's
/// receiver-supplied configuration.
pub async fn update(w: &Writ, owner: &str, req: &StreamRequest, replace: bool) -> Result<Value> {
    let id = req
        .stream_id
        .as_deref()
        .ok_or_else(|| invalid("stream_id is required"))?;
    let mut s = owned(w, owner, id).await?;
    let merged;
    let req = if replace {
        req
    } else {
        // Fill what the request leaves out from the stream as it is.
        let keep_push = req.delivery.is_none() && s.method == "push";
        merged = StreamRequest {
            stream_id: None,
            delivery: match &req.delivery {
                Some(d) => Some(DeliveryRequest {
                    method: d.method.clone(),
                    endpoint_url: d.endpoint_url.clone(),
                    authorization_header: d.authorization_header.clone(),
                }),
                None if keep_push => Some(DeliveryRequest {
                    method: PUSH.into(),
                    endpoint_url: s.config["endpoint_url"].as_str().map(str::to_owned),
                    authorization_header: None,
                }),
                None => None,
            },
            events_requested: req
                .events_requested
                .clone()
                .or_else(|| serde_json::from_value(s.config["events_requested"].clone()).ok()),
            description: req
                .description
                .clone()
                .or_else(|| s.config["description"].as_str().map(str::to_owned)),
            format: req
                .format
                .clone()
                .or_else(|| s.config["format"].as_str().map(str::to_owned)),
            other: Map::new(),
        };
        &merged
    };
    let keep_header = !replace
        && s.method == "push"
        && req
            .delivery
            .as_ref()
            .is_some_and(|d| d.method == PUSH && d.authorization_header.is_none());
    let (method, config, auth_header) = settle(w, &s.id, req)?;
    if !keep_header || auth_header.is_some() {
        s.auth_header = auth_header;
    }
    s.method = method;
    s.config = config;
    s.updated_at = crate::time::now();
    if !w.store.update_ssf_stream(&s).await? {
        return Err(SsfError::NotFound);
    }
    QUEUED.notify_waiters();
    Ok(view(w, &s))
}

/// Deletes a stream with its queued events.
pub async fn delete(w: &Writ, owner: &str, id: &str) -> Result<()> {
    owned(w, owner, id).await?;
    w.store.delete_ssf_stream(id).await?;
    tracing::info!(stream = %id, client = %owner, "SSF stream deleted");
    Ok(())
}

/// The stream's status object.
pub fn status_view(s: &SsfStream) -> Value {
    let mut v = json!({"stream_id": s.id, "status": s.status});
    if let Some(r) = &s.reason {
        v["reason"] = r.as_str().into();
    }
    v
}

/// Sets a stream's status (`enabled`, `paused`, `disabled`); a disabled stream drops what it
/// had queued, a paused one keeps it. The receiver gets a `stream-updated` event unless the
/// stream is now disabled.
pub async fn set_status(
    w: &Writ,
    owner: &str,
    id: &str,
    status: &str,
    reason: Option<&str>,
) -> Result<Value> {
    if !matches!(status, "enabled" | "paused" | "disabled") {
        return Err(invalid("status must be enabled, paused or disabled"));
    }
    if reason.is_some_and(|r| r.chars().count() > MAX_TEXT) {
        return Err(invalid("reason is too long"));
    }
    let mut s = owned(w, owner, id).await?;
    let changed = s.status != status;
    s.status = status.to_owned();
    s.reason = reason.map(str::to_owned);
    s.updated_at = crate::time::now();
    if !w.store.update_ssf_stream(&s).await? {
        return Err(SsfError::NotFound);
    }
    if changed && status != "disabled" {
        let mut event = json!({"status": status});
        if let Some(r) = reason {
            event["reason"] = r.into();
        }
        let set = sign_set(w, &s, None, STREAM_UPDATED, event, stream_subject(&s))?;
        w.store.ssf_enqueue(None, &[set], now_ms()).await?;
    }
    QUEUED.notify_waiters();
    tracing::info!(stream = %id, status, "SSF stream status changed");
    Ok(status_view(&s))
}

/// Resolves an RFC 9493 subject identifier to a Writ subject (a user id, or
/// `<client_id>@clients`); `None` for a well-formed identifier naming no one here.
async fn resolve(w: &Writ, subject: &Value) -> Result<Option<String>> {
    let field = |k: &str| subject.get(k).and_then(Value::as_str);
    match field("format") {
        Some("iss_sub") => {
            let (Some(i), Some(sub)) = (field("iss"), field("sub")) else {
                return Err(invalid("an iss_sub subject needs iss and sub"));
            };
            if i.trim_end_matches('/') != iss(w) {
                return Ok(None);
            }
            Ok(known(w, sub).await?.then(|| sub.to_owned()))
        }
        Some("opaque") => {
            let id = field("id").ok_or_else(|| invalid("an opaque subject needs id"))?;
            Ok(known(w, id).await?.then(|| id.to_owned()))
        }
        Some("email") => {
            let e = field("email").ok_or_else(|| invalid("an email subject needs email"))?;
            let users = w.store.users_by_email(e).await?;
            Ok(users.into_iter().next().map(|u| u.user_id))
        }
        Some(other) => Err(invalid(format!(
            "subject format {other} is not supported (iss_sub, email, opaque)"
        ))),
        None => Err(invalid("subject.format is required")),
    }
}

async fn known(w: &Writ, sub: &str) -> Result<bool> {
    if let Some(client) = sub.strip_suffix("@clients") {
        return Ok(w.catalog.load().clients.contains_key(client));
    }
    match w.store.get_user(sub).await {
        Ok(_) => Ok(true),
        Err(StoreError::NotFound(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Adds (`add`) or removes a subject of a stream. A subject naming no one here is accepted
/// and ignored (the answer never tells a receiver who exists).
pub async fn subject(w: &Writ, owner: &str, id: &str, subject: &Value, add: bool) -> Result<()> {
    let s = owned(w, owner, id).await?;
    if !subject.is_object() {
        return Err(invalid("subject must be a subject identifier object"));
    }
    if let Some(who) = resolve(w, subject).await? {
        w.store.set_ssf_subject(&s.id, &who, add).await?;
    }
    Ok(())
}

/// Queues a verification event carrying the receiver's `state`; [`SsfError::TooSoon`] within
/// [`MIN_VERIFICATION_INTERVAL`] of the stream's last one.
pub async fn verify(w: &Writ, owner: &str, id: &str, state: Option<&str>) -> Result<()> {
    let s = owned(w, owner, id).await?;
    if state.is_some_and(|x| x.len() > MAX_TEXT) {
        return Err(invalid("state is too long"));
    }
    let mut event = json!({});
    if let Some(st) = state {
        event["state"] = st.into();
    }
    let interval = i64::try_from(MIN_VERIFICATION_INTERVAL.as_millis()).unwrap_or(i64::MAX);
    if !w.store.ssf_verification_due(id, now_ms(), interval).await? {
        return Err(SsfError::TooSoon);
    }
    let set = sign_set(w, &s, None, VERIFICATION, event, stream_subject(&s))?;
    w.store.ssf_enqueue(None, &[set], now_ms()).await?;
    QUEUED.notify_waiters();
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Security Event Tokens

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The subject of stream-level events: the stream itself.
fn stream_subject(s: &SsfStream) -> Value {
    json!({"format": "opaque", "id": s.id})
}

/// Signs one SET for stream `s` with Writ's current RS256 key.
fn sign_set(
    w: &Writ,
    s: &SsfStream,
    txn: Option<&str>,
    event_type: &str,
    event: Value,
    sub_id: Value,
) -> Result<SsfNewSet> {
    let jti = crate::crypto::random_alnum(24);
    let mut events = Map::new();
    events.insert(event_type.to_owned(), event);
    let mut claims = json!({
        "iss": iss(w),
        "jti": jti,
        "iat": crate::time::now(),
        "aud": s.client_id,
        "sub_id": sub_id,
        "events": events,
    });
    if let Some(t) = txn {
        claims["txn"] = t.into();
    }
    let ring = w.keys.load();
    let signer = ring
        .signer(SigningAlg::RS256)
        .ok_or_else(|| SsfError::Internal("no RS256 signing key".into()))?;
    let set = signer
        .sign(SET_TYP, &claims)
        .map_err(|e| SsfError::Internal(e.to_string()))?;
    Ok(SsfNewSet {
        jti,
        stream_id: s.id.clone(),
        set,
    })
}

/// Something that happened to a subject, before it becomes one SET per stream: `subject` is a
/// user id or `<client_id>@clients`, `event` the event's claims without `event_timestamp`
/// (added from `at`).
pub type Signal = writ_store::SsfSignal;

/// The subject identifier of `who` for stream `s`.
fn sub_id(w: &Writ, s: &SsfStream, who: &str, email: Option<&str>) -> Value {
    match (s.config["format"].as_str(), email) {
        (Some("email"), Some(e)) => json!({"format": "email", "email": e}),
        _ => json!({"format": "iss_sub", "iss": iss(w), "sub": who}),
    }
}

/// Whether stream `s` carries events about `who`.
fn covers(s: &SsfStream, who: &str, subjects: &HashMap<(String, String), bool>) -> bool {
    subjects
        .get(&(s.id.clone(), who.to_owned()))
        .copied()
        .unwrap_or(true)
}

/// One SET per stream that wants `signals`' events about their subjects.
async fn fan_out(w: &Writ, signals: &[Signal]) -> Result<Vec<SsfNewSet>> {
    if signals.is_empty() {
        return Ok(Vec::new());
    }
    let streams: Vec<SsfStream> = w
        .store
        .ssf_streams(None)
        .await?
        .into_iter()
        .filter(|s| s.status != "disabled")
        .collect();
    if streams.is_empty() {
        return Ok(Vec::new());
    }
    let subjects: HashMap<(String, String), bool> = w
        .store
        .ssf_subjects()
        .await?
        .into_iter()
        .map(|x| ((x.stream_id, x.user_id), x.included))
        .collect();
    let wants_email = streams.iter().any(|s| s.config["format"] == "email");
    let mut emails: HashMap<String, Option<String>> = HashMap::new();
    let mut out = Vec::new();
    for sig in signals {
        if wants_email && !emails.contains_key(&sig.subject) {
            let e = if sig.subject.ends_with("@clients") {
                None
            } else {
                w.store.get_user(&sig.subject).await.ok().map(|u| u.email)
            };
            emails.insert(sig.subject.clone(), e);
        }
        let email = emails.get(&sig.subject).cloned().flatten();
        let mut event = sig.event.clone();
        event["event_timestamp"] = sig.at.into();
        for s in &streams {
            if !delivered(s).contains(&sig.event_type.as_str())
                || !covers(s, &sig.subject, &subjects)
            {
                continue;
            }
            let sub = sub_id(w, s, &sig.subject, email.as_deref());
            out.push(sign_set(
                w,
                s,
                Some(&sig.txn),
                &sig.event_type,
                event.clone(),
                sub,
            )?);
        }
    }
    Ok(out)
}

fn reason(text: &str) -> Value {
    json!({"en": text})
}

/// A signal about `subject` now, with a fresh `txn`.
fn signal(subject: &str, event_type: &str, event: Value) -> Signal {
    Signal {
        txn: crate::crypto::random_alnum(16),
        subject: subject.to_owned(),
        event_type: event_type.to_owned(),
        event,
        at: crate::time::now(),
    }
}

/// The signal of a logout that ended the user's session; written with the session's deletion
/// (see [`signalled`]).
pub fn logged_out(user_id: &str) -> Signal {
    signal(
        user_id,
        SESSION_REVOKED,
        json!({"initiating_entity": "user", "reason_user": reason("Logged out")}),
    )
}

/// CAEP's `credential_type` of an authenticator of `kind` (`totp`: `app`; `passkey`:
/// `fido2-platform`, the common case of a passkey, since the authenticator's attachment is not
/// kept).
pub fn credential_type(kind: &str) -> &'static str {
    match kind {
        "passkey" => "fido2-platform",
        _ => "app",
    }
}

/// The signal of a second factor of `kind` (see [`credential_type`]) enrolled (`create`) or
/// removed (`delete`) (`admin`: by an administrator, else by the user); written with that
/// change (see [`signalled`]).
pub fn mfa_changed(user_id: &str, kind: &str, change_type: &str, admin: bool) -> Signal {
    signal(
        user_id,
        CREDENTIAL_CHANGE,
        json!({
            "credential_type": credential_type(kind),
            "change_type": change_type,
            "initiating_entity": if admin { "admin" } else { "user" },
        }),
    )
}

/// Wakes this node's deriver after a write stored signals (other nodes find them within
/// [`SAFETY_POLL`]).
pub fn signalled() {
    SIGNALLED.notify_one();
}

/// The claims of `who` a token carries now: per API its `permissions`, and the user's
/// effective `roles` and `groups` (paths).
async fn current_claims(w: &Writ, who: &str) -> Result<Option<Value>> {
    if let Some(client) = who.strip_suffix("@clients") {
        let catalog = w.catalog.load();
        if !catalog.clients.contains_key(client) {
            return Ok(None);
        }
        let permissions: BTreeMap<&String, &Vec<String>> = catalog
            .grants
            .get(client)
            .map(|g| g.iter().map(|(aud, grant)| (aud, &grant.scope)).collect())
            .unwrap_or_default();
        return Ok(Some(json!({"permissions": permissions})));
    }
    let perms = match crate::users::effective_permissions(w, who).await {
        Ok(p) => p,
        Err(crate::ServiceError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(SsfError::Internal(e.to_string())),
    };
    let permissions: BTreeMap<String, Vec<String>> = perms
        .into_iter()
        .map(|a| {
            (
                a.identifier,
                a.permissions.into_iter().map(|p| p.name).collect(),
            )
        })
        .collect();
    let roles: Vec<String> = w
        .store
        .effective_roles(who)
        .await?
        .into_iter()
        .map(|r| r.name)
        .collect();
    let groups: Vec<String> = w
        .store
        .user_groups(
            who,
            Page {
                page: 0,
                per_page: 1000,
            },
        )
        .await?
        .items
        .into_iter()
        .map(|g| g.path)
        .collect();
    Ok(Some(json!({
        "permissions": permissions,
        "roles": roles,
        "groups": groups,
    })))
}

/// The SETs' signals for the authz events of one page of the log.
async fn signals_of(w: &Writ, events: &[writ_store::AuthzEvent]) -> Result<Vec<Signal>> {
    let mut out = Vec::new();
    let mut claims: HashMap<String, Option<Value>> = HashMap::new();
    for e in events {
        let at = chrono::DateTime::parse_from_rfc3339(&e.at)
            .map(|t| t.timestamp())
            .unwrap_or_else(|_| crate::time::now());
        let txn = format!("authz-{}", e.seq);
        let signal = |event_type: &str, event| Signal {
            subject: e.subject.clone(),
            event_type: event_type.to_owned(),
            event,
            at,
            txn: txn.clone(),
        };
        match e.kind.as_str() {
            "user_deleted" => out.push(signal(
                SESSION_REVOKED,
                json!({"initiating_entity": "admin", "reason_admin": reason("User deleted")}),
            )),
            "user_blocked" => out.push(signal(
                SESSION_REVOKED,
                json!({"initiating_entity": "admin", "reason_admin": reason("User blocked")}),
            )),
            "password_changed" => {
                out.push(signal(
                    CREDENTIAL_CHANGE,
                    json!({
                        "credential_type": "password",
                        "change_type": "update",
                        "initiating_entity": "system",
                    }),
                ));
                out.push(signal(
                    SESSION_REVOKED,
                    json!({
                        "initiating_entity": "system",
                        "reason_admin": reason("Password changed or reset"),
                    }),
                ));
            }
            "client_deleted" => {}
            _ => {
                if !claims.contains_key(&e.subject) {
                    let c = current_claims(w, &e.subject).await?;
                    claims.insert(e.subject.clone(), c);
                }
                if let Some(Some(c)) = claims.get(&e.subject) {
                    out.push(signal(
                        TOKEN_CLAIMS_CHANGE,
                        json!({"initiating_entity": "admin", "claims": c}),
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Turns stored signals into queued SETs; `true` when it took some (there may be more).
async fn take_signals(w: &Writ) -> Result<bool> {
    let signals = w.store.ssf_signals(DERIVE_PAGE).await?;
    if signals.is_empty() {
        return Ok(false);
    }
    let sets = fan_out(w, &signals).await?;
    let txns: Vec<String> = signals.into_iter().map(|s| s.txn).collect();
    let took = w.store.ssf_take_signals(&txns, &sets, now_ms()).await?;
    if took && !sets.is_empty() {
        QUEUED.notify_waiters();
    }
    // Taken by another node or by this one: either way, look again.
    Ok(true)
}

/// Turns the authz events after the cursor into queued SETs; `true` when it moved the cursor.
async fn derive_once(w: &Writ) -> Result<bool> {
    let from = w.store.ssf_cursor().await?;
    let page = w.store.authz_events_after(from, DERIVE_PAGE).await?;
    if page.next <= from {
        return Ok(false);
    }
    let signals = signals_of(w, &page.events).await?;
    let sets = fan_out(w, &signals).await?;
    let moved = w
        .store
        .ssf_enqueue(Some((from, page.next)), &sets, now_ms())
        .await?;
    if moved && !sets.is_empty() {
        QUEUED.notify_waiters();
    }
    Ok(moved || w.store.ssf_cursor().await? != from)
}

// ---------------------------------------------------------------------------------------------
// Delivery

/// The delay before retry number `attempts` (1, 2, 4 … seconds, at most five minutes).
pub fn backoff_ms(attempts: i64) -> i64 {
    let exp = u32::try_from((attempts - 1).clamp(0, 20)).unwrap_or(20);
    FIRST_BACKOFF_MS
        .saturating_mul(1 << exp)
        .min(MAX_BACKOFF_MS)
}

/// What became of one push.
enum Pushed {
    /// 202 (or another 2xx): the receiver has it.
    Accepted,
    /// 400 with an RFC 8935 error body: the receiver refused this SET for good.
    Refused(String),
    /// Anything else: try again later.
    Failed(String),
}

async fn push_one(w: &Writ, s: &SsfStream, set: &str) -> Pushed {
    let http = match crate::webhooks::client() {
        Ok(c) => c,
        Err(e) => return Pushed::Failed(e),
    };
    let Some(endpoint) = s.config["endpoint_url"].as_str() else {
        return Pushed::Failed("the stream has no endpoint".into());
    };
    let mut req = http
        .post(endpoint)
        .timeout(PUSH_TIMEOUT)
        .header("content-type", "application/secevent+jwt")
        .header("accept", "application/json")
        .body(set.to_owned());
    if let Some(h) = s
        .auth_header
        .as_deref()
        .and_then(|sealed| w.cipher.open(&s.id, sealed))
        .and_then(|h| String::from_utf8(h).ok())
    {
        req = req.header("authorization", h);
    }
    match req.send().await {
        Err(e) => Pushed::Failed(format!("request failed: {}", e.without_url())),
        Ok(r) if r.status().is_success() => Pushed::Accepted,
        Ok(r) if r.status() == reqwest::StatusCode::BAD_REQUEST => {
            let bytes = r.bytes().await.unwrap_or_default();
            let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
            match body.get("err").and_then(Value::as_str) {
                Some(err) => Pushed::Refused(format!(
                    "{err}: {}",
                    body.get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                )),
                None => Pushed::Failed("400 without an error body".into()),
            }
        }
        Ok(r) => Pushed::Failed(format!("answered {}", r.status())),
    }
}

/// Pushes every due SET this node can claim; the wait until the next is due.
async fn push_due(w: &Writ, worker: &str) -> Duration {
    loop {
        let batch = match w
            .store
            .claim_ssf_push(worker, now_ms(), LEASE_MS, BATCH)
            .await
        {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "SSF: cannot claim events to push");
                return SAFETY_POLL;
            }
        };
        if batch.is_empty() {
            break;
        }
        let mut streams: HashMap<String, Option<SsfStream>> = HashMap::new();
        for q in batch {
            if *w.closing.borrow() {
                // Shutting down: hand what is left back at once rather than when the lease
                // ends, so another node (or this one restarted) pushes it without delay.
                let released = w
                    .store
                    .ssf_push_failed(&q.jti, worker, "the node shut down", now_ms())
                    .await;
                if let Err(e) = released {
                    tracing::warn!(error = %e, "SSF: cannot release a claimed SET");
                }
                continue;
            }
            if !streams.contains_key(&q.stream_id) {
                let s = w.store.ssf_stream(&q.stream_id).await.ok().flatten();
                streams.insert(q.stream_id.clone(), s);
            }
            let Some(Some(s)) = streams.get(&q.stream_id) else {
                continue;
            };
            deliver(w, worker, s, q).await;
        }
    }
    match w.store.next_ssf_due().await {
        Ok(Some(at)) => {
            let ms = (at - now_ms()).clamp(10, SAFETY_POLL.as_millis() as i64);
            Duration::from_millis(ms as u64)
        }
        _ => SAFETY_POLL,
    }
}

async fn deliver(w: &Writ, worker: &str, s: &SsfStream, q: SsfQueued) {
    let recorded = match push_one(w, s, &q.set).await {
        Pushed::Accepted => w.store.ssf_pushed(&q.jti, worker).await,
        Pushed::Refused(why) => {
            tracing::warn!(stream = %s.id, jti = %q.jti, error = %why, "SSF: the receiver refused a SET");
            w.store.ssf_pushed(&q.jti, worker).await
        }
        Pushed::Failed(why) => {
            tracing::info!(stream = %s.id, jti = %q.jti, attempts = q.attempts, error = %why, "SSF: push failed, will retry");
            let at = now_ms() + backoff_ms(q.attempts);
            w.store.ssf_push_failed(&q.jti, worker, &why, at).await
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(error = %e, "SSF: cannot record a push");
    }
}

/// Starts this node's deriver (authz log → SETs) and pusher; both end with the state.
pub fn spawn(w: &Writ) {
    let weak = w.downgrade();
    let mut head = w.authz_head.subscribe();
    let mut closing = w.closing.subscribe();
    tokio::spawn(async move {
        loop {
            let Some(w) = weak.upgrade() else { return };
            let more = match derive_once(&w).await {
                Ok(moved) => moved,
                Err(e) => {
                    tracing::warn!(error = %e, "SSF: cannot turn authz events into SETs");
                    false
                }
            };
            let more = more
                | match take_signals(&w).await {
                    Ok(took) => took,
                    Err(e) => {
                        tracing::warn!(error = %e, "SSF: cannot turn signals into SETs");
                        false
                    }
                };
            drop(w);
            if more {
                continue;
            }
            tokio::select! {
                _ = head.changed() => {}
                _ = SIGNALLED.notified() => {}
                _ = tokio::time::sleep(SAFETY_POLL) => {}
                _ = closing.changed() => return,
            }
        }
    });
    let weak = w.downgrade();
    let worker = format!("node-{}", crate::crypto::random_alnum(12));
    let mut closing = w.closing.subscribe();
    tokio::spawn(async move {
        loop {
            let notified = QUEUED.notified();
            let Some(w) = weak.upgrade() else { return };
            let wait = push_due(&w, &worker).await;
            drop(w);
            tokio::select! {
                _ = notified => {}
                _ = tokio::time::sleep(wait) => {}
                _ = closing.changed() => return,
            }
        }
    });
}

/// A poll request (RFC 8936).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollRequest {
    #[serde(default)]
    pub ack: Vec<String>,
    #[serde(default)]
    pub set_errs: Map<String, Value>,
    pub max_events: Option<i64>,
    #[serde(default)]
    pub return_immediately: bool,
}

/// Answers a poll of stream `id`: removes what it acknowledges (and what it reports errors
/// for), then returns up to `maxEvents` queued SETs (none for a paused stream), waiting for
/// some unless `returnImmediately`.
pub async fn poll(w: &Writ, owner: &str, id: &str, req: &PollRequest) -> Result<Value> {
    let s = owned(w, owner, id).await?;
    if s.method != "poll" {
        return Err(invalid("the stream does not use poll delivery"));
    }
    let mut ack = req.ack.clone();
    ack.extend(req.set_errs.keys().cloned());
    if ack.len() > 1000 {
        return Err(invalid("too many acknowledgements at once"));
    }
    let max = req.max_events.unwrap_or(MAX_EVENTS).clamp(0, MAX_EVENTS);
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    let mut first = true;
    loop {
        let notified = QUEUED.notified();
        let acked: &[String] = if first { &ack } else { &[] };
        first = false;
        let enabled = w
            .store
            .ssf_stream(id)
            .await?
            .is_some_and(|s| s.status == "enabled");
        let (sets, more) = if enabled && max > 0 {
            w.store.ssf_poll(id, acked, max).await?
        } else {
            w.store.ssf_poll(id, acked, 0).await?;
            (Vec::new(), false)
        };
        let done = !sets.is_empty() || req.return_immediately || max == 0;
        if done || tokio::time::Instant::now() >= deadline {
            let sets: Map<String, Value> = sets
                .into_iter()
                .map(|q| (q.jti, Value::String(q.set)))
                .collect();
            return Ok(json!({"sets": sets, "moreAvailable": more && enabled}));
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(left.min(SAFETY_POLL)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff_ms(1), 1_000);
        assert_eq!(backoff_ms(2), 2_000);
        assert_eq!(backoff_ms(4), 8_000);
        assert_eq!(backoff_ms(30), MAX_BACKOFF_MS);
    }

    #[test]
    fn caep_event_types_are_the_registered_ones() {
        const CAEP: &str = "https://schemas.openid.net/secevent/caep/event-type/";
        for e in EVENTS_SUPPORTED {
            assert!(e.starts_with(CAEP), "{e}");
        }
    }
}
